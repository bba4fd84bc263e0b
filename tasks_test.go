package ray_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/goray/ray"
)

var (
	square = ray.Func1(func(x int) int { return x * x })
	add    = ray.Func2(func(a, b int) int { return a + b })
	sumAll = ray.FuncVariadic(func(xs ...int) int {
		s := 0
		for _, x := range xs {
			s += x
		}
		return s
	})
	whereAmI = ray.Func0Ctx(func(ctx context.Context) (ray.RuntimeContext, error) {
		return ray.GetRuntimeContext(ctx), nil
	})
	pid    = ray.Func0(func() int { return os.Getpid() })
	splitN = ray.Func1(func(n int) []int {
		out := make([]int, n)
		for i := range out {
			out[i] = i * 10
		}
		return out
	})
	say = ray.Func1(func(s string) string {
		fmt.Println("worker says", s)
		return s
	})
)

// fanOut submits n children from inside a task and sums their results:
// nested parallelism. A recursive task is registered in init to avoid an
// initialization cycle.
var fanOut *ray.RemoteFunc2[int, int, int]

func init() {
	fanOut = ray.Func2Ctx(func(ctx context.Context, n, depth int) (int, error) {
		if depth == 0 {
			return 1, nil
		}
		refs := make([]ray.Ref[int], n)
		for i := range refs {
			refs[i] = fanOut.Remote(n, depth-1)
		}
		vs, err := ray.GetAll(ctx, refs...)
		if err != nil {
			return 0, err
		}
		s := 0
		for _, v := range vs {
			s += v
		}
		return s, nil
	})
}

func TestTasks(t *testing.T) {
	ctx := start(t, ray.NumCPUs(2))
	refs := make([]ray.Ref[int], 100)
	for i := range refs {
		refs[i] = square.Remote(i)
	}
	got, err := ray.GetAll(ctx, refs...)
	if err != nil {
		t.Fatal(err)
	}
	for i, v := range got {
		if v != i*i {
			t.Fatalf("square(%d) = %d", i, v)
		}
	}
	// Refs stand in for values, and chain.
	r := add.Remote(square.Remote(3), 1)
	r = add.Remote(r, r)
	if v, err := ray.Get(ctx, r); err != nil || v != 20 {
		t.Fatalf("chain = %d, %v; want 20", v, err)
	}
	// Untyped constants convert to the parameter's numeric type.
	if v, err := ray.Get(ctx, sumAll.Remote(1, 2, refs[3], int64(4))); err != nil || v != 16 {
		t.Fatalf("variadic = %d, %v; want 16", v, err)
	}
	// NumReturns splits a slice result into separate objects.
	parts := ray.Split(splitN.Options(ray.NumReturns(3)).Remote(3))
	if len(parts) != 3 {
		t.Fatalf("Split gave %d refs", len(parts))
	}
	if v, err := ray.Get(ctx, parts[2]); err != nil || v != 20 {
		t.Fatalf("third return = %d, %v", v, err)
	}
	all, err := ray.Get(ctx, splitN.Options(ray.NumReturns(2)).Remote(2))
	if err != nil || len(all) != 2 || all[1] != 10 {
		t.Fatalf("multi-return Get = %v, %v", all, err)
	}
	bad, err := ray.Get(ctx, splitN.Options(ray.NumReturns(4)).Remote(2))
	if !errors.Is(err, ray.ErrInvalidArgument) {
		t.Fatalf("NumReturns mismatch: %v, %v", bad, err)
	}
}

// scribble writes over its argument, then sums it with a second one: each
// task must get arguments of its own, even when they are decoded in place.
var scribble = ray.Func2(func(xs, ys []int64) int64 {
	var s int64
	for i := range xs {
		xs[i] = -1
		s += ys[i]
	}
	return s
})

func TestTaskArgumentsAreTheTasksOwn(t *testing.T) {
	ctx := start(t, ray.NumCPUs(2))
	ones := make([]int64, 4096) // inline, 32 KiB
	for i := range ones {
		ones[i] = 1
	}
	ref, err := ray.Put(ctx, ones)
	if err != nil {
		t.Fatal(err)
	}
	// The same ref twice in one call, in many calls, and by value.
	refs := make([]ray.Ref[int64], 20)
	for i := range refs {
		if i%2 == 0 {
			refs[i] = scribble.Remote(ref, ref)
		} else {
			refs[i] = scribble.Remote(ones, ref)
		}
	}
	got, err := ray.GetAll(ctx, refs...)
	if err != nil {
		t.Fatal(err)
	}
	for i, v := range got {
		if v != 4096 {
			t.Fatalf("call %d summed %d, want 4096: an argument was shared", i, v)
		}
	}
	back, err := ray.Get(ctx, ref)
	if err != nil || back[0] != 1 || back[4095] != 1 || ones[0] != 1 {
		t.Fatalf("the put value changed: %v %v %v", back[:1], ones[:1], err)
	}
}

func TestNestedTasksDoNotDeadlock(t *testing.T) {
	// 1 CPU, and every level blocks in Get: only CPU lending while blocked
	// lets the 1+3+9 tasks finish.
	ctx := start(t, ray.NumCPUs(1))
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	v, err := ray.Get(ctx, fanOut.Remote(3, 2))
	if err != nil || v != 9 {
		t.Fatalf("fanOut(3, 2) = %d, %v; want 9", v, err)
	}
}

