package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"regexp"
	"runtime"
	"strings"
	"time"
)

// Metric is one benchmark: a setup and an operation to time.
type Metric struct {
	Name string
	Unit string // UnitRate or UnitGBps
	// Setup, if set, runs once before the warm-up, untimed. It prepares what
	// Run uses (actors, objects) and returns a function releasing it (or
	// nil). An error wrapping ErrSkip skips the metric with a note.
	Setup func(ctx context.Context) (teardown func(), err error)
	// Run does one operation and returns what it counts: operations (Ray's
	// multiplier, e.g. 1000 for a batch of 1000 calls) or, for UnitGBps,
	// gigabytes. Work between t.Stop() and t.Start() is not timed.
	Run func(ctx context.Context, t *Timer) (count float64, err error)
}

// ErrSkip, wrapped by a Setup error, skips a metric: the reason is printed.
var ErrSkip = errors.New("skipped")

// Timer measures a trial; an operation can pause it for untimed work.
type Timer struct {
	start   time.Time
	elapsed time.Duration
	running bool
}

// Start resumes timing (a no-op if running).
func (t *Timer) Start() {
	if t != nil && !t.running {
		t.start, t.running = time.Now(), true
	}
}

// Stop pauses timing (a no-op if stopped).
func (t *Timer) Stop() {
	if t != nil && t.running {
		t.elapsed += time.Since(t.start)
		t.running = false
	}
}

// Elapsed is the timed duration so far.
func (t *Timer) Elapsed() time.Duration {
	if t.running {
		return t.elapsed + time.Since(t.start)
	}
	return t.elapsed
}

// Options set the method: a warm-up, then Trials trials of Duration each.
type Options struct {
	Trials   int           // default 5
	Warmup   time.Duration // default 1 s (Ray's); 0 runs the operation once
	Duration time.Duration // per trial, default 1 s (Ray: 2 s); each trial runs at least one step
	// Timeout bounds one metric, setup to teardown (default 5 min plus
	// four times the planned time).
	Timeout time.Duration
}

// DefaultOptions are 5 trials of 1 s after a 1 s warm-up.
func DefaultOptions() Options {
	return Options{Trials: 5, Warmup: time.Second, Duration: time.Second}
}

func (o Options) withDefaults() Options {
	if o.Trials <= 0 {
		o.Trials = 5
	}
	if o.Warmup < 0 {
		o.Warmup = 0
	}
	if o.Duration < 0 {
		o.Duration = 0
	}
	if o.Timeout <= 0 {
		o.Timeout = 5*time.Minute + 4*(o.Warmup+time.Duration(o.Trials)*o.Duration)
	}
	return o
}

// Filter keeps the metrics whose names match re (all if re is nil).
func Filter(metrics []Metric, re *regexp.Regexp) []Metric {
	if re == nil {
		return metrics
	}
	var out []Metric
	for _, m := range metrics {
		if re.MatchString(m.Name) {
			out = append(out, m)
		}
	}
	return out
}

// RunAll runs the metrics in order and writes one line per metric to out
// as it finishes (Result.Line; "NAME skipped: why" or "NAME failed: err"
// for the others). A failed metric does not stop the others: RunAll
// returns the results it has and the failures joined. It stops early only
// when ctx ends.
func RunAll(ctx context.Context, metrics []Metric, o Options, out io.Writer) ([]Result, error) {
	o = o.withDefaults()
	var results []Result
	var errs []error
	for _, m := range metrics {
		if err := ctx.Err(); err != nil {
			errs = append(errs, err)
			break
		}
		r, err := runOne(ctx, m, o)
		switch {
		case errors.Is(err, ErrSkip):
			fmt.Fprintf(out, "%s skipped: %s\n", m.Name, strings.TrimPrefix(err.Error(), ErrSkip.Error()+": "))
		case err != nil:
			fmt.Fprintf(out, "%s failed: %v\n", m.Name, err)
			errs = append(errs, fmt.Errorf("%s: %w", m.Name, err))
		default:
			fmt.Fprintln(out, r.Line())
			results = append(results, r)
		}
	}
	return results, errors.Join(errs...)
}

// runOne is Ray's timeit for one metric.
func runOne(parent context.Context, m Metric, o Options) (Result, error) {
	ctx, cancel := context.WithTimeout(parent, o.Timeout)
	defer cancel()
	var teardown func()
	if m.Setup != nil {
		var err error
		if teardown, err = m.Setup(ctx); err != nil {
			return Result{}, err
		}
	}
	defer func() {
		if teardown != nil {
			teardown()
		}
		// Release this metric's objects before the next one, and let the
		// heap goal fall back: after a metric that held a big value, the
		// next would otherwise run on fresh memory until the heap reached
		// twice that value.
		runtime.GC()
	}()

	// Warm-up: count the calls that fit in o.Warmup (at least one).
	calls := 0
	start := time.Now()
	for {
		if _, err := m.Run(ctx, &Timer{}); err != nil {
			return Result{}, fmt.Errorf("warm-up: %w", err)
		}
		calls++
		if time.Since(start) >= o.Warmup {
			break
		}
	}
	// Ray: step = calls in the 1 s warm-up // 10 + 1, i.e. about 100 ms.
	step := 1
	if warm := time.Since(start); warm > 0 {
		step = int(float64(calls)*float64(100*time.Millisecond)/float64(warm)) + 1
	}

	rates := make([]float64, 0, o.Trials)
	for range o.Trials {
		var t Timer
		count := 0.0
		wall := time.Now()
		t.Start()
		for {
			for range step {
				c, err := m.Run(ctx, &t)
				if err != nil {
					return Result{}, err
				}
				count += c
			}
			if time.Since(wall) >= o.Duration {
				break
			}
		}
		t.Stop()
		secs := t.Elapsed().Seconds()
		if secs <= 0 {
			secs = 1e-9
		}
		rates = append(rates, count/secs)
	}
	return Result{Name: m.Name, Unit: m.Unit, Mean: Mean(rates), SD: SD(rates), Trials: rates}, nil
}
