package main

import (
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/goray/ray/internal/session"
)

// envSleeper makes the test binary a stand-in node process: it sleeps
// (ignoring SIGTERM if asked) until killed.
const envSleeper = "GORAY_CLI_TEST_SLEEPER"

func TestMain(m *testing.M) {
	switch os.Getenv(envSleeper) {
	case "":
		os.Exit(m.Run())
	case "ignore-term":
		signal.Ignore(syscall.SIGTERM)
	}
	time.Sleep(time.Minute)
	os.Exit(0)
}

// sleeper starts a process whose command line looks like a node's.
func sleeper(t *testing.T, mode string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(os.Args[0], "start", "--block")
	cmd.Env = append(os.Environ(), envSleeper+"="+mode)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	time.Sleep(100 * time.Millisecond) // let it install its signal handling
	return cmd
}

func TestStopNothingRunning(t *testing.T) {
	var out strings.Builder
	if err := stopNodes(&out, t.TempDir(), false, time.Second); err != nil {
		t.Fatal(err)
	}
	if out.String() != "no goray nodes running\n" {
		t.Errorf("output %q", out.String())
	}
}

func TestStopNodes(t *testing.T) {
	root := t.TempDir()
	polite, stubborn := sleeper(t, "sleep"), sleeper(t, "ignore-term")
	store := filepath.Join(root, "goray-abc-1")
	os.MkdirAll(store, 0o700)
	notStore := filepath.Join(root, "keep-me")
	os.MkdirAll(notStore, 0o700)
	head := session.NodeRecord{PID: polite.Process.Pid, NodeID: "aaaaaaaaaaaaaaaa", Address: "127.0.0.1:7000", Head: true, StoreDir: store}
	for _, r := range []session.NodeRecord{
		head,
		{PID: stubborn.Process.Pid, NodeID: "bbbbbbbbbbbbbbbb", Address: "127.0.0.1:7001", StoreDir: notStore},
		{PID: 1 << 30, NodeID: "cccccccccccccccc", Address: "127.0.0.1:7002"},                    // long gone
		{PID: os.Getpid(), NodeID: "dddddddddddddddd", Address: "127.0.0.1:7003", StoreDir: "/"}, // not a node
	} {
		if err := session.WriteNodeRecord(root, r); err != nil {
			t.Fatal(err)
		}
	}
	session.WriteClusterFile(root, session.ClusterFile{Address: head.Address, Token: "t", HeadPID: head.PID})
	session.WriteClusterFile(root, session.ClusterFile{Address: "127.0.0.1:7100", Token: "t", HeadPID: 1 << 30})

	var out strings.Builder
	start := time.Now()
	if err := stopNodes(&out, root, false, 300*time.Millisecond); err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	if d := time.Since(start); d > 4*time.Second {
		t.Errorf("stop took %v", d)
	}
	got := out.String()
	for _, want := range []string{
		"Stopped node aaaaaaaaaaaa (pid " + itoa(head.PID) + ", head, 127.0.0.1:7000).",
		"Node bbbbbbbbbbbb (pid " + itoa(stubborn.Process.Pid) + ") did not stop within 300ms: killing it.",
		"Stopped node bbbbbbbbbbbb",
		"Removed the record of node cccccccccccc (pid 1073741824), which was not running.",
		"Removed the record of node dddddddddddd (pid " + itoa(os.Getpid()) + "), which was not running.",
		"Removed the cluster file of 127.0.0.1:7100 (its head is gone).",
		"Stopped 2 goray node(s).",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("output lacks %q:\n%s", want, got)
		}
	}
	if recs, _ := session.NodeRecords(root); len(recs) != 0 {
		t.Errorf("records left: %+v", recs)
	}
	if _, err := session.ReadClusterFile(root, head.Address); err == nil {
		t.Error("the head's cluster file is left")
	}
	if _, err := os.Stat(store); !os.IsNotExist(err) {
		t.Errorf("store dir left: %v", err)
	}
	if _, err := os.Stat(notStore); err != nil {
		t.Errorf("a directory not named goray-* was removed: %v", err)
	}
	for _, c := range []*exec.Cmd{polite, stubborn} {
		if err := c.Wait(); err == nil {
			t.Errorf("pid %d exited cleanly; want killed by a signal", c.Process.Pid)
		}
	}
}

func TestSafeStoreDir(t *testing.T) {
	root := "/tmp/goray-root"
	for dir, want := range map[string]bool{
		"/dev/shm/goray-abc-12":                     true,
		filepath.Join(os.TempDir(), "goray-abc"):    true,
		filepath.Join(root, "goray-abc"):            true,
		"/dev/shm/other":                            false,
		"/dev/shm/x/goray-abc":                      false,
		"/home/u/goray-abc":                         false,
		"goray-abc":                                 false,
		"/dev/shm/goray-abc/../../etc":              false,
		filepath.Join(root, "session_1", "goray-x"): false,
		"/": false,
	} {
		if got := safeStoreDir(root, dir); got != want {
			t.Errorf("safeStoreDir(%q) = %v, want %v", dir, got, want)
		}
	}
}

func itoa(i int) string { return strconv.Itoa(i) }
