package bench

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"github.com/goray/ray"
)

// ScaleResult is one scalability check.
type ScaleResult struct {
	Name    string  `json:"-"`
	N       int     `json:"n"`       // the check's size (tasks, args, returns, refs)
	Seconds float64 `json:"seconds"` // from first submission to last value
	// PeakRSS is the driver's RSS high-water mark in bytes during the check
	// (since the process started if PeakReset is false).
	PeakRSS   int64 `json:"peak_rss_bytes"`
	PeakReset bool  `json:"peak_rss_reset"`
	// StartRSS is the driver's RSS when the check started.
	StartRSS int64 `json:"start_rss_bytes"`
	// Ray's envelope: RayN items in RaySeconds (measured elsewhere).
	RayN       int     `json:"ray_n"`
	RaySeconds float64 `json:"ray_seconds"`
	Note       string  `json:"note,omitempty"`
}

// Ray's single-node envelope (release/benchmarks/single_node, Ray 2.48.0's
// release figures, measured elsewhere).
const RayEnvelopeSource = "Ray 2.48.0 single-node release benchmark (release/benchmarks/single_node), measured elsewhere"

type scaleCheck struct {
	name       string
	full       int
	raySeconds float64
	run        func(ctx context.Context, n int) (note string, err error)
}

func scaleChecks() []scaleCheck {
	return []scaleCheck{
		{"many_args", 10000, 17.2, manyArgs},
		{"many_returns", 3000, 5.72, manyReturns},
		{"get_many_refs", 10000, 23.5, getManyRefs},
		{"many_queued_tasks", 1_000_000, 184, manyQueuedTasks},
	}
}

// ScaleNames lists the scalability checks.
func ScaleNames() []string {
	var out []string
	for _, c := range scaleChecks() {
		out = append(out, c.name)
	}
	return out
}

// RunScale runs the scalability checks whose names keep(name) accepts (all
// if keep is nil), each sized full×factor (at least 1), and writes a table
// to out as they finish. A failed check does not stop the others.
func RunScale(ctx context.Context, factor float64, keep func(string) bool, out io.Writer) ([]ScaleResult, error) {
	if factor <= 0 {
		factor = 1
	}
	fmt.Fprintf(out, "%-18s %10s %11s %12s %12s   %s\n", "check", "n", "time", "driver RSS", "driver peak", "Ray 2.48.0 envelope (measured elsewhere)")
	var results []ScaleResult
	var errs []error
	for _, c := range scaleChecks() {
		if keep != nil && !keep(c.name) {
			continue
		}
		if err := ctx.Err(); err != nil {
			errs = append(errs, err)
			break
		}
		n := max(1, int(float64(c.full)*factor+0.5))
		// Return the last check's memory, so the peak is this check's. Its
		// objects are freed by finalizers that run after a collection, and
		// only the collection after those frees their values.
		for range 3 {
			runtime.GC()
			time.Sleep(20 * time.Millisecond)
		}
		debug.FreeOSMemory()
		startRSS := statusBytes("VmRSS:")
		reset := resetPeakRSS()
		start := time.Now()
		note, err := c.run(ctx, n)
		secs := time.Since(start).Seconds()
		if err != nil {
			fmt.Fprintf(out, "%-18s %10d failed: %v\n", c.name, n, err)
			errs = append(errs, fmt.Errorf("%s: %w", c.name, err))
			continue
		}
		r := ScaleResult{Name: c.name, N: n, Seconds: secs, PeakRSS: statusBytes("VmHWM:"), PeakReset: reset, StartRSS: startRSS,
			RayN: c.full, RaySeconds: c.raySeconds, Note: note}
		peak := fmtBytes(r.PeakRSS)
		if !reset {
			peak += "*"
		}
		line := fmt.Sprintf("%-18s %10d %10.2fs %12s %12s   %g s for %d", r.Name, r.N, r.Seconds, fmtBytes(r.StartRSS), peak, r.RaySeconds, r.RayN)
		if note != "" {
			line += "  (" + note + ")"
		}
		fmt.Fprintln(out, line)
		results = append(results, r)
	}
	for _, r := range results {
		if !r.PeakReset {
			fmt.Fprintln(out, "* peak RSS since the driver started (the kernel refused to reset VmHWM)")
			break
		}
	}
	return results, errors.Join(errs...)
}

