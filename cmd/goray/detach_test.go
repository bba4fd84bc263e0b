package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestWaitNodeUpChildExits: a node process that dies at once is reported
// promptly, and stopping it afterwards does not hang.
func TestWaitNodeUpChildExits(t *testing.T) {
	cmd := exec.Command("sh", "-c", "exit 3")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	c := &childProc{p: cmd.Process, done: make(chan struct{})}
	go func() { c.err = cmd.Wait(); close(c.done) }()
	cfg := startConfig{Head: true, TempRoot: t.TempDir()}
	start := time.Now()
	_, err := waitNodeUp(context.Background(), cfg, "tok", c, 10*time.Second)
	if err == nil || !strings.Contains(err.Error(), "exited before it was up (exit status 3)") {
		t.Fatalf("err %v", err)
	}
	c.stop(cfg.TempRoot)
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("took %v", d)
	}
}

// TestWaitNodeUpTimeout: a node that never writes its record times out.
func TestWaitNodeUpTimeout(t *testing.T) {
	cmd := exec.Command(os.Args[0], "start", "--block")
	cmd.Env = append(os.Environ(), envSleeper+"=sleep")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	c := &childProc{p: cmd.Process, done: make(chan struct{})}
	go func() { c.err = cmd.Wait(); close(c.done) }()
	cfg := startConfig{Head: true, TempRoot: t.TempDir()}
	_, err := waitNodeUp(context.Background(), cfg, "tok", c, 300*time.Millisecond)
	if err == nil || !strings.Contains(err.Error(), "did not come up within 300ms: it wrote no node record") {
		t.Errorf("err %v", err)
	}
	c.stop(cfg.TempRoot)
	select {
	case <-c.done:
	default:
		t.Error("the child is still running after stop")
	}
}

func TestPrintLogTail(t *testing.T) {
	p := filepath.Join(t.TempDir(), "x.log")
	os.WriteFile(p, []byte("a\nb\nc\nd\n"), 0o600)
	var b strings.Builder
	printLogTail(&b, p, 2)
	if want := "---- last lines of " + p + " ----\nc\nd\n----\n"; b.String() != want {
		t.Errorf("got %q, want %q", b.String(), want)
	}
	b.Reset()
	printLogTail(&b, p+".missing", 2)
	if !strings.Contains(b.String(), "is empty") {
		t.Errorf("missing log: %q", b.String())
	}
}
