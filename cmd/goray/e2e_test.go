package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/goray/ray/internal/session"
)

// TestEndToEnd builds goray, starts a head and a second node in the
// background, asks for the status and stops them, all on loopback under a
// private temp dir.
func TestEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the goray binary")
	}
	dir, bin := buildGoray(t)
	root := filepath.Join(dir, "root")
	run := func(args ...string) (string, error) {
		cmd := exec.Command(bin, args...)
		cmd.Env = withEnv(withEnv(os.Environ(), envToken, ""), envAddress, "")
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		err := cmd.Run()
		return out.String(), err
	}
	t.Cleanup(func() {
		if out, err := run("stop", "--temp-dir", root, "--grace", "5s"); err != nil {
			t.Errorf("cleanup: goray stop: %v\n%s", err, out)
		}
	})

	out, err := run("start", "--head", "--port", "0", "--temp-dir", root, "--num-cpus", "1",
		"--object-store-memory", "67108864", "--start-timeout", "20s")
	if err != nil {
		t.Fatalf("goray start --head: %v\n%s", err, out)
	}
	m := regexp.MustCompile(`export GORAY_ADDRESS=(\S+)`).FindStringSubmatch(out)
	if m == nil || !strings.Contains(out, "goray runtime started") || !strings.Contains(out, `ray.Init(ctx, ray.Address("`+m[1]+`"))`) {
		t.Fatalf("start output lacks the address and next steps:\n%s", out)
	}
	addr := m[1]
	cf, err := session.ReadClusterFile(root, addr)
	if err != nil || len(cf.Token) != 32 || !session.Alive(cf.HeadPID) {
		t.Fatalf("cluster file for %s: %+v, %v", addr, cf, err)
	}
	if tok, err := os.ReadFile(filepath.Join(cf.SessionDir, "token")); err != nil || strings.TrimSpace(string(tok)) != cf.Token {
		t.Errorf("session token %q (%v), want the cluster's", tok, err)
	}

	// A node with the wrong token fails, and says why.
	if out, err := run("start", "--address", addr, "--temp-dir", root, "--token", "wrong",
		"--object-store-memory", "67108864", "--start-timeout", "20s"); err == nil || !strings.Contains(out, "exited before it was up") {
		t.Fatalf("goray start with a wrong token: %v\n%s", err, out)
	}

	// A second node joins, finding the token in the cluster file.
	if out, err := run("start", "--address", addr, "--temp-dir", root, "--num-cpus", "1",
		"--object-store-memory", "67108864", "--resources", `{"bob": 2}`, "--start-timeout", "20s"); err != nil {
		t.Fatalf("goray start --address: %v\n%s", err, out)
	}

	deadline := time.Now().Add(10 * time.Second)
	for {
		out, err = run("status", "--temp-dir", root)
		if err == nil && strings.Contains(out, " 2 alive, 0 dead") && strings.Contains(out, " 0.0/2.0 CPU") && strings.Contains(out, " 0.0/2.0 bob") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("goray status: %v\n%s", err, out)
		}
		time.Sleep(200 * time.Millisecond)
	}

	out, err = run("stop", "--temp-dir", root)
	if err != nil || !strings.Contains(out, "Stopped 2 goray node(s).") {
		t.Fatalf("goray stop: %v\n%s", err, out)
	}
	if recs, _ := session.NodeRecords(root); len(recs) != 0 {
		t.Errorf("node records left after stop: %+v", recs)
	}
	if _, err := session.ReadClusterFile(root, addr); err == nil {
		t.Error("cluster file left after stop")
	}
	if out, err := run("status", "--temp-dir", root); err == nil {
		t.Errorf("status after stop succeeded:\n%s", out)
	}
	if out, err := run("stop", "--temp-dir", root); err != nil || !strings.Contains(out, "no goray nodes running") {
		t.Errorf("second stop: %v\n%s", err, out)
	}
}
