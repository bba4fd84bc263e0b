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
	nodeOf = ray.Func0Ctx(func(ctx context.Context) (string, error) {
		return ray.GetRuntimeContext(ctx).NodeID, nil
	})
	// nodeOfSlow holds its worker a while, so a burst of them needs many
	// leases at once.
	nodeOfSlow = ray.Func0Ctx(func(ctx context.Context) (string, error) {
		time.Sleep(200 * time.Millisecond)
		return ray.GetRuntimeContext(ctx).NodeID, nil
	})
	sumBytes = ray.Func1(func(b []byte) int {
		s := 0
		for _, x := range b {
			s += int(x)
		}
		return s
	})
)

// seedCluster is the seed's three nodes, scaled down: bob on the head,
// alice, and ming.
func seedCluster(t *testing.T) *raytest.Cluster {
	return raytest.NewCluster(t,
		raytest.Node{CPUs: 2, Resources: map[string]float64{"bob": 5}},
		raytest.Node{CPUs: 2, Resources: map[string]float64{"alice": 2}},
		raytest.Node{CPUs: 2, Resources: map[string]float64{"ming1": 1, "ming2": 1}},
	)
}

func TestClusterPlacement(t *testing.T) {
	c := seedCluster(t)
	ctx := joinCluster(t, c)
	for _, tc := range []struct {
		res  map[string]float64
		node int
	}{{map[string]float64{"alice": 1}, 1}, {map[string]float64{"ming2": 1}, 2}, {map[string]float64{"bob": 1}, 0}} {
		for range 3 {
			got, err := ray.Get(ctx, nodeOf.Options(ray.Resources(tc.res)).Remote())
			if err != nil {
				t.Fatal(err)
			}
			if got != c.NodeID(tc.node) {
				t.Fatalf("%v ran on %s, want node %d (%s)", tc.res, got, tc.node, c.NodeID(tc.node))
			}
		}
	}
	// Node affinity.
	if got, err := ray.Get(ctx, nodeOf.Options(ray.NodeAffinity(c.NodeID(2), false)).Remote()); err != nil || got != c.NodeID(2) {
		t.Fatalf("affinity: %s, %v", got, err)
	}
	// Spread touches every node.
	seen := map[string]bool{}
	var refs []ray.Ref[string]
	for range 9 {
		refs = append(refs, nodeOfSlow.Options(ray.Spread(), ray.NumCPUs(0.5)).Remote())
	}
	ids, err := ray.GetAll(ctx, refs...)
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range ids {
		seen[id] = true
	}
	if len(seen) != 3 {
		t.Fatalf("Spread used %d nodes", len(seen))
	}
	// Actors are placed the same way: by resources, affinity and Spread.
	a, err := newWhere.Options(ray.NodeAffinity(c.NodeID(1), false)).Remote()
	if err != nil {
		t.Fatal(err)
	}
	if got, err := ray.Get(ctx, whereNode.Remote(a)); err != nil || got != c.NodeID(1) {
		t.Fatalf("actor with affinity to node 1 runs on %s, %v", got, err)
	}
	b, _ := newWhere.Options(ray.Resources(map[string]float64{"ming1": 1})).Remote()
	if got, err := ray.Get(ctx, whereNode.Remote(b)); err != nil || got != c.NodeID(2) {
		t.Fatalf("actor needing ming1 runs on %s, %v", got, err)
	}
	actorNodes := map[string]bool{}
	for range 3 {
		// NumCPUs(0): placement only, independent of the CPU that the
		// Spread tasks above may still hold for their idle leases.
		h, err := newWhere.Options(ray.Spread()).Remote()
		if err != nil {
			t.Fatal(err)
		}
		got, err := ray.Get(ctx, whereNode.Remote(h))
		if err != nil {
			t.Fatal(err)
		}
		actorNodes[got] = true
	}
	if len(actorNodes) < 2 {
		t.Fatalf("3 Spread actors share %d node(s)", len(actorNodes))
	}
}

func TestClusterInfeasibleThenFeasible(t *testing.T) {
	c := raytest.NewCluster(t, raytest.Node{CPUs: 1})
	ctx := joinCluster(t, c)
	r := nodeOf.Options(ray.Resources(map[string]float64{"carol": 1})).Remote()
	// It waits, and shows as an infeasible demand.
	deadline := time.Now().Add(10 * time.Second)
	for {
		st := c.Node(0).GCS().Status()
		if len(st.Demands) == 1 && st.Demands[0].Infeasible && st.Demands[0].Resources["carol"] == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no infeasible demand in status: %+v", st.Demands)
		}
		time.Sleep(20 * time.Millisecond)
	}
	n := c.AddNode(raytest.Node{CPUs: 1, Resources: map[string]float64{"carol": 1}})
	tctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	got, err := ray.Get(tctx, r)
	if err != nil || got != n.ID().String() {
		t.Fatalf("after carol joined: %s, %v", got, err)
	}
}

