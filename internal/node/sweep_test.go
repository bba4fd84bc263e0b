package node

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

func TestSweepStaleStores(t *testing.T) {
	base := t.TempDir()
	// A process that has exited: its pid is free.
	cmd := exec.Command("true")
	if err := cmd.Run(); err != nil {
		t.Skip("cannot run true:", err)
	}
	dead := filepath.Join(base, fmt.Sprintf("goray-aaaaaaaaaaaa-%d", cmd.Process.Pid))
	alive := filepath.Join(base, fmt.Sprintf("goray-bbbbbbbbbbbb-%d", os.Getppid()))
	other := filepath.Join(base, "not-goray-1")
	for _, d := range []string{dead, alive, other} {
		if err := os.MkdirAll(filepath.Join(d, "sub"), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	sweepStaleStores(base)
	if _, err := os.Stat(dead); !os.IsNotExist(err) {
		t.Fatalf("dead process's store kept: %v", err)
	}
	for _, d := range []string{alive, other} {
		if _, err := os.Stat(d); err != nil {
			t.Fatalf("%s removed: %v", d, err)
		}
	}
}
