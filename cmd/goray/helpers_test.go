package main

import (
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/goray/ray/internal/ids"
	"github.com/goray/ray/internal/proto"
)

func nid(b byte) ids.NodeID {
	var n ids.NodeID
	for i := range n {
		n[i] = b
	}
	return n
}

func aid(b byte) ids.ActorID {
	var a ids.ActorID
	for i := range a {
		a[i] = b
	}
	return a
}

const gb = 1 << 30

func sampleStatus() *proto.ClusterStatus {
	return &proto.ClusterStatus{
		Nodes: []proto.NodeInfo{
			{NodeID: nid(0xbb), Addr: "127.0.0.1:40001", Alive: true, Labels: map[string]string{"zone": "b", "rack": "r1"},
				Total:     map[string]float64{"CPU": 4, "memory": 8 * gb, "bob": 5, "node:127.0.0.1": 1},
				Available: map[string]float64{"CPU": 2.5, "memory": 6 * gb, "bob": 3, "node:127.0.0.1": 1},
				StoreUsed: 512 << 20, StoreCapacity: 2 * gb, Workers: 2},
			{NodeID: nid(0xcc), Addr: "127.0.0.1:40002", Alive: false, DeathReason: "missed 5 health checks",
				Total: map[string]float64{"CPU": 8}, Available: map[string]float64{"CPU": 8}},
			{NodeID: nid(0xaa), Addr: "127.0.0.1:6379", IsHead: true, Alive: true,
				Total:     map[string]float64{"CPU": 2, "GPU": 1, "memory": 4 * gb},
				Available: map[string]float64{"CPU": 2, "GPU": 0.5, "memory": 4 * gb},
				StoreUsed: 3 << 20, StoreCapacity: 256 << 20, Workers: 0},
		},
		Demands: []proto.Demand{
			{Resources: map[string]float64{"GPU": 4}, Count: 1, Infeasible: true},
			{Resources: map[string]float64{"CPU": 1}, Count: 12},
			{Resources: map[string]float64{"CPU": 0.5, "memory": 2 * gb}, Count: 3},
		},
		Actors: []proto.ActorInfo{
			{ActorID: aid(0x22), State: proto.ActorDead, NumRestarts: 3, DeathCause: "worker crashed", TypeName: "main.Counter"},
			{ActorID: aid(0x11), State: proto.ActorAlive, Name: "counter", TypeName: "main.Counter", PID: 4242, NumRestarts: 1},
		},
	}
}

// buildGoray builds the goray binary into a fresh temp dir and returns the
// dir and the binary's path.
func buildGoray(t *testing.T) (dir, bin string) {
	t.Helper()
	dir = t.TempDir()
	bin = filepath.Join(dir, "goray")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return dir, bin
}
