package main

import (
	"strings"
	"testing"

	"github.com/goray/ray/internal/proto"
)

func TestRenderStatus(t *testing.T) {
	cases := []struct {
		name string
		st   *proto.ClusterStatus
		want string
	}{
		{"empty", &proto.ClusterStatus{}, `Node status
------------------------------------------------------------
 (no nodes)

Resources
------------------------------------------------------------
Cluster usage:
 0.0/0.0 CPU
 0.0/0.0 GPU
 0.00/0.00 GiB memory
 0.00/0.00 MiB object_store_memory

Demands:
 (no resource demands)
`},
		{"full", sampleStatus(), `Node status
------------------------------------------------------------
 2 alive, 1 dead
 NODE          ADDRESS          ROLE    STATE                          LABELS
 aaaaaaaaaaaa  127.0.0.1:6379   head    alive
 bbbbbbbbbbbb  127.0.0.1:40001  worker  alive                          rack=r1,zone=b
 cccccccccccc  127.0.0.1:40002  worker  dead (missed 5 health checks)

Resources
------------------------------------------------------------
Cluster usage:
 1.5/6.0 CPU
 0.5/1.0 GPU
 2.00/12.00 GiB memory
 0.50/2.25 GiB object_store_memory
 2.0/5.0 bob

Node aaaaaaaaaaaa at 127.0.0.1:6379 (head; 0 worker processes):
 0.0/2.0 CPU
 0.5/1.0 GPU
 0.00/4.00 GiB memory
 3.00/256.00 MiB object_store_memory

Node bbbbbbbbbbbb at 127.0.0.1:40001 (worker; 2 worker processes):
 1.5/4.0 CPU
 0.0/0.0 GPU
 2.00/8.00 GiB memory
 0.50/2.00 GiB object_store_memory
 2.0/5.0 bob

Demands:
 {CPU: 0.5, memory: 2.00 GiB}: 3 pending tasks/actors
 {CPU: 1}: 12 pending tasks/actors
 {GPU: 4}: 1 pending tasks/actors (no node can ever fit)

Actors (2)
------------------------------------------------------------
 ACTOR         NAME     CLASS         STATE  RESTARTS  PID   DEATH CAUSE
 222222222222  -        main.Counter  DEAD   3         -     worker crashed
 111111111111  counter  main.Counter  ALIVE  1         4242
`},
		{"fractional and oversubscribed", &proto.ClusterStatus{
			Nodes: []proto.NodeInfo{{NodeID: nid(0x0f), Addr: "127.0.0.1:1234", IsHead: true, Alive: true,
				Total:     map[string]float64{"CPU": 1, "memory": gb / 2, "object_store_memory": 64 << 20},
				Available: map[string]float64{"CPU": -0.30000000000000004, "memory": gb / 4},
				StoreUsed: 0, StoreCapacity: 64 << 20, Workers: 3}},
			Demands: []proto.Demand{{Resources: map[string]float64{"CPU": 1.0 / 3}, Count: 2}},
		}, `Node status
------------------------------------------------------------
 1 alive, 0 dead
 NODE          ADDRESS         ROLE  STATE  LABELS
 0f0f0f0f0f0f  127.0.0.1:1234  head  alive

Resources
------------------------------------------------------------
Cluster usage:
 1.3/1.0 CPU
 0.0/0.0 GPU
 0.25/0.50 GiB memory
 0.00/64.00 MiB object_store_memory

Node 0f0f0f0f0f0f at 127.0.0.1:1234 (head; 3 worker processes):
 1.3/1.0 CPU
 0.0/0.0 GPU
 0.25/0.50 GiB memory
 0.00/64.00 MiB object_store_memory

Demands:
 {CPU: 0.3333}: 2 pending tasks/actors
`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var b strings.Builder
			renderStatus(&b, c.st)
			if got := b.String(); got != c.want {
				t.Errorf("renderStatus:\n--- got ---\n%s--- want ---\n%s", got, c.want)
			}
		})
	}
}

func TestRenderStatusCapsActors(t *testing.T) {
	st := &proto.ClusterStatus{}
	for i := range maxActorRows + 5 {
		st.Actors = append(st.Actors, proto.ActorInfo{ActorID: aid(byte(i)), State: proto.ActorAlive})
	}
	var b strings.Builder
	renderStatus(&b, st)
	if !strings.Contains(b.String(), " ... and 5 more\n") || strings.Count(b.String(), " ALIVE ") != maxActorRows {
		t.Errorf("want %d actor rows and a '... and 5 more' line:\n%s", maxActorRows, b.String())
	}
}

func TestFormatters(t *testing.T) {
	for _, c := range []struct{ got, want string }{
		{fmtQty(4), "4.0"},
		{fmtQty(0.25), "0.25"},
		{fmtQty(0.1 + 0.2), "0.3"},
		{fmtBytes(512), "512 B"},
		{fmtBytes(3 << 20), "3.00 MiB"},
		{fmtBytes(1.5 * gb), "1.50 GiB"},
		{shellQuote("/tmp/x"), "/tmp/x"},
		{shellQuote("/tmp/a b"), "'/tmp/a b'"},
		{shellQuote("it's"), `'it'\''s'`},
	} {
		if c.got != c.want {
			t.Errorf("got %q, want %q", c.got, c.want)
		}
	}
}