func TestClusterObjectTransfer(t *testing.T) {
	c := seedCluster(t)
	ctx := joinCluster(t, c)
	// Made on alice's node (20 MiB, stays in its store), read on ming's.
	big := makeBytes.Options(ray.Resources(map[string]float64{"alice": 1})).Remote(20<<20, 3)
	var sums []ray.Ref[int]
	for range 4 {
		sums = append(sums, sumBytes.Options(ray.Resources(map[string]float64{"ming1": 0.25})).Remote(big))
	}
	got, err := ray.GetAll(ctx, sums...)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range got {
		if s != 3*20<<20 {
			t.Fatalf("sum on ming = %d", s)
		}
	}
	// And by the driver, on the head's node.
	b, err := ray.Get(ctx, big)
	if err != nil || len(b) != 20<<20 || b[12345] != 3 {
		t.Fatalf("driver read: %d, %v", len(b), err)
	}
	// Four readers on ming's node, one on the head's: one pull per node.
	if p := c.Node(2).PullsDone(); p != 1 {
		t.Fatalf("ming's node pulled %d times, want once", p)
	}
	if p := c.Node(0).PullsDone(); p != 1 {
		t.Fatalf("the head pulled %d times, want once", p)
	}
	if p := c.Node(1).PullsDone(); p != 0 {
		t.Fatalf("alice's node (the object's home) pulled %d times", p)
	}
}

func TestClusterTokenRejected(t *testing.T) {
	c := raytest.NewCluster(t, raytest.Node{CPUs: 1})
	t.Setenv("GORAY_TOKEN", "wrong")
	err := ray.Init(context.Background(), ray.Address(c.Address), ray.TempDir(t.TempDir()))
	if err == nil {
		ray.Shutdown()
		t.Fatal("joined with a wrong token")
	}
	if !errors.Is(err, errAuth) && !contains(err.Error(), "authentication failed") {
		t.Fatalf("want authentication failed, got %v", err)
	}
}

func TestClusterDriverExitFreesLeases(t *testing.T) {
	c := raytest.NewCluster(t, raytest.Node{CPUs: 2}, raytest.Node{CPUs: 2, Resources: map[string]float64{"alice": 2}})
	ctx := context.Background()
	if err := ray.Init(ctx, ray.Address(c.Address), ray.TempDir(t.TempDir())); err != nil {
		t.Fatal(err)
	}
	// More tasks than alice has slots: some lease requests are still queued
	// on alice's node when the driver leaves.
	var refs []ray.Ref[string]
	for range 6 {
		refs = append(refs, nodeOf.Options(ray.Resources(map[string]float64{"alice": 1})).Remote())
	}
	if _, err := ray.GetAll(ctx, refs...); err != nil {
		t.Fatal(err)
	}
	ray.Shutdown()
	deadline := time.Now().Add(10 * time.Second)
	for {
		av := c.Node(1).Status().Available
		if av["CPU"] == 2 && av["alice"] == 2 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("alice's node still has leases out after the driver left: available %v", av)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestClusterKV(t *testing.T) {
	c := raytest.NewCluster(t, raytest.Node{CPUs: 1}, raytest.Node{CPUs: 1})
	ctx := joinCluster(t, c)
	if ok, err := ray.KVPut(ctx, "cfg/a", []byte("1"), false); err != nil || !ok {
		t.Fatalf("put: %v, %v", ok, err)
	}
	if ok, _ := ray.KVPut(ctx, "cfg/a", []byte("2"), false); ok {
		t.Fatal("put without overwrite replaced a value")
	}
	ray.KVPut(ctx, "cfg/b", []byte("3"), true)
	ray.KVPut(ctx, "other", []byte("4"), true)
	if v, ok, err := ray.KVGet(ctx, "cfg/a"); err != nil || !ok || string(v) != "1" {
		t.Fatalf("get: %q %v %v", v, ok, err)
	}
	if keys, err := ray.KVKeys(ctx, "cfg/"); err != nil || len(keys) != 2 || keys[0] != "cfg/a" || keys[1] != "cfg/b" {
		t.Fatalf("keys: %v, %v", keys, err)
	}
	if ok, _ := ray.KVDel(ctx, "cfg/a"); !ok {
		t.Fatal("delete of an existing key reported false")
	}
	if _, ok, _ := ray.KVGet(ctx, "cfg/a"); ok {
		t.Fatal("deleted key still there")
	}
}
