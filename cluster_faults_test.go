package ray_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/goray/ray"
	"github.com/goray/ray/raytest"
)

var (
	echoSlow = ray.Func1(func(i int) int { time.Sleep(300 * time.Millisecond); return i })

	newWhere  = ray.Actor0(func() *Where { return &Where{} })
	whereNode = ray.Method0Ctx(func(w *Where, ctx context.Context) (string, error) {
		w.calls++
		return ray.GetRuntimeContext(ctx).NodeID, nil
	})
	whereCalls = ray.Method0(func(w *Where) int { return w.calls })
)

type Where struct{ calls int }

func joinCluster(t *testing.T, c *raytest.Cluster) context.Context {
	t.Helper()
	if err := ray.Init(context.Background(), ray.Address(c.Address), ray.TempDir(t.TempDir())); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(ray.Shutdown)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestClusterNodeDeathRetriesTasks(t *testing.T) {
	c := raytest.NewCluster(t, raytest.Node{CPUs: 2}, raytest.Node{CPUs: 2}, raytest.Node{CPUs: 2})
	ctx := joinCluster(t, c)
	var refs []ray.Ref[int]
	for i := range 24 {
		refs = append(refs, echoSlow.Options(ray.Spread()).Remote(i))
	}
	time.Sleep(400 * time.Millisecond) // some tasks run on node 1
	c.KillNode(1)
	got, err := ray.GetAll(ctx, refs...)
	if err != nil {
		t.Fatal(err)
	}
	for i, v := range got {
		if v != i {
			t.Fatalf("task %d returned %d", i, v)
		}
	}
	// The head has declared it dead.
	deadline := time.Now().Add(10 * time.Second)
	for {
		dead := false
		for _, n := range c.Node(0).GCS().Status().Nodes {
			if n.NodeID.String() == c.NodeID(1) && !n.Alive && n.DeathReason != "" {
				dead = true
			}
		}
		if dead {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("node 1 never declared dead")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestClusterActorRestartsOnAnotherNode(t *testing.T) {
	c := raytest.NewCluster(t, raytest.Node{CPUs: 1},
		raytest.Node{CPUs: 1, Resources: map[string]float64{"x": 1}},
		raytest.Node{CPUs: 1, Resources: map[string]float64{"x": 1}})
	ctx := joinCluster(t, c)
	a, err := newWhere.Options(ray.Resources(map[string]float64{"x": 1}), ray.MaxRestarts(1), ray.MaxTaskRetries(-1)).Remote()
	if err != nil {
		t.Fatal(err)
	}
	first, err := ray.Get(ctx, whereNode.Remote(a))
	if err != nil {
		t.Fatal(err)
	}
	victim := 1
	if first == c.NodeID(2) {
		victim = 2
	}
	if first != c.NodeID(victim) {
		t.Fatalf("actor on %s, not on an x node", first)
	}
	c.KillNode(victim)
	second, err := ray.Get(ctx, whereNode.Remote(a))
	if err != nil {
		t.Fatal(err)
	}
	if second == first || second != c.NodeID(3-victim) {
		t.Fatalf("after its node died the actor is on %s (was %s)", second, first)
	}
	if n, _ := ray.Get(ctx, whereCalls.Remote(a)); n != 1 {
		t.Fatalf("restarted actor saw %d calls, want 1 (fresh state, one call since)", n)
	}
}

func TestClusterDetachedActorOutlivesDriver(t *testing.T) {
	c := raytest.NewCluster(t, raytest.Node{CPUs: 2})
	ctx := context.Background()
	if err := ray.Init(ctx, ray.Address(c.Address), ray.TempDir(t.TempDir()), ray.Namespace("shared")); err != nil {
		t.Fatal(err)
	}
	keep, err := newWhere.Options(ray.Name("keeper"), ray.Detached()).Remote()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := newWhere.Options(ray.Name("temp")).Remote(); err != nil {
		t.Fatal(err)
	}
	if _, err := ray.Get(ctx, whereNode.Remote(keep)); err != nil {
		t.Fatal(err)
	}
	ray.Shutdown()

	// A second driver (a new job) finds the detached actor, state intact;
	// the non-detached one ended with its driver.
	if err := ray.Init(ctx, ray.Address(c.Address), ray.TempDir(t.TempDir()), ray.Namespace("shared")); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(ray.Shutdown)
	found, err := ray.GetActor[Where](ctx, "keeper")
	if err != nil {
		t.Fatal(err)
	}
	if n, err := ray.Get(ctx, whereCalls.Remote(found)); err != nil || n != 1 {
		t.Fatalf("detached actor state: %d, %v", n, err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, err := ray.GetActor[Where](ctx, "temp")
		if errors.Is(err, ray.ErrActorNotFound) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("non-detached actor outlived its driver: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
