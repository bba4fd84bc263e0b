package node

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/goray/ray/internal/ids"
	"github.com/goray/ray/internal/proto"
	"github.com/goray/ray/internal/resources"
	"github.com/goray/ray/internal/rpc"
)

// TestMain doubles as a worker: it registers with the node using the hash
// in GORAY_TEST_HASH, then idles until the node closes the connection.
func TestMain(m *testing.M) {
	if isWorker, id, addr, token, _, _ := WorkerEnv(); isWorker {
		fmt.Println("hello from worker")
		c, err := rpc.Dial(context.Background(), addr, token, nil)
		if err != nil {
			os.Exit(2)
		}
		c.Call(context.Background(), proto.NodeRegisterWorker, proto.MustMarshal(&proto.RegisterWorker{
			WorkerID: id, PID: os.Getpid(), Addr: "unix:/nonexistent", RegistryHash: os.Getenv("GORAY_TEST_HASH"),
			Platform: platform(),
		}))
		<-c.Done()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// syncBuf is a goroutine-safe terminal stand-in.
type syncBuf struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuf) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuf) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func startNode(t *testing.T, hash string) (*Node, *rpc.Conn) {
	return startNodeOut(t, hash, nil)
}

func startNodeOut(t *testing.T, hash string, out *syncBuf) (*Node, *rpc.Conn) {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	res, _ := resources.FromFloats(map[string]float64{"CPU": 1})
	n, err := Start(Config{SessionDir: t.TempDir(), Resources: res, ObjectStoreMemory: 1 << 20,
		StoreDir: filepath.Join(t.TempDir(), "store"), Token: "tok", Executable: exe, RegistryHash: hash})
	if out != nil {
		n.cfg.Stdout = out
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Close() })
	c, err := rpc.Dial(context.Background(), n.Addr(), "tok", nil)
	if err != nil {
		t.Fatal(err)
	}
	return n, c
}

func TestLeaseGrantedToRegisteredWorker(t *testing.T) {
	t.Setenv("GORAY_TEST_HASH", "h1")
	out := &syncBuf{}
	n, c := startNodeOut(t, "h1", out)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	b, err := c.Call(ctx, proto.NodeRequestLease, proto.MustMarshal(&proto.LeaseRequest{RequestID: 1,
		Resources: map[string]float64{"CPU": 1}, Owner: ids.NewWorkerID()}))
	if err != nil {
		t.Fatal(err)
	}
	var g proto.LeaseGrant
	if err := proto.Unmarshal(b, &g); err != nil || g.WorkerPID == 0 || g.WorkerAddr != "unix:/nonexistent" {
		t.Fatalf("grant %+v, %v", g, err)
	}
	// The worker's output reaches the terminal prefixed with its pid, and
	// its log file.
	want := fmt.Sprintf("(pid=%d) hello from worker\n", g.WorkerPID)
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(out.String(), want) {
		if time.Now().After(deadline) {
			t.Fatalf("terminal got %q, want a line %q", out.String(), want)
		}
		time.Sleep(5 * time.Millisecond)
	}
	logs, _ := filepath.Glob(filepath.Join(n.cfg.SessionDir, "logs", fmt.Sprintf("worker-*-%d.out", g.WorkerPID)))
	if len(logs) != 1 {
		t.Fatalf("log files: %v", logs)
	}
	if b, _ := os.ReadFile(logs[0]); string(b) != "hello from worker\n" {
		t.Fatalf("log file has %q", b)
	}
}

func TestMismatchedWorkerFailsLeases(t *testing.T) {
	t.Setenv("GORAY_TEST_HASH", "other-binary")
	_, c := startNode(t, "driver-hash")
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	_, err := c.Call(ctx, proto.NodeRequestLease, proto.MustMarshal(&proto.LeaseRequest{RequestID: 1,
		Resources: map[string]float64{"CPU": 1}, Owner: ids.NewWorkerID()}))
	if err == nil || !strings.Contains(err.Error(), ErrRegistryMismatch.Error()) {
		t.Fatalf("want a registry mismatch, got %v", err)
	}
}

func TestBadRequestsAreRefused(t *testing.T) {
	_, c := startNode(t, "h")
	ctx := context.Background()
	for _, m := range []byte{proto.NodeRequestLease, proto.NodeStoreCreate, proto.GCSCreateActor, 200} {
		if _, err := c.Call(ctx, m, []byte{0xff, 0x00}); err == nil {
			t.Fatalf("method %d accepted garbage", m)
		}
	}
	if _, err := c.Call(ctx, proto.NodeRequestLease, proto.MustMarshal(&proto.LeaseRequest{Resources: map[string]float64{"CPU": -1}})); err == nil {
		t.Fatal("negative CPU request accepted")
	}
	// The node still serves.
	if _, err := c.Call(ctx, proto.NodeStatus, nil); err != nil {
		t.Fatal(err)
	}
}