// WriteScaleJSON writes {"NAME": {...ScaleResult}}.
func WriteScaleJSON(path string, results []ScaleResult) error {
	m := make(map[string]ScaleResult, len(results))
	for _, r := range results {
		m[r.Name] = r
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := writeIndentJSON(f, m); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func fmtBytes(b int64) string {
	switch {
	case b <= 0:
		return "?"
	case b >= 1<<30:
		return fmt.Sprintf("%.2f GiB", float64(b)/(1<<30))
	default:
		return fmt.Sprintf("%.0f MiB", float64(b)/(1<<20))
	}
}

// statusBytes reads a kB field of /proc/self/status ("VmHWM:", the RSS
// high-water mark; "VmRSS:") in bytes (0 if unknown).
func statusBytes(field string) int64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), field); ok {
			fs := strings.Fields(rest)
			if len(fs) >= 1 {
				kb, err := strconv.ParseInt(fs[0], 10, 64)
				if err == nil {
					return kb << 10
				}
			}
		}
	}
	return 0
}

// resetPeakRSS resets VmHWM to the current RSS (Linux: "5" to clear_refs).
func resetPeakRSS() bool {
	return os.WriteFile("/proc/self/clear_refs", []byte("5"), 0) == nil
}

// ---- the checks ----

var sumArgs = ray.FuncVariadic(func(args ...[]int64) int64 {
	var s int64
	for _, a := range args {
		for _, x := range a {
			s += x
		}
	}
	return s
})

// manyArgs: one task with n Ref arguments, each a []int64 of 10,000 ones
// (Ray passes lists of 10,000 ints by value).
func manyArgs(ctx context.Context, n int) (string, error) {
	args := make([]any, n)
	ones := make([]int64, 10000)
	for i := range ones {
		ones[i] = 1
	}
	for i := range args {
		r, err := ray.Put(ctx, ones)
		if err != nil {
			return "", err
		}
		args[i] = r
	}
	got, err := ray.Get(ctx, sumArgs.Remote(args...))
	if err != nil {
		return "", err
	}
	if want := int64(n) * 10000; got != want {
		return "", fmt.Errorf("sum %d, want %d", got, want)
	}
	return "", nil
}

var manyReturnsTask = ray.Func1(func(n int) [][]int64 {
	out := make([][]int64, n)
	for i := range out {
		out[i] = rangeInt64(10000)
	}
	return out
})

func rangeInt64(n int) []int64 {
	s := make([]int64, n)
	for i := range s {
		s[i] = int64(i)
	}
	return s
}

// manyReturns: one task with n returns, each a []int64 of 0..9999; every
// return is got and checked.
func manyReturns(ctx context.Context, n int) (string, error) {
	f := manyReturnsTask
	if n > 1 {
		f = manyReturnsTask.Options(ray.NumReturns(n))
	}
	ref := f.Remote(n)
	if n == 1 {
		v, err := ray.Get(ctx, ref)
		if err != nil {
			return "", err
		}
		return "", checkRange(v[0])
	}
	refs := ray.Split(ref)
	if len(refs) != n {
		return "", fmt.Errorf("%d refs, want %d", len(refs), n)
	}
	start := time.Now()
	if _, _, err := ray.Wait(ctx, refs[len(refs)-1:], 1, ray.NoTimeout); err != nil {
		return "", err
	}
	task := time.Since(start)
	for _, r := range refs {
		v, err := ray.Get(ctx, r)
		if err != nil {
			return "", err
		}
		if err := checkRange(v); err != nil {
			return "", err
		}
	}
	return fmt.Sprintf("task done after %.2fs, Gets %.2fs", task.Seconds(), (time.Since(start) - task).Seconds()), nil
}

func checkRange(v []int64) error {
	if len(v) != 10000 || v[0] != 0 || v[9999] != 9999 {
		return fmt.Errorf("wrong value: %d elements", len(v))
	}
	return nil
}

