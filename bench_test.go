package ray_test

import (
	"runtime"
	"testing"

	"github.com/goray/ray"
)

var noop = ray.Func1(func(x int) int { return x })

type Acc struct{ n int }

var (
	newAcc  = ray.Actor0(func() *Acc { return &Acc{} })
	accIncr = ray.Method1(func(a *Acc, k int) int { a.n += k; return a.n })
)

// BenchmarkTaskSync is one task's round trip: submit, run in a worker, Get.
func BenchmarkTaskSync(b *testing.B) { taskSync(b, false) }

// BenchmarkTaskSyncDriver1P is BenchmarkTaskSync with the driver at
// GOMAXPROCS=1, like Ray's single-threaded driver. On a 2-core machine a
// second P in the driver spins on every wake-up and takes CPU from the
// worker: the round trip halves without it.
func BenchmarkTaskSyncDriver1P(b *testing.B) { taskSync(b, true) }

// driverProcs sets the driver's GOMAXPROCS to 1 for one benchmark.
func driverProcs(b *testing.B, oneP bool) {
	if oneP {
		prev := runtime.GOMAXPROCS(1)
		b.Cleanup(func() { runtime.GOMAXPROCS(prev) })
	}
}

func taskSync(b *testing.B, oneP bool) {
	ctx := start(b, ray.NumCPUs(2))
	driverProcs(b, oneP)
	ray.Get(ctx, noop.Remote(0)) // warm the lease and worker
	for b.Loop() {
		if _, err := ray.Get(ctx, noop.Remote(1)); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkTaskAsync submits batches of 1000 tasks, then gets them all;
// reported per task.
func BenchmarkTaskAsync(b *testing.B) {
	ctx := start(b, ray.NumCPUs(2))
	refs := make([]ray.Ref[int], 1000)
	ray.Get(ctx, noop.Remote(0))
	for b.Loop() {
		for i := range refs {
			refs[i] = noop.Remote(i)
		}
		if _, err := ray.GetAll(ctx, refs...); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*len(refs))/b.Elapsed().Seconds(), "tasks/s")
}

// BenchmarkActorCallSync is one actor method call's round trip.
func BenchmarkActorCallSync(b *testing.B) { actorCallSync(b, false) }

// BenchmarkActorCallSyncDriver1P is BenchmarkActorCallSync with the driver
// at GOMAXPROCS=1.
func BenchmarkActorCallSyncDriver1P(b *testing.B) { actorCallSync(b, true) }

func actorCallSync(b *testing.B, oneP bool) {
	ctx := start(b, ray.NumCPUs(2))
	driverProcs(b, oneP)
	a, err := newAcc.Remote()
	if err != nil {
		b.Fatal(err)
	}
	ray.Get(ctx, accIncr.Remote(a, 0))
	for b.Loop() {
		if _, err := ray.Get(ctx, accIncr.Remote(a, 1)); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkPutGetSmall puts and gets an int (owner memory, no store).
func BenchmarkPutGetSmall(b *testing.B) {
	ctx := start(b, ray.NumCPUs(1))
	for b.Loop() {
		r, err := ray.Put(ctx, 42)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := ray.Get(ctx, r); err != nil {
			b.Fatal(err)
		}
	}
}

const gib = 1 << 30

// BenchmarkPut1GiB puts a 1 GiB []byte into shared memory (one copy).
func BenchmarkPut1GiB(b *testing.B) {
	ctx := start(b, ray.NumCPUs(1), ray.ObjectStoreMemory(3*gib))
	data := make([]byte, gib)
	for i := range data {
		data[i] = byte(i)
	}
	b.SetBytes(gib)
	for b.Loop() {
		r, err := ray.Put(ctx, data)
		if err != nil {
			b.Fatal(err)
		}
		_ = r
	}
}

// BenchmarkGet1GiB gets a 1 GiB object already in the store: a zero-copy
// view, so the cost does not grow with the size.
func BenchmarkGet1GiB(b *testing.B) {
	ctx := start(b, ray.NumCPUs(1), ray.ObjectStoreMemory(2*gib))
	r, err := ray.Put(ctx, make([]byte, gib))
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(gib)
	for b.Loop() {
		v, err := ray.Get(ctx, r)
		if err != nil || len(v) != gib {
			b.Fatal(err)
		}
	}
}
