package ray_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/goray/ray"
)

// ErrNotFound is a sentinel registered so errors.Is works across processes.
var ErrNotFound = errors.New("thing not found")

// QuotaError is a registered error type, re-created on the caller's side.
type QuotaError struct{ Limit int }

func (e *QuotaError) Error() string { return fmt.Sprintf("quota %d exceeded", e.Limit) }

func init() {
	ray.RegisterError(ErrNotFound)
	ray.RegisterError(&QuotaError{})
}

var (
	failWith = ray.Func1Err(func(kind string) (int, error) {
		switch kind {
		case "sentinel":
			return 0, fmt.Errorf("looking up: %w", ErrNotFound)
		case "typed":
			return 0, &QuotaError{Limit: 7}
		case "plain":
			return 0, errors.New("plain failure")
		case "panic":
			var m map[string]int
			m["x"] = 1 // nil map write panics
		}
		return 1, nil
	})
	// crashUntil kills its worker until the marker file has n lines, so the
	// task succeeds on attempt n (0-based).
	crashUntil = ray.Func2(func(marker string, n int) int {
		b, _ := os.ReadFile(marker)
		tries := strings.Count(string(b), "\n")
		f, _ := os.OpenFile(marker, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o600)
		fmt.Fprintln(f, "try")
		f.Close()
		if tries < n {
			os.Exit(3)
		}
		return tries
	})
	flaky = ray.Func2Err(func(marker string, n int) (int, error) {
		b, _ := os.ReadFile(marker)
		tries := strings.Count(string(b), "\n")
		os.WriteFile(marker, append(b, "x\n"...), 0o600)
		if tries < n {
			return 0, errors.New("transient")
		}
		return tries, nil
	})
	sleepCtx = ray.Func1Ctx(func(ctx context.Context, d time.Duration) (string, error) {
		select {
		case <-time.After(d):
			return "slept", nil
		case <-ctx.Done():
			return "", ctx.Err()
		}
	})
	sleepHard = ray.Func1(func(d time.Duration) string { time.Sleep(d); return "slept" })
)

func TestTaskErrors(t *testing.T) {
	ctx := start(t, ray.NumCPUs(1))
	_, err := ray.Get(ctx, failWith.Remote("sentinel"))
	var te *ray.TaskError
	if !errors.As(err, &te) || !errors.Is(err, ErrNotFound) || te.PID == os.Getpid() || te.PID == 0 ||
		!strings.Contains(te.Func, "ray_test") || !strings.Contains(te.Msg, "looking up: thing not found") {
		t.Fatalf("sentinel: %#v / %v", te, err)
	}
	_, err = ray.Get(ctx, failWith.Remote("typed"))
	var qe *QuotaError
	if !errors.As(err, &qe) || qe.Limit != 7 {
		t.Fatalf("typed: %v (%#v)", err, qe)
	}
	_, err = ray.Get(ctx, failWith.Remote("plain"))
	if !errors.As(err, &te) || te.Cause != nil || te.Panic || te.Msg != "plain failure" {
		t.Fatalf("plain: %#v", te)
	}
	_, err = ray.Get(ctx, failWith.Remote("panic"))
	if !errors.As(err, &te) || !te.Panic || !strings.Contains(te.Stack, "faults_test.go") || !strings.Contains(te.Msg, "nil map") {
		t.Fatalf("panic: %#v", te)
	}
	// A failed dependency fails the dependent task with the same error.
	_, err = ray.Get(ctx, square.Remote(failWith.Remote("sentinel")))
	if !errors.Is(err, ErrNotFound) {
		t.Fatalf("dependent task: %v", err)
	}
	// The worker survives application errors and panics.
	if v, err := ray.Get(ctx, failWith.Remote("ok")); err != nil || v != 1 {
		t.Fatalf("after errors: %d, %v", v, err)
	}
}

func TestWorkerCrashRetries(t *testing.T) {
	ctx := start(t, ray.NumCPUs(1))
	dir := t.TempDir()
	// Dies twice, succeeds on the third attempt: within MaxRetries (3).
	v, err := ray.Get(ctx, crashUntil.Remote(filepath.Join(dir, "a"), 2))
	if err != nil || v != 2 {
		t.Fatalf("retried task = %d, %v; want 2", v, err)
	}
	// Dies every time: 1 + MaxRetries(1) attempts, then ErrWorkerCrashed.
	_, err = ray.Get(ctx, crashUntil.Options(ray.MaxRetries(1)).Remote(filepath.Join(dir, "b"), 10))
	if !errors.Is(err, ray.ErrWorkerCrashed) {
		t.Fatalf("want ErrWorkerCrashed, got %v", err)
	}
	b, _ := os.ReadFile(filepath.Join(dir, "b"))
	if n := strings.Count(string(b), "\n"); n != 2 {
		t.Fatalf("attempts = %d, want 2", n)
	}
	// Application errors are retried only with RetryExceptions.
	_, err = ray.Get(ctx, flaky.Remote(filepath.Join(dir, "c"), 1))
	if err == nil {
		t.Fatal("flaky task without RetryExceptions succeeded")
	}
	v, err = ray.Get(ctx, flaky.Options(ray.RetryExceptions(true)).Remote(filepath.Join(dir, "d"), 2))
	if err != nil || v != 2 {
		t.Fatalf("RetryExceptions: %d, %v", v, err)
	}
}