// getManyRefs: put n objects (a []int64 of 0..9999 each), then one GetAll
// of the n refs, checked. Ray's figure covers two such passes (pickled
// lists, then numpy arrays).
func getManyRefs(ctx context.Context, n int) (string, error) {
	refs := make([]ray.Ref[[]int64], n)
	obj := rangeInt64(10000)
	for i := range refs {
		r, err := ray.Put(ctx, obj)
		if err != nil {
			return "", err
		}
		refs[i] = r
	}
	start := time.Now()
	vals, err := ray.GetAll(ctx, refs...)
	if err != nil {
		return "", err
	}
	get := time.Since(start)
	for _, v := range vals {
		if err := checkRange(v); err != nil {
			return "", err
		}
	}
	return fmt.Sprintf("GetAll %.2fs of it", get.Seconds()), nil
}

var scaleNoop = ray.Func0(func() int { return 0 })

// blockUntil holds a CPU until key appears in the cluster's KV: it polls
// (a Get would lend the CPU back, and the queue would drain at once). It
// first marks itself started under startedKey.
var blockUntil = ray.Func2Ctx(func(ctx context.Context, key, startedKey string) (int, error) {
	if _, err := ray.KVPut(ctx, startedKey, []byte("1"), true); err != nil {
		return 0, err
	}
	for {
		_, ok, err := ray.KVGet(ctx, key)
		if err != nil {
			return 0, err
		}
		if ok {
			return 0, nil
		}
		select {
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-time.After(5 * time.Millisecond):
		}
	}
})

// manyQueuedTasks: tasks hold every CPU of the cluster; n tasks are
// submitted behind them; the CPUs are released; every result is got.
func manyQueuedTasks(ctx context.Context, n int) (string, error) {
	nodes, err := ray.Nodes(ctx)
	if err != nil {
		return "", err
	}
	cpus := 0
	for _, nd := range nodes {
		if nd.Alive {
			cpus += int(nd.Resources["CPU"])
		}
	}
	prefix := fmt.Sprintf("goray-bench/%d-%d/", os.Getpid(), time.Now().UnixNano())
	release := prefix + "release"
	defer func() {
		keys, _ := ray.KVKeys(context.Background(), prefix)
		for _, k := range keys {
			ray.KVDel(context.Background(), k)
		}
	}()
	// The blockers ask for 1 byte of memory too, which puts them in a
	// scheduling class of their own: in the noop tasks' class (CPU 1, short
	// tasks so far) the owner would pipeline the second blocker behind the
	// first on one worker, where it would never start.
	block := blockUntil.Options(ray.Memory(1))
	blockers := make([]ray.Ref[int], cpus)
	for i := range blockers {
		blockers[i] = block.Remote(release, fmt.Sprintf("%sstarted/%d", prefix, i))
	}
	deadline := time.Now().Add(time.Minute)
	for {
		keys, err := ray.KVKeys(ctx, prefix+"started/")
		if err != nil {
			return "", err
		}
		if len(keys) == cpus {
			break
		}
		if time.Now().After(deadline) {
			ray.KVPut(ctx, release, []byte("1"), true)
			return "", fmt.Errorf("only %d of %d blocking tasks started within a minute", len(keys), cpus)
		}
		time.Sleep(5 * time.Millisecond)
	}
	submitStart := time.Now()
	pending := make([]ray.Ref[int], n)
	for i := range pending {
		pending[i] = scaleNoop.Remote()
	}
	submit := time.Since(submitStart)
	queuedRSS := statusBytes("VmRSS:")
	if _, err := ray.KVPut(ctx, release, []byte("1"), true); err != nil {
		return "", err
	}
	for _, r := range pending {
		if _, err := ray.Get(ctx, r); err != nil {
			return "", err
		}
	}
	if _, err := ray.GetAll(ctx, blockers...); err != nil {
		return "", err
	}
	return fmt.Sprintf("%d CPUs held; submitting took %.2fs; driver RSS with all %d queued: %s", cpus, submit.Seconds(), n, fmtBytes(queuedRSS)), nil
}
