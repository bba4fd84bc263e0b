package ray_test

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"
	"unsafe"

	"github.com/goray/ray"
)

var (
	sumFloats = ray.Func1(func(xs []float64) float64 {
		s := 0.0
		for _, x := range xs {
			s += x
		}
		return s
	})
	makeBytes = ray.Func2(func(n int, fill byte) []byte {
		b := make([]byte, n)
		for i := range b {
			b[i] = fill
		}
		return b
	})
	// Box holds refs nested in a value: they stay refs.
	sumBox = ray.Func1Ctx(func(ctx context.Context, b Box) (int, error) {
		total := 0
		for _, r := range b.Refs {
			v, err := ray.Get(ctx, r)
			if err != nil {
				return 0, err
			}
			total += v
		}
		return total, nil
	})
	makeBox = ray.Func1Ctx(func(ctx context.Context, n int) (Box, error) {
		var b Box
		for i := range n {
			r, err := ray.Put(ctx, i*100)
			if err != nil {
				return b, err
			}
			b.Refs = append(b.Refs, r)
		}
		return b, nil
	})
)

type Box struct{ Refs []ray.Ref[int] }

var countBytes = ray.FuncVariadic(func(bs ...[]byte) int {
	n := 0
	for _, b := range bs {
		for _, x := range b {
			n += int(x)
		}
	}
	return n
})

// inSharedMapping reports whether p lies in a shared (MAP_SHARED) mapping
// of a file under dir.
func inSharedMapping(t *testing.T, p unsafe.Pointer, dir string) bool {
	f, err := os.Open("/proc/self/maps")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	addr := uintptr(p)
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var lo, hi uintptr
		var perms string
		fields := strings.Fields(sc.Text())
		if len(fields) < 6 {
			continue
		}
		fmt.Sscanf(fields[0], "%x-%x", &lo, &hi)
		perms = fields[1]
		if addr >= lo && addr < hi {
			return strings.HasPrefix(perms, "r--s") && strings.HasPrefix(fields[5], dir)
		}
	}
	return false
}

func TestLargeObjectsAreZeroCopy(t *testing.T) {
	ctx := start(t, ray.NumCPUs(2))
	xs := make([]float64, 4<<20) // 32 MiB
	for i := range xs {
		xs[i] = 1
	}
	r, err := ray.Put(ctx, xs)
	if err != nil {
		t.Fatal(err)
	}
	view, err := ray.Get(ctx, r)
	if err != nil {
		t.Fatal(err)
	}
	if len(view) != len(xs) || view[12345] != 1 {
		t.Fatalf("view wrong: len %d", len(view))
	}
	if !inSharedMapping(t, unsafe.Pointer(&view[0]), ray.StoreDir()) {
		t.Fatal("Get of a large []float64 is not a view of shared memory")
	}
	// Passed by ref to a task: the worker reads it from shared memory.
	if s, err := ray.Get(ctx, sumFloats.Remote(r)); err != nil || s != float64(len(xs)) {
		t.Fatalf("sum = %v, %v", s, err)
	}
	// A large value passed directly is put in the store first.
	if s, err := ray.Get(ctx, sumFloats.Remote(xs[:1<<20])); err != nil || s != 1<<20 {
		t.Fatalf("sum of large literal = %v, %v", s, err)
	}
	// A large result stays in the store; Get maps it.
	b, err := ray.Get(ctx, makeBytes.Remote(8<<20, 7))
	if err != nil || len(b) != 8<<20 || b[len(b)-1] != 7 {
		t.Fatalf("large result: len %d, %v", len(b), err)
	}
	if !inSharedMapping(t, unsafe.Pointer(&b[0]), ray.StoreDir()) {
		t.Fatal("large task result is not a view of shared memory")
	}
	// Small values are inline, copied into Go memory.
	small, err := ray.Get(ctx, makeBytes.Remote(10, 1))
	if err != nil || len(small) != 10 || inSharedMapping(t, unsafe.Pointer(&small[0]), ray.StoreDir()) {
		t.Fatalf("small result: %v, %v", small, err)
	}
}

