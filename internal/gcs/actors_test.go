package gcs

import (
	"context"
	"errors"
	"sync"
	"testing"

	"github.com/goray/ray/internal/ids"
	"github.com/goray/ray/internal/proto"
	"github.com/goray/ray/internal/rpc"
)

// fakeNode records the GCS's requests; tests grant leases by hand. Its Dial
// fails, so creation pushes fail as if the worker died at once; tests that
// need a live actor drive the GCS through markAlive.
type fakeNode struct {
	mu      sync.Mutex
	pending []func(Grant, error)
	killed  []ids.WorkerID
}

func (f *fakeNode) LeaseForActor(_ proto.LeaseRequest, done func(Grant, error)) {
	f.mu.Lock()
	f.pending = append(f.pending, done)
	f.mu.Unlock()
}
func (f *fakeNode) ActorCreated(ids.NodeID, uint64, bool) {}
func (f *fakeNode) KillActorWorker(_ ids.NodeID, _ uint64, w ids.WorkerID) {
	f.mu.Lock()
	f.killed = append(f.killed, w)
	f.mu.Unlock()
}
func (f *fakeNode) Dial(context.Context, string) (*rpc.Conn, error) {
	return nil, errors.New("fake node: no workers")
}

func (f *fakeNode) leases() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.pending)
}

// markAlive simulates a successful creation on worker w.
func markAlive(g *GCS, id ids.ActorID, w ids.WorkerID) {
	g.mu.Lock()
	a := g.actors[id]
	a.worker = w
	a.info.State = proto.ActorAlive
	g.byWorker[w] = id
	ws := g.takeWaiters(a)
	info := a.info
	g.mu.Unlock()
	for _, wt := range ws {
		wt.reply(info)
	}
}

func spec(name string, maxRestarts int) proto.ActorSpec {
	return proto.ActorSpec{ActorID: ids.NewActorID(), Name: name, Namespace: "ns", MaxRestarts: maxRestarts,
		Creation: proto.TaskSpec{Func: "pkg.T"}}
}

func TestActorLifecycle(t *testing.T) {
	node := &fakeNode{}
	g := New(node)
	s := spec("svc", 1)
	if err := g.CreateActor(s); err != nil {
		t.Fatal(err)
	}
	if node.leases() != 1 {
		t.Fatalf("creation asked for %d leases", node.leases())
	}
	if err := g.CreateActor(spec("svc", 0)); !errors.Is(err, ErrNameTaken) {
		t.Fatalf("duplicate name: %v", err)
	}
	// A waiter for the first incarnation is answered when it is alive.
	got := make(chan proto.ActorInfo, 4)
	g.GetActor(proto.GetActor{ActorID: s.ActorID, WaitReady: true}, func(i proto.ActorInfo, err error) { got <- i })
	select {
	case <-got:
		t.Fatal("answered while pending")
	default:
	}
	w1 := ids.NewWorkerID()
	markAlive(g, s.ActorID, w1)
	if i := <-got; i.State != proto.ActorAlive || i.NumRestarts != 0 {
		t.Fatalf("alive info %+v", i)
	}
	// The worker dies: one restart left, so RESTARTING and a new lease.
	g.WorkerDied(w1, "killed")
	info, _ := g.GetNamedActor("svc", "ns")
	if info.State != proto.ActorRestarting || info.NumRestarts != 1 || node.leases() != 2 {
		t.Fatalf("after first death: %+v, leases %d", info, node.leases())
	}
	g.GetActor(proto.GetActor{ActorID: s.ActorID, WaitReady: true, AfterRestarts: 1}, func(i proto.ActorInfo, err error) { got <- i })
	w2 := ids.NewWorkerID()
	markAlive(g, s.ActorID, w2)
	if i := <-got; i.State != proto.ActorAlive || i.NumRestarts != 1 {
		t.Fatalf("restarted info %+v", i)
	}
	// Second death: no restarts left, DEAD, and the name is free.
	g.WorkerDied(w2, "killed")
	g.GetActor(proto.GetActor{ActorID: s.ActorID}, func(i proto.ActorInfo, err error) { got <- i })
	if i := <-got; i.State != proto.ActorDead || i.DeathCause == "" {
		t.Fatalf("dead info %+v", i)
	}
	if _, err := g.GetNamedActor("svc", "ns"); !errors.Is(err, ErrActorNotFound) {
		t.Fatalf("dead actor's name still bound: %v", err)
	}
	if err := g.CreateActor(spec("svc", 0)); err != nil {
		t.Fatalf("name not reusable: %v", err)
	}
}

func TestKillWithoutRestart(t *testing.T) {
	node := &fakeNode{}
	g := New(node)
	s := spec("", -1) // unlimited restarts
	g.CreateActor(s)
	w := ids.NewWorkerID()
	markAlive(g, s.ActorID, w)
	if err := g.KillActor(s.ActorID, true); err != nil {
		t.Fatal(err)
	}
	if len(node.killed) != 1 || node.killed[0] != w {
		t.Fatalf("worker not killed: %v", node.killed)
	}
	g.WorkerDied(w, "signal: killed") // the node reports the exit
	done := make(chan proto.ActorInfo, 1)
	g.GetActor(proto.GetActor{ActorID: s.ActorID, WaitReady: true}, func(i proto.ActorInfo, err error) { done <- i })
	if i := <-done; i.State != proto.ActorDead || i.DeathCause != "killed by ray.Kill" {
		t.Fatalf("after Kill(no_restart): %+v", i)
	}
	if err := g.KillActor(ids.NewActorID(), true); !errors.Is(err, ErrActorNotFound) {
		t.Fatalf("kill unknown: %v", err)
	}
}

func TestLeaseFailureKillsActor(t *testing.T) {
	node := &fakeNode{}
	g := New(node)
	s := spec("a", 3)
	g.CreateActor(s)
	node.pending[0](Grant{}, errors.New("infeasible"))
	info, err := g.GetNamedActor("a", "ns")
	if err == nil {
		t.Fatalf("actor with no possible worker still named: %+v", info)
	}
}
