package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/goray/ray"
)

// TestMain lets the test binary double as the worker binary: a node
// re-executes it with GORAY_WORKER=1, and Init then serves tasks.
func TestMain(m *testing.M) {
	if os.Getenv("GORAY_WORKER") == "1" {
		ray.Init(context.Background()) // never returns in a worker
	}
	os.Exit(m.Run())
}

func near(a, b float64) bool { return math.Abs(a-b) <= 1e-9*math.Max(1, math.Abs(b)) }

func TestMeanSD(t *testing.T) {
	for _, c := range []struct {
		xs       []float64
		mean, sd float64
	}{
		{nil, 0, 0},
		{[]float64{7}, 7, 0},
		{[]float64{1, 3}, 2, 1},
		{[]float64{2, 4, 4, 4, 5, 5, 7, 9}, 5, 2}, // population sd, as numpy.std
		{[]float64{10, 10, 10}, 10, 0},
	} {
		if m, s := Mean(c.xs), SD(c.xs); !near(m, c.mean) || !near(s, c.sd) {
			t.Errorf("Mean, SD(%v) = %v, %v; want %v, %v", c.xs, m, s, c.mean, c.sd)
		}
	}
}

func TestLine(t *testing.T) {
	r := Result{Name: "single_client_tasks_sync", Unit: UnitRate, Mean: 21345.123, SD: 310.549}
	if got, want := r.Line(), "single_client_tasks_sync per second 21345.12 +- 310.55"; got != want {
		t.Errorf("Line() = %q, want %q", got, want)
	}
	r = Result{Name: "single_client_put_gigabytes", Unit: UnitGBps, Mean: 12.344, SD: 0.556}
	if got, want := r.Line(), "single_client_put_gigabytes GB per second 12.34 +- 0.56"; got != want {
		t.Errorf("Line() = %q, want %q", got, want)
	}
}

func TestWriteJSON(t *testing.T) {
	results := []Result{
		{Name: "single_client_put_gigabytes", Unit: UnitGBps, Mean: 1.5, SD: 0.25, Trials: []float64{1.25, 1.75}},
		{Name: "single_client_tasks_sync", Unit: UnitRate, Mean: 1000, SD: 10},
	}
	var buf bytes.Buffer
	if err := WriteJSON(&buf, results); err != nil {
		t.Fatal(err)
	}
	var got map[string]map[string]any
	if err := json.Unmarshal(buf.Bytes(), &got); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, buf.String())
	}
	want := map[string]map[string]any{
		"single_client_put_gigabytes": {"mean": 1.5, "sd": 0.25, "unit": "GB/s"},
		"single_client_tasks_sync":    {"mean": 1000.0, "sd": 10.0, "unit": "1/s"},
	}
	if len(got) != len(want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	for k, w := range want {
		g := got[k]
		if len(g) != len(w) {
			t.Errorf("%s: got %v, want %v", k, g, w)
		}
		for f, v := range w {
			if g[f] != v {
				t.Errorf("%s.%s = %v, want %v", k, f, g[f], v)
			}
		}
	}
	path := filepath.Join(t.TempDir(), "out.json")
	if err := WriteJSONFile(path, results); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(path); !bytes.Equal(b, buf.Bytes()) {
		t.Errorf("WriteJSONFile wrote %q, want %q", b, buf.Bytes())
	}
}

func TestSuiteNames(t *testing.T) {
	want := []string{
		"single_client_get_calls", "single_client_put_calls", "multi_client_put_calls",
		"single_client_put_gigabytes", "single_client_tasks_and_get_batch", "multi_client_put_gigabytes",
		"single_client_get_object_containing_10k_refs", "single_client_wait_1k_refs",
		"single_client_tasks_sync", "single_client_tasks_async", "multi_client_tasks_async",
		"1_1_actor_calls_sync", "1_1_actor_calls_async", "1_1_actor_calls_concurrent",
		"1_n_actor_calls_async", "n_n_actor_calls_async", "n_n_actor_calls_with_arg_async",
		"single_client_get_gigabytes", "cross_node_get_gigabytes",
	}
	if got := Names(); strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("Names() =\n%v\nwant\n%v", got, want)
	}
	for _, m := range Suite(SuiteOptions{}) {
		gb := strings.Contains(m.Name, "gigabytes")
		if (m.Unit == UnitGBps) != gb || (m.Unit != UnitGBps && m.Unit != UnitRate) || m.Run == nil {
			t.Errorf("%s: unit %q", m.Name, m.Unit)
		}
	}
	if got := Filter(Suite(SuiteOptions{}), regexp.MustCompile("actor_calls_(sync|async)$")); len(got) != 4 {
		t.Errorf("Filter kept %d metrics, want 4", len(got))
	}
}