func TestObjectsFreedWhenUnreferenced(t *testing.T) {
	ctx := start(t, ray.NumCPUs(1))
	put := func() {
		for range 5 {
			r, err := ray.Put(ctx, make([]byte, 2<<20))
			if err != nil {
				t.Fatal(err)
			}
			_ = r
		}
		r := makeBytes.Remote(3<<20, 1)
		if _, err := ray.Get(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	put()
	if n := ray.NodeStatus().StoreObjects; n == 0 {
		t.Fatal("objects not in the store")
	}
	waitStoreEmpty(t)
}

// waitStoreEmpty collects until the node's store holds nothing, or fails
// after 10 s.
func waitStoreEmpty(t *testing.T) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		runtime.GC()
		st := ray.NodeStatus()
		if st.StoreObjects == 0 && st.StoreUsed == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("store still holds %d objects (%d bytes) after the refs were dropped", st.StoreObjects, st.StoreUsed)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestObjectStoreFull(t *testing.T) {
	ctx := start(t, ray.NumCPUs(1), ray.ObjectStoreMemory(8<<20), ray.ObjectStoreFullDelay(100*time.Millisecond))
	keep, err := ray.Put(ctx, make([]byte, 6<<20))
	if err != nil {
		t.Fatal(err)
	}
	_, err = ray.Put(ctx, make([]byte, 4<<20))
	if !errors.Is(err, ray.ErrObjectStoreFull) {
		t.Fatalf("want ErrObjectStoreFull, got %v", err)
	}
	_, err = ray.Put(ctx, make([]byte, 16<<20))
	if !errors.Is(err, ray.ErrObjectStoreFull) {
		t.Fatalf("larger than the store: want ErrObjectStoreFull, got %v", err)
	}
	// A task whose result does not fit fails the same way.
	_, err = ray.Get(ctx, makeBytes.Remote(4<<20, 1))
	if !errors.Is(err, ray.ErrObjectStoreFull) {
		t.Fatalf("task result: want ErrObjectStoreFull, got %v", err)
	}
	// Nothing lost: the first object is intact.
	b, err := ray.Get(ctx, keep)
	if err != nil || len(b) != 6<<20 {
		t.Fatalf("kept object: %d, %v", len(b), err)
	}
}

func TestNestedRefs(t *testing.T) {
	ctx := start(t, ray.NumCPUs(2))
	var b Box
	for i := range 3 {
		r, _ := ray.Put(ctx, i+1)
		b.Refs = append(b.Refs, r)
	}
	// Refs nested in an argument reach the task as refs.
	if v, err := ray.Get(ctx, sumBox.Remote(b)); err != nil || v != 6 {
		t.Fatalf("nested refs in arg: %d, %v", v, err)
	}
	// Refs created (and owned) by a worker, returned nested in a value.
	box, err := ray.Get(ctx, makeBox.Remote(4))
	if err != nil || len(box.Refs) != 4 {
		t.Fatalf("box: %v, %v", box, err)
	}
	runtime.GC()
	if v, err := ray.Get(ctx, box.Refs[3]); err != nil || v != 300 {
		t.Fatalf("worker-owned nested ref: %d, %v", v, err)
	}
	// And passed on to another task.
	if v, err := ray.Get(ctx, sumBox.Remote(box)); err != nil || v != 600 {
		t.Fatalf("forwarded box: %d, %v", v, err)
	}
	// Put of a value holding refs.
	outer, err := ray.Put(ctx, b)
	if err != nil {
		t.Fatal(err)
	}
	b = Box{}
	runtime.GC()
	if v, err := ray.Get(ctx, sumBox.Remote(outer)); err != nil || v != 6 {
		t.Fatalf("refs inside a put object: %d, %v", v, err)
	}
}

var (
	sleepThen7 = ray.Func1(func(d time.Duration) int { time.Sleep(d); return 7 })
	addOne     = ray.Func1(func(x int) int { return x + 1 })
	waitBox    = ray.Func1Ctx(func(ctx context.Context, b Box) (int, error) { return ray.Get(ctx, b.Refs[0]) })
)

// A task blocked in Get must not hold back a task pipelined behind it on
// the same worker, least of all the one it waits for.
func TestPipelinedTaskWaitingOnLaterTask(t *testing.T) {
	ctx := start(t, ray.NumCPUs(1))
	warm := make([]ray.Ref[int], 200)
	for i := range warm {
		warm[i] = square.Remote(i) // short tasks: this class pipelines now
	}
	if _, err := ray.GetAll(ctx, warm...); err != nil {
		t.Fatal(err)
	}
	d := sleepThen7.Options(ray.NumCPUs(0)).Remote(300 * time.Millisecond)
	b := addOne.Remote(d)                             // queued once d is done
	a := waitBox.Remote(Box{Refs: []ray.Ref[int]{b}}) // runs now, waits for b
	tctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if v, err := ray.Get(tctx, a); err != nil || v != 8 {
		t.Fatalf("a = %d, %v; want 8", v, err)
	}
}

func TestManySmallArgsGoByReference(t *testing.T) {
	ctx := start(t, ray.NumCPUs(1))
	// 400 args of 64 KiB: 25 MiB in all, past the 10 MiB a task may carry
	// inline; the rest travel through the store.
	chunk := make([]byte, 64<<10)
	for i := range chunk {
		chunk[i] = 1
	}
	args := make([]any, 400)
	for i := range args {
		args[i] = chunk
	}
	n, err := ray.Get(ctx, countBytes.Remote(args...))
	if err != nil || n != 400*64<<10 {
		t.Fatalf("count = %d, %v", n, err)
	}
}

// manyBig returns n byte slices of size bytes each, slice i filled with i.
var manyBig = ray.Func2(func(n, size int) [][]byte {
	out := make([][]byte, n)
	for i := range out {
		out[i] = bytes.Repeat([]byte{byte(i)}, size)
	}
	return out
})

// TestManyStoredReturns: a task with many returns bound for the store
// writes them in one batch; each comes back right, and a batch that does
// not fit fails whole with ErrObjectStoreFull and leaves nothing behind.
func TestManyStoredReturns(t *testing.T) {
	ctx := start(t, ray.NumCPUs(1), ray.ObjectStoreMemory(8<<20), ray.ObjectStoreFullDelay(100*time.Millisecond))
	const n, size = 12, 200 << 10 // above the inline limit: all to the store
	refs := ray.Split(manyBig.Options(ray.NumReturns(n)).Remote(n, size))
	for i, r := range refs {
		b, err := ray.Get(ctx, r)
		if err != nil || len(b) != size || b[0] != byte(i) || b[size-1] != byte(i) {
			t.Fatalf("return %d: %d bytes, first %v, %v", i, len(b), b[:min(1, len(b))], err)
		}
	}
	if st := ray.NodeStatus(); st.StoreObjects < n {
		t.Fatalf("store holds %d objects, want at least %d", st.StoreObjects, n)
	}
	// refs is dead from here on: the GC may drop the twelve returns.
	// 40 returns of 256 KiB need 10 MiB: more than the store.
	_, err := ray.Get(ctx, manyBig.Options(ray.NumReturns(40)).Remote(40, 256<<10))
	if !errors.Is(err, ray.ErrObjectStoreFull) {
		t.Fatalf("want ErrObjectStoreFull, got %v", err)
	}
	waitStoreEmpty(t)
}
