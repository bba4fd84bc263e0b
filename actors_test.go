package ray_test

import (
	"context"
	"errors"
	"os"
	"sync/atomic"
	"testing"
	"time"

	"github.com/goray/ray"
)

type Log struct {
	entries []int
	active  atomic.Int32
	peak    atomic.Int32
}

func (l *Log) Append(v int) []int { l.entries = append(l.entries, v); return l.entries }
func (l *Log) Len() int           { return len(l.entries) }
func (l *Log) PID() int           { return os.Getpid() }
func (l *Log) Crash()             { os.Exit(7) }

// CrashOnce kills the actor's process the first time (marker absent), and
// returns the pid on the retry.
func (l *Log) CrashOnce(marker string) int {
	if _, err := os.Stat(marker); err != nil {
		os.WriteFile(marker, nil, 0o600)
		os.Exit(8)
	}
	return os.Getpid()
}

// Slow records how many calls overlap.
func (l *Log) Slow(d time.Duration) int {
	n := l.active.Add(1)
	for {
		p := l.peak.Load()
		if n <= p || l.peak.CompareAndSwap(p, n) {
			break
		}
	}
	time.Sleep(d)
	l.active.Add(-1)
	return int(l.peak.Load())
}

type Account struct{ balance int }

var (
	newLog    = ray.Actor1(func(start int) *Log { return &Log{entries: []int{start}} })
	logAppend = ray.Method1((*Log).Append)
	logLen    = ray.Method0((*Log).Len)
	logPID    = ray.Method0((*Log).PID)
	logCrash  = ray.Method0Void((*Log).Crash)
	logSlow   = ray.Method1((*Log).Slow)
	logCrash1 = ray.Method1((*Log).CrashOnce)

	newAccount = ray.Actor1Err(func(b int) (*Account, error) {
		if b < 0 {
			return nil, errors.New("negative opening balance")
		}
		return &Account{balance: b}, nil
	})
	accountBalance = ray.Method0(func(a *Account) int { return a.balance })

	// appendVia calls an actor from inside a task: handles travel.
	appendVia = ray.Func2Ctx(func(ctx context.Context, h *ray.ActorHandle[Log], v int) (int, error) {
		entries, err := ray.Get(ctx, logAppend.Remote(h, v))
		return len(entries), err
	})
)

func TestActorOrderAndState(t *testing.T) {
	ctx := start(t, ray.NumCPUs(2))
	l, err := newLog.Remote(100)
	if err != nil {
		t.Fatal(err)
	}
	var last ray.Ref[[]int]
	for i := range 50 {
		last = logAppend.Remote(l, i)
	}
	got, err := ray.Get(ctx, last)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 51 || got[0] != 100 {
		t.Fatalf("entries = %v", got)
	}
	for i := range 50 {
		if got[i+1] != i {
			t.Fatalf("calls ran out of order: %v", got)
		}
	}
	// The handle works from inside a task.
	if n, err := ray.Get(ctx, appendVia.Remote(l, 7)); err != nil || n != 52 {
		t.Fatalf("call from a task: %d, %v", n, err)
	}
	// A constructor error kills the actor; calls report it.
	a, err := newAccount.Remote(-1)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ray.Get(ctx, accountBalance.Remote(a)); !errors.Is(err, ray.ErrActorDied) {
		t.Fatalf("constructor failure: %v", err)
	}
}

func TestActorConcurrency(t *testing.T) {
	ctx := start(t, ray.NumCPUs(2))
	seq, _ := newLog.Remote(0)
	conc, _ := newLog.Options(ray.MaxConcurrency(4)).Remote(0)
	var rs, rc []ray.Ref[int]
	for range 4 {
		rs = append(rs, logSlow.Remote(seq, 50*time.Millisecond))
		rc = append(rc, logSlow.Remote(conc, 50*time.Millisecond))
	}
	ps, err := ray.GetAll(ctx, rs...)
	if err != nil {
		t.Fatal(err)
	}
	pc, err := ray.GetAll(ctx, rc...)
	if err != nil {
		t.Fatal(err)
	}
	if ps[3] != 1 {
		t.Fatalf("sequential actor overlapped calls: peak %d", ps[3])
	}
	if pc[3] < 2 {
		t.Fatalf("MaxConcurrency(4) actor never overlapped calls: peak %d", pc[3])
	}
}