// TestRunAllMethod checks the timing loop, skips and failures without a
// cluster.
func TestRunAllMethod(t *testing.T) {
	calls, setups, teardowns := 0, 0, 0
	metrics := []Metric{
		{Name: "counted", Unit: UnitRate,
			Setup: func(context.Context) (func(), error) { setups++; return func() { teardowns++ }, nil },
			Run: func(_ context.Context, tm *Timer) (float64, error) {
				calls++
				tm.Stop()
				time.Sleep(2 * time.Millisecond) // untimed
				tm.Start()
				time.Sleep(time.Millisecond)
				return 10, nil
			}},
		{Name: "skipper", Unit: UnitRate,
			Setup: func(context.Context) (func(), error) { return nil, fmt.Errorf("%w: not here", ErrSkip) },
			Run:   func(context.Context, *Timer) (float64, error) { panic("ran") }},
		{Name: "broken", Unit: UnitGBps,
			Run: func(context.Context, *Timer) (float64, error) { return 0, errors.New("boom") }},
	}
	var out bytes.Buffer
	res, err := RunAll(context.Background(), metrics, Options{Trials: 3, Warmup: 10 * time.Millisecond, Duration: 20 * time.Millisecond}, &out)
	if err == nil || !strings.Contains(err.Error(), "broken: warm-up: boom") {
		t.Errorf("err = %v, want the broken metric's", err)
	}
	if len(res) != 1 || res[0].Name != "counted" || len(res[0].Trials) != 3 {
		t.Fatalf("results %+v", res)
	}
	// 10 per call, ~1 ms timed per call (the 2 ms pause excluded): well
	// above the 3,333/s it would be with the pause counted.
	if r := res[0].Mean; r < 4000 || r > 10500 {
		t.Errorf("rate %.0f/s, want about 10 per timed ms", r)
	}
	if setups != 1 || teardowns != 1 || calls < 4 {
		t.Errorf("setups %d, teardowns %d, calls %d", setups, teardowns, calls)
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 3 || !regexp.MustCompile(`^counted per second \d+\.\d\d \+- \d+\.\d\d$`).MatchString(lines[0]) ||
		lines[1] != "skipper skipped: not here" ||
		!strings.HasPrefix(lines[2], "broken failed: ") {
		t.Errorf("output:\n%s", out.String())
	}
}

// TestSmoke runs three cheap metrics and two tiny scalability checks on an
// embedded cluster.
func TestSmoke(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a cluster")
	}
	ctx := context.Background()
	if err := ray.Init(ctx, ray.NumCPUs(2), ray.ObjectStoreMemory(256<<20), ray.TempDir(t.TempDir()), ray.LogToDriver(false)); err != nil {
		t.Fatal(err)
	}
	defer ray.Shutdown()
	metrics := Filter(Suite(SuiteOptions{}), regexp.MustCompile(`^(single_client_get_calls|single_client_tasks_sync|1_1_actor_calls_async|single_client_wait_1k_refs|cross_node_get_gigabytes)$`))
	var out bytes.Buffer
	res, err := RunAll(ctx, metrics, Options{Trials: 2, Warmup: 0, Duration: 50 * time.Millisecond}, &out)
	t.Logf("\n%s", out.String())
	if err != nil {
		t.Fatal(err)
	}
	if len(res) != 4 {
		t.Fatalf("%d results, want 4 (cross_node skipped)", len(res))
	}
	for _, r := range res {
		if r.Mean <= 0 || len(r.Trials) != 2 {
			t.Errorf("%s: %+v", r.Name, r)
		}
	}
	if !strings.Contains(out.String(), "cross_node_get_gigabytes skipped: the cluster has one node") {
		t.Errorf("no skip note for cross_node_get_gigabytes:\n%s", out.String())
	}

	out.Reset()
	keep := func(n string) bool { return n == "many_returns" || n == "many_queued_tasks" }
	sres, err := RunScale(ctx, 0.001, keep, &out)
	t.Logf("\n%s", out.String())
	if err != nil {
		t.Fatal(err)
	}
	if len(sres) != 2 || sres[0].N != 3 || sres[1].N != 1000 || sres[1].PeakRSS <= 0 {
		t.Errorf("scale results %+v", sres)
	}
}