func TestCallerMistakes(t *testing.T) {
	ctx := start(t, ray.NumCPUs(1))
	_, err := ray.Get(ctx, square.Remote("seven"))
	if !errors.Is(err, ray.ErrInvalidArgument) || !strings.Contains(err.Error(), "tasks_test.go:") ||
		!strings.Contains(err.Error(), "argument 1 has type string, want int") {
		t.Fatalf("wrong type: %v", err)
	}
	_, err = ray.Get(ctx, add.Remote(ray.Ref[string]{}, 1))
	if !errors.Is(err, ray.ErrInvalidArgument) {
		t.Fatalf("zero ref: %v", err)
	}
	s, _ := ray.Put(ctx, "str")
	_, err = ray.Get(ctx, square.Remote(s))
	if !errors.Is(err, ray.ErrInvalidArgument) || !strings.Contains(err.Error(), "Ref[string], want int") {
		t.Fatalf("ref of wrong type: %v", err)
	}
	_, err = ray.Get(ctx, square.Remote(make(chan int)))
	if !errors.Is(err, ray.ErrInvalidArgument) {
		t.Fatalf("channel: %v", err)
	}
	late := ray.Func1(func(x int) int { return x + 1 }) // after Init: workers lack it
	if _, err := ray.Get(ctx, late.Remote(1)); !errors.Is(err, ray.ErrUnknownFunction) ||
		!strings.Contains(err.Error(), "tasks_test.go:") || !strings.Contains(err.Error(), "after ray.Init") {
		t.Fatalf("late registration: %v", err)
	}
	type unencodable struct{ C chan int }
	if _, err := ray.Put(ctx, unencodable{C: make(chan int)}); !errors.Is(err, ray.ErrEncode) {
		t.Fatalf("Put of a channel: %v", err)
	}
}

func TestRuntimeContextAndPool(t *testing.T) {
	ctx := start(t, ray.NumCPUs(1))
	rc, err := ray.Get(ctx, whereAmI.Remote())
	if err != nil {
		t.Fatal(err)
	}
	driver := ray.GetRuntimeContext(ctx)
	if !rc.IsWorker || rc.TaskID == "" || rc.WorkerID == driver.WorkerID || rc.NodeID != driver.NodeID || rc.JobID != driver.JobID {
		t.Fatalf("task context %+v, driver %+v", rc, driver)
	}
	// Workers are reused: with one CPU, sequential tasks share a process.
	p1, _ := ray.Get(ctx, pid.Remote())
	p2, _ := ray.Get(ctx, pid.Remote())
	if p1 != p2 || p1 == os.Getpid() {
		t.Fatalf("pids %d, %d (driver %d): want one reused worker", p1, p2, os.Getpid())
	}
}

func TestWorkerLogs(t *testing.T) {
	ctx := start(t, ray.NumCPUs(1))
	if _, err := ray.Get(ctx, say.Remote("hello-log")); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(ray.SessionDir(), "logs")
	deadline := time.Now().Add(5 * time.Second)
	for {
		matches, _ := filepath.Glob(filepath.Join(dir, "worker-*.out"))
		for _, m := range matches {
			b, _ := os.ReadFile(m)
			if strings.Contains(string(b), "worker says hello-log") {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no worker log in %s has the line (files: %v)", dir, matches)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestShutdownLeavesNothing(t *testing.T) {
	if err := ray.Init(context.Background(), ray.TempDir(t.TempDir()), ray.NumCPUs(2), ray.LogToDriver(false)); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	var pids []int
	for range 4 {
		p, err := ray.Get(ctx, pid.Remote())
		if err != nil {
			t.Fatal(err)
		}
		pids = append(pids, p)
	}
	big, err := ray.Put(ctx, make([]byte, 1<<20))
	if err != nil {
		t.Fatal(err)
	}
	_ = big
	store := ray.StoreDir()
	ray.Shutdown()
	if _, err := os.Stat(store); !os.IsNotExist(err) {
		t.Fatalf("store dir %s still there: %v", store, err)
	}
	for _, p := range pids {
		if _, err := os.Stat(fmt.Sprintf("/proc/%d", p)); err == nil {
			b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/stat", p))
			if !strings.Contains(string(b), ") Z ") {
				t.Fatalf("worker %d still running after Shutdown", p)
			}
		}
	}
	if ray.IsInitialized() {
		t.Fatal("still initialized")
	}
	runtime.GC()
}

// quickOrSlow returns at once for d == 0, else after sleeping d.
var quickOrSlow = ray.Func1(func(d time.Duration) int {
	time.Sleep(d)
	return int(d / time.Millisecond)
})

// TestPipelinedReplyNotHeldBehindLongTask: a worker holds back a finished
// task's reply while more tasks are queued behind it (to send replies
// together), but only briefly: a long task queued behind a short one must
// not delay the short one's result until it ends.
func TestPipelinedReplyNotHeldBehindLongTask(t *testing.T) {
	ctx := start(t, ray.NumCPUs(1))
	// Quick round trips turn on pipelining for the class.
	for range 50 {
		refs := make([]ray.Ref[int], 20)
		for i := range refs {
			refs[i] = quickOrSlow.Remote(time.Duration(0))
		}
		if _, err := ray.GetAll(ctx, refs...); err != nil {
			t.Fatal(err)
		}
	}
	const slow = time.Second
	for range 2 {
		short := quickOrSlow.Remote(time.Duration(0))
		long := quickOrSlow.Remote(slow)
		begin := time.Now()
		if _, err := ray.Get(ctx, short); err != nil {
			t.Fatal(err)
		}
		if took := time.Since(begin); took > slow/2 {
			t.Fatalf("the short task's result took %v: held behind the long task", took)
		}
		if v, err := ray.Get(ctx, long); err != nil || v != 1000 {
			t.Fatalf("long task: %v, %v", v, err)
		}
	}
}