func TestNamedActorsAndKill(t *testing.T) {
	ctx := start(t, ray.NumCPUs(2))
	l, err := newLog.Options(ray.Name("journal")).Remote(1)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := newLog.Options(ray.Name("journal")).Remote(2); !errors.Is(err, ray.ErrNameTaken) {
		t.Fatalf("duplicate name: %v", err)
	}
	found, err := ray.GetActor[Log](ctx, "journal")
	if err != nil || found.ID() != l.ID() {
		t.Fatalf("GetActor: %v, %v", found, err)
	}
	if _, err := ray.GetActor[Account](ctx, "journal"); !errors.Is(err, ray.ErrInvalidArgument) {
		t.Fatalf("GetActor with the wrong type: %v", err)
	}
	if _, err := ray.GetActor[Log](ctx, "nobody"); !errors.Is(err, ray.ErrActorNotFound) {
		t.Fatalf("GetActor of a missing name: %v", err)
	}
	if _, err := ray.GetActor[Log](ctx, "journal", "other-namespace"); !errors.Is(err, ray.ErrActorNotFound) {
		t.Fatalf("GetActor in another namespace: %v", err)
	}
	if n, err := ray.Get(ctx, logLen.Remote(found)); err != nil || n != 1 {
		t.Fatalf("call through found handle: %d, %v", n, err)
	}
	if err := ray.Kill(l); err != nil {
		t.Fatal(err)
	}
	if _, err := ray.Get(ctx, logLen.Remote(l)); !errors.Is(err, ray.ErrActorDied) {
		t.Fatalf("call after Kill: %v", err)
	}
	// The name is free again once the actor is dead.
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, err := newLog.Options(ray.Name("journal")).Remote(3)
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("name never freed: %v", err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestActorRestart(t *testing.T) {
	ctx := start(t, ray.NumCPUs(2))
	l, err := newLog.Options(ray.MaxRestarts(1)).Remote(5)
	if err != nil {
		t.Fatal(err)
	}
	logAppend.Remote(l, 6)
	pid1, err := ray.Get(ctx, logPID.Remote(l))
	if err != nil {
		t.Fatal(err)
	}
	_, err = ray.Get(ctx, logCrash.Remote(l))
	if !errors.Is(err, ray.ErrActorDied) {
		t.Fatalf("call that crashed the actor: %v", err)
	}
	// Restarted: constructor ran again (state reset), new process.
	n, err := ray.Get(ctx, logLen.Remote(l))
	if err != nil || n != 1 {
		t.Fatalf("after restart: len %d, %v; want 1 (fresh state)", n, err)
	}
	pid2, _ := ray.Get(ctx, logPID.Remote(l))
	if pid2 == pid1 {
		t.Fatal("restarted actor has the same pid")
	}
	// Out of restarts: the next crash is final.
	ray.Get(ctx, logCrash.Remote(l))
	if _, err := ray.Get(ctx, logLen.Remote(l)); !errors.Is(err, ray.ErrActorDied) {
		t.Fatalf("after final crash: %v", err)
	}
}

func TestActorTaskRetries(t *testing.T) {
	ctx := start(t, ray.NumCPUs(2))
	l, err := newLog.Options(ray.MaxRestarts(-1), ray.MaxTaskRetries(-1)).Remote(0)
	if err != nil {
		t.Fatal(err)
	}
	// Kill with AllowRestart: the in-flight and later calls go to the new
	// incarnation.
	pid1, _ := ray.Get(ctx, logPID.Remote(l))
	if err := ray.Kill(l, ray.AllowRestart()); err != nil {
		t.Fatal(err)
	}
	pid2, err := ray.Get(ctx, logPID.Remote(l))
	if err != nil || pid2 == pid1 {
		t.Fatalf("after restart: pid %d (was %d), %v", pid2, pid1, err)
	}
}

func TestActorCallInFlightIsRetried(t *testing.T) {
	ctx := start(t, ray.NumCPUs(2))
	marker := t.TempDir() + "/crashed"
	l, err := newLog.Options(ray.MaxRestarts(1), ray.MaxTaskRetries(1)).Remote(0)
	if err != nil {
		t.Fatal(err)
	}
	pid1, _ := ray.Get(ctx, logPID.Remote(l))
	// The call kills the actor; it is retried on the restarted instance.
	pid2, err := ray.Get(ctx, logCrash1.Remote(l, marker))
	if err != nil || pid2 == pid1 || pid2 == 0 {
		t.Fatalf("retried call: pid %d (first %d), %v", pid2, pid1, err)
	}
	// Without MaxTaskRetries the same crash fails the call.
	m2 := t.TempDir() + "/crashed"
	l2, _ := newLog.Options(ray.MaxRestarts(1)).Remote(0)
	if _, err := ray.Get(ctx, logCrash1.Remote(l2, m2)); !errors.Is(err, ray.ErrActorDied) {
		t.Fatalf("call without retries: %v", err)
	}
}
