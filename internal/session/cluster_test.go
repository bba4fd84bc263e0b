package session

import (
	"errors"
	"os"
	"testing"
	"time"
)

func TestClusterFiles(t *testing.T) {
	root := t.TempDir()
	if _, err := LatestCluster(root); !errors.Is(err, ErrNoCluster) {
		t.Fatalf("empty root: %v", err)
	}
	dead := ClusterFile{Address: "127.0.0.1:1", Token: "a", HeadPID: 1 << 30}
	live := ClusterFile{Address: "127.0.0.1:2", Token: "b", HeadPID: os.Getpid()}
	if err := WriteClusterFile(root, live); err != nil {
		t.Fatal(err)
	}
	time.Sleep(10 * time.Millisecond)
	if err := WriteClusterFile(root, dead); err != nil {
		t.Fatal(err)
	}
	cfs, err := ClusterFiles(root)
	if err != nil || len(cfs) != 2 || cfs[0].Address != dead.Address {
		t.Fatalf("ClusterFiles = %+v, %v (want newest first)", cfs, err)
	}
	// The newest cluster's head is dead: "auto" skips it.
	got, err := LatestCluster(root)
	if err != nil || got.Token != "b" {
		t.Fatalf("LatestCluster = %+v, %v", got, err)
	}
	cf, err := ReadClusterFile(root, "127.0.0.1:2")
	if err != nil || cf.Token != "b" {
		t.Fatalf("ReadClusterFile = %+v, %v", cf, err)
	}
	if err := RemoveClusterFile(root, "127.0.0.1:2"); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadClusterFile(root, "127.0.0.1:2"); !errors.Is(err, ErrNoCluster) {
		t.Fatalf("after remove: %v", err)
	}
	if fi, err := os.Stat(root + "/clusters"); err != nil || fi.Mode().Perm() != 0o700 {
		t.Fatalf("clusters dir mode: %v, %v", fi, err)
	}
}

func TestSocketDirIsShort(t *testing.T) {
	long := "/tmp/a-very-long-session-directory-name-that-goes-on-and-on/and-on/session_2026-11-25_23-59-59.999999_123456"
	if d := SocketDir(long); len(d)+len("/node-xxxxxxxxxxxx") > 107 {
		t.Fatalf("socket dir %q too long", d)
	}
	if d := SocketDir("/tmp/s"); d != "/tmp/s/sockets" {
		t.Fatalf("short session: %q", d)
	}
}