func TestCancel(t *testing.T) {
	ctx := start(t, ray.NumCPUs(1))
	// A running task sees its context cancelled.
	r := sleepCtx.Remote(time.Minute)
	waitRunning(t)
	if err := ray.Cancel(r); err != nil {
		t.Fatal(err)
	}
	if _, err := ray.Get(ctx, r); !errors.Is(err, ray.ErrTaskCancelled) {
		t.Fatalf("cancelled: %v", err)
	}
	// A task that ignores its context is stopped with Force (its worker dies).
	r = sleepHard.Remote(time.Minute)
	queued := sleepHard.Remote(time.Minute) // 1 CPU: this one waits
	waitRunning(t)
	if err := ray.Cancel(queued); err != nil {
		t.Fatal(err)
	}
	if _, err := ray.Get(ctx, queued); !errors.Is(err, ray.ErrTaskCancelled) {
		t.Fatalf("queued cancelled: %v", err)
	}
	if err := ray.Cancel(r, ray.Force()); err != nil {
		t.Fatal(err)
	}
	if _, err := ray.Get(ctx, r); !errors.Is(err, ray.ErrTaskCancelled) {
		t.Fatalf("force cancelled: %v", err)
	}
	// Life goes on.
	if v, err := ray.Get(ctx, square.Remote(5)); err != nil || v != 25 {
		t.Fatalf("after cancel: %d, %v", v, err)
	}
}

// waitRunning waits until the node has leased out its CPU.
func waitRunning(t *testing.T) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for ray.NodeStatus().Available["CPU"] > 0 {
		if time.Now().After(deadline) {
			t.Fatal("task never started")
		}
		time.Sleep(5 * time.Millisecond)
	}
	time.Sleep(50 * time.Millisecond) // the push reaches the worker
}

func TestGetTimeoutAndWait(t *testing.T) {
	ctx := start(t, ray.NumCPUs(2))
	slow := sleepCtx.Remote(30 * time.Second)
	tctx, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
	defer cancel()
	if _, err := ray.Get(tctx, slow); !errors.Is(err, ray.ErrTimeout) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Get timeout: %v", err)
	}
	fast := []ray.Ref[string]{sleepCtx.Remote(0), slow, sleepCtx.Remote(10 * time.Millisecond)}
	ready, notReady, err := ray.Wait(ctx, fast, 2, 20*time.Second)
	if err != nil || len(ready) != 2 || len(notReady) != 1 || notReady[0].ID() != slow.ID() {
		t.Fatalf("Wait: ready %v notReady %v err %v", ready, notReady, err)
	}
	ready, notReady, err = ray.Wait(ctx, fast, 3, 50*time.Millisecond)
	if err != nil || len(ready) != 2 || len(notReady) != 1 {
		t.Fatalf("Wait with timeout: ready %d notReady %d err %v", len(ready), len(notReady), err)
	}
	if _, _, err := ray.Wait(ctx, fast, 4, 0); !errors.Is(err, ray.ErrInvalidArgument) {
		t.Fatalf("Wait for more than given: %v", err)
	}
	// At most numReturns ready refs, the first ready ones in input order;
	// the rest, ready or not, in order among the not ready.
	ready, notReady, err = ray.Wait(ctx, []ray.Ref[string]{slow, fast[2], fast[0]}, 1, 0)
	if err != nil || len(ready) != 1 || ready[0].ID() != fast[2].ID() ||
		len(notReady) != 2 || notReady[0].ID() != slow.ID() || notReady[1].ID() != fast[0].ID() {
		t.Fatalf("Wait for one: ready %v notReady %v err %v", ready, notReady, err)
	}
	if _, _, err := ray.Wait(ctx, []ray.Ref[string]{fast[0], {}}, 1, 0); !errors.Is(err, ray.ErrInvalidArgument) {
		t.Fatalf("Wait with a zero Ref: %v", err)
	}
	ray.Cancel(slow)
}
