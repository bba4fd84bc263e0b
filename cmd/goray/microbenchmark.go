package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"regexp"
	"runtime"
	"runtime/pprof"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/goray/ray"
	"github.com/goray/ray/internal/bench"
)

// mbFlags are `goray microbenchmark`'s flags.
type mbFlags struct {
	address, filter, jsonPath string
	cpuProfile, memProfile    string
	trials                    int
	warmup, duration          time.Duration
	scale, list               bool
	scaleFactor               float64
	storeMemory               int64
}

func newMicrobenchmarkCmd() *cobra.Command {
	var f mbFlags
	cmd := &cobra.Command{
		Use:   "microbenchmark",
		Short: "Run Ray's microbenchmark suite (or, with --scale, the scalability checks)",
		Long: `Run Ray's microbenchmark suite ("ray microbenchmark") with Ray's metric
names and method, on an embedded local cluster, or on a running cluster
with --address (default $GORAY_ADDRESS).

Each metric warms up for --warmup, then runs --trials trials of at least
--duration each, in steps of about 100 ms of operations, and prints the mean
and standard deviation (population, as numpy.std) of the trial rates:

  single_client_tasks_sync per second 21345.12 +- 310.55
  single_client_put_gigabytes GB per second 12.34 +- 0.56

--json FILE also writes {"NAME": {"mean": M, "sd": S, "unit": "1/s"}}
("GB/s" for the gigabyte metrics, GB = 1e9 bytes).

Metrics: ` + strings.Join(bench.Names(), ", ") + `.
Beyond Ray's: single_client_get_gigabytes (a Get of a 1 GiB []byte already
in the store: a zero-copy view) and cross_node_get_gigabytes (a Get that
pulls a 1 GiB []byte made on another node; skipped on a one-node cluster).

Ray's multi-client metrics use several client processes, which are Ray
tasks and actors; ours are likewise goray tasks and actors in worker
processes, not goroutines in the driver. Other deviations from Ray's
ray_perf.py (batch sizes, n for the 1:n and n:n metrics, how Wait is
counted) are listed in internal/bench's package documentation.

--scale runs the scalability checks after Ray's single-node envelope
instead: one task with 10,000 Ref arguments, one task with 3,000 returns, a
Get of 10,000 refs, and 1,000,000 tasks queued behind tasks holding every
CPU and then drained; each is timed, with the driver's peak RSS, beside
Ray's figures (measured elsewhere). --scale-factor shrinks them for a quick
run. --filter applies to the checks' names (` + strings.Join(bench.ScaleNames(), ", ") + `).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			return runMicrobenchmark(ctx, f, cmd.OutOrStdout(), cmd.ErrOrStderr())
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.address, "address", "", "a running cluster's `HOST:PORT` (default: $GORAY_ADDRESS, else an embedded local cluster)")
	fl.StringVar(&f.filter, "filter", "", "run only the metrics whose names match this `REGEX`")
	fl.StringVar(&f.jsonPath, "json", "", "also write the results as JSON to `FILE`")
	fl.IntVar(&f.trials, "trials", 5, "timed trials per metric")
	fl.DurationVar(&f.warmup, "warmup", time.Second, "warm-up per metric (Ray: 1s)")
	fl.DurationVar(&f.duration, "duration", time.Second, "minimum length of each trial (Ray: 2s)")
	fl.BoolVar(&f.list, "list", false, "list the metrics (with --scale, the checks) and exit")
	fl.BoolVar(&f.scale, "scale", false, "run the scalability checks instead of the microbenchmarks")
	fl.Float64Var(&f.scaleFactor, "scale-factor", 1, "size of the scalability checks relative to Ray's (e.g. 0.1)")
	fl.Int64Var(&f.storeMemory, "object-store-memory", 0, "the embedded cluster's object store in bytes (default 30% of RAM)")
	fl.StringVar(&f.cpuProfile, "cpuprofile", "", "write a CPU profile of the driver process (with an embedded cluster: driver, node and GCS) to `FILE`")
	fl.StringVar(&f.memProfile, "memprofile", "", "write a heap profile of the driver process at the end to `FILE`")
	return cmd
}

func runMicrobenchmark(ctx context.Context, f mbFlags, out, errOut io.Writer) error {
	if f.trials < 1 {
		return fmt.Errorf("%w: --trials must be at least 1", errUsage)
	}
	if f.warmup < 0 || f.duration < 0 {
		return fmt.Errorf("%w: --warmup and --duration must not be negative", errUsage)
	}
	if f.scaleFactor <= 0 {
		return fmt.Errorf("%w: --scale-factor must be positive", errUsage)
	}
	var re *regexp.Regexp
	if f.filter != "" {
		var err error
		if re, err = regexp.Compile(f.filter); err != nil {
			return fmt.Errorf("%w: --filter: %w", errUsage, err)
		}
	}
	var names []string
	var metrics []bench.Metric
	if f.scale {
		for _, n := range bench.ScaleNames() {
			if re == nil || re.MatchString(n) {
				names = append(names, n)
			}
		}
	} else {
		metrics = bench.Filter(bench.Suite(bench.SuiteOptions{}), re)
		for _, m := range metrics {
			names = append(names, m.Name)
		}
	}
	if f.list {
		for _, n := range names {
			fmt.Fprintln(out, n)
		}
		return nil
	}
	if len(names) == 0 {
		return fmt.Errorf("%w: --filter %q matches nothing (see --list)", errUsage, f.filter)
	}

	opts := []ray.InitOption{ray.LogToDriver(false)}
	where := "an embedded local cluster"
	if f.address != "" {
		opts = append(opts, ray.Address(f.address))
		where = "the cluster at " + f.address
	} else if a := os.Getenv("GORAY_ADDRESS"); a != "" {
		where = "the cluster at " + a + " ($GORAY_ADDRESS)"
	}
	if f.storeMemory > 0 {
		opts = append(opts, ray.ObjectStoreMemory(f.storeMemory))
	}
	if err := ray.Init(ctx, opts...); err != nil {
		return err
	}
	defer ray.Shutdown()
	if f.cpuProfile != "" {
		pf, err := os.Create(f.cpuProfile)
		if err != nil {
			return err
		}
		if err := pprof.StartCPUProfile(pf); err != nil {
			pf.Close()
			return err
		}
		defer func() {
			pprof.StopCPUProfile()
			pf.Close()
		}()
	}
	if f.memProfile != "" {
		defer writeHeapProfile(f.memProfile, errOut)
	}
	cpus := clusterCPUs(ctx)
	fmt.Fprintf(errOut, "goray microbenchmark on %s (%g CPUs; this machine: %d cores)\n", where, cpus, runtime.NumCPU())

	if f.scale {
		keep := func(n string) bool { return re == nil || re.MatchString(n) }
		fmt.Fprintf(errOut, "scalability checks at %g× Ray's sizes\n", f.scaleFactor)
		res, err := bench.RunScale(ctx, f.scaleFactor, keep, out)
		if f.jsonPath != "" && len(res) > 0 {
			if jerr := bench.WriteScaleJSON(f.jsonPath, res); jerr != nil {
				err = errors.Join(err, jerr)
			}
		}
		return err
	}

	fmt.Fprintf(errOut, "%d metrics: warm-up %v, then %d trials of at least %v each\n", len(metrics), f.warmup, f.trials, f.duration)
	res, err := bench.RunAll(ctx, metrics, bench.Options{Trials: f.trials, Warmup: f.warmup, Duration: f.duration}, out)
	if f.jsonPath != "" {
		if jerr := bench.WriteJSONFile(f.jsonPath, res); jerr != nil {
			err = errors.Join(err, jerr)
		}
	}
	return err
}

// writeHeapProfile writes the driver's heap profile (allocations since
// start and what is live now) to path; a failure is reported, not fatal.
func writeHeapProfile(path string, errOut io.Writer) {
	f, err := os.Create(path)
	if err == nil {
		err = pprof.Lookup("heap").WriteTo(f, 0)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
	}
	if err != nil {
		fmt.Fprintf(errOut, "goray microbenchmark: --memprofile: %v\n", err)
	}
}

// clusterCPUs is the CPU total of the cluster's alive nodes (0 if unknown).
func clusterCPUs(ctx context.Context) float64 {
	nodes, err := ray.Nodes(ctx)
	if err != nil {
		return 0
	}
	total := 0.0
	for _, n := range nodes {
		if n.Alive {
			total += n.Resources["CPU"]
		}
	}
	return total
}
