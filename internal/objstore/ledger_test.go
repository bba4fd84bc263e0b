package objstore

import (
	"errors"
	"slices"
	"testing"
	"time"
)

// ledgerStep is one call on the ledger and what it should do. Times are
// offsets from a fixed origin; names identify waiters across steps.
type ledgerStep struct {
	op   string // reserve, release, cancel, expire, drain, pool, unpool
	name string // reserve, cancel: the waiter
	size int64  // reserve, release, pool, unpool
	at   time.Duration

	wantErr     error
	wantState   waitState // reserve, cancel: the named waiter's state after
	wantWoken   []string  // granted (reserve/release/cancel/expire) or cancelled (drain)
	wantExpired []string  // expire
	wantUsed    int64
	wantPoolOK  bool  // pool: whether the file joins the pool
	wantPooled  int64 // after every step
	wantExcess  int64 // after every step
}

func TestLedger(t *testing.T) {
	const grace = time.Second
	tests := []struct {
		name     string
		capacity int64
		grace    time.Duration
		steps    []ledgerStep
	}{
		{"reserve within capacity", 100, grace, []ledgerStep{
			{op: "reserve", name: "a", size: 40, wantState: waitGranted, wantUsed: 40},
			{op: "reserve", name: "b", size: 60, wantState: waitGranted, wantUsed: 100},
			{op: "reserve", name: "empty", size: 0, wantState: waitGranted, wantUsed: 100},
			{op: "release", size: 40, wantUsed: 60},
			{op: "release", size: 60, wantUsed: 0},
		}},
		{"block when full, released by delete", 100, grace, []ledgerStep{
			{op: "reserve", name: "a", size: 80, wantState: waitGranted, wantUsed: 80},
			{op: "reserve", name: "b", size: 30, wantState: waitQueued, wantUsed: 80},
			// c would fit but queues behind b (FIFO).
			{op: "reserve", name: "c", size: 10, wantState: waitQueued, wantUsed: 80},
			{op: "release", size: 80, wantWoken: []string{"b", "c"}, wantUsed: 40},
		}},
		{"release grants only what fits, in order", 100, grace, []ledgerStep{
			{op: "reserve", name: "a", size: 50, wantState: waitGranted, wantUsed: 50},
			{op: "reserve", name: "b", size: 50, wantState: waitGranted, wantUsed: 100},
			{op: "reserve", name: "c", size: 60, wantState: waitQueued, wantUsed: 100},
			{op: "reserve", name: "d", size: 10, wantState: waitQueued, wantUsed: 100},
			{op: "release", size: 50, wantUsed: 50},
			{op: "release", size: 50, wantWoken: []string{"c", "d"}, wantUsed: 70},
		}},
		{"grace period timeout", 100, grace, []ledgerStep{
			{op: "reserve", name: "a", size: 100, wantState: waitGranted, wantUsed: 100},
			{op: "reserve", name: "b", size: 10, wantState: waitQueued, wantUsed: 100},
			{op: "reserve", name: "c", size: 10, at: 500 * time.Millisecond, wantState: waitQueued, wantUsed: 100},
			{op: "expire", at: 999 * time.Millisecond, wantUsed: 100},
			{op: "expire", at: grace, wantExpired: []string{"b"}, wantUsed: 100},
			{op: "expire", at: 2 * grace, wantExpired: []string{"c"}, wantUsed: 100},
			{op: "release", size: 100, wantUsed: 0},
		}},
		{"expiry of the head lets the next in", 100, grace, []ledgerStep{
			{op: "reserve", name: "a", size: 70, wantState: waitGranted, wantUsed: 70},
			{op: "reserve", name: "b", size: 50, wantState: waitQueued, wantUsed: 70},
			{op: "reserve", name: "c", size: 20, at: 500 * time.Millisecond, wantState: waitQueued, wantUsed: 70},
			{op: "expire", at: grace, wantExpired: []string{"b"}, wantWoken: []string{"c"}, wantUsed: 90},
		}},
		{"no grace period fails at once", 100, -1, []ledgerStep{
			{op: "reserve", name: "a", size: 90, wantState: waitGranted, wantUsed: 90},
			{op: "reserve", name: "b", size: 20, wantErr: ErrObjectStoreFull, wantState: waitExpired, wantUsed: 90},
		}},
		{"ctx cancel", 100, grace, []ledgerStep{
			{op: "reserve", name: "a", size: 100, wantState: waitGranted, wantUsed: 100},
			{op: "reserve", name: "b", size: 50, wantState: waitQueued, wantUsed: 100},
			{op: "reserve", name: "c", size: 10, wantState: waitQueued, wantUsed: 100},
			{op: "cancel", name: "b", wantState: waitCancelled, wantUsed: 100},
			{op: "cancel", name: "b", wantState: waitCancelled, wantUsed: 100},
			{op: "release", size: 100, wantWoken: []string{"c"}, wantUsed: 10},
			// Cancelling a granted request changes nothing: its holder releases.
			{op: "cancel", name: "c", wantState: waitGranted, wantUsed: 10},
		}},
		{"cancelling the head lets the next in", 100, grace, []ledgerStep{
			{op: "reserve", name: "a", size: 60, wantState: waitGranted, wantUsed: 60},
			{op: "reserve", name: "b", size: 50, wantState: waitQueued, wantUsed: 60},
			{op: "reserve", name: "c", size: 30, wantState: waitQueued, wantUsed: 60},
			{op: "cancel", name: "b", wantState: waitCancelled, wantWoken: []string{"c"}, wantUsed: 90},
		}},
		{"too large fails at once", 100, grace, []ledgerStep{
			{op: "reserve", name: "a", size: 101, wantErr: ErrTooLarge, wantState: waitExpired, wantUsed: 0},
			{op: "reserve", name: "b", size: 100, wantState: waitGranted, wantUsed: 100},
			{op: "reserve", name: "c", size: 1000, wantErr: ErrTooLarge, wantState: waitExpired, wantUsed: 100},
		}},
		{"drain cancels the queue", 100, grace, []ledgerStep{
			{op: "reserve", name: "a", size: 100, wantState: waitGranted, wantUsed: 100},
			{op: "reserve", name: "b", size: 1, wantState: waitQueued, wantUsed: 100},
			{op: "reserve", name: "c", size: 2, wantState: waitQueued, wantUsed: 100},
			{op: "drain", wantWoken: []string{"b", "c"}, wantUsed: 100},
			{op: "release", size: 100, wantUsed: 0},
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			runLedgerSteps(t, &ledger{capacity: tc.capacity}, tc.grace, tc.steps)
		})
	}
}

// TestLedgerPool covers the pool of recycled files: pooled bytes count
// against the capacity but never make a request wait; the granted Create
// evicts them (excess says how much).
func TestLedgerPool(t *testing.T) {
	const grace = time.Second
	tests := []struct {
		name                string
		capacity, poolLimit int64
		steps               []ledgerStep
	}{
		{"freed file joins the pool and is reused", 100, 50, []ledgerStep{
			{op: "reserve", name: "a", size: 40, wantState: waitGranted, wantUsed: 40},
			{op: "release", size: 40, wantUsed: 0},
			{op: "pool", size: 40, wantPoolOK: true, wantPooled: 40},
			// b is granted at once and takes a's file.
			{op: "reserve", name: "b", size: 40, wantState: waitGranted, wantUsed: 40, wantPooled: 40},
			{op: "unpool", size: 40, wantUsed: 40},
		}},
		{"pool budget", 100, 50, []ledgerStep{
			{op: "pool", size: 30, wantPoolOK: true, wantPooled: 30},
			{op: "pool", size: 30, wantPoolOK: false, wantPooled: 30},
			{op: "pool", size: 20, wantPoolOK: true, wantPooled: 50},
			{op: "pool", size: 0, wantPoolOK: false, wantPooled: 50},
		}},
		{"no pool when the limit is 0", 100, 0, []ledgerStep{
			{op: "pool", size: 10, wantPoolOK: false},
		}},
		{"pool must fit beside the objects", 100, 50, []ledgerStep{
			{op: "reserve", name: "a", size: 70, wantState: waitGranted, wantUsed: 70},
			{op: "pool", size: 40, wantPoolOK: false, wantUsed: 70},
			{op: "pool", size: 30, wantPoolOK: true, wantUsed: 70, wantPooled: 30},
		}},
		{"pooled bytes do not block a grant; the grant evicts", 100, 50, []ledgerStep{
			{op: "reserve", name: "a", size: 60, wantState: waitGranted, wantUsed: 60},
			{op: "pool", size: 20, wantPoolOK: true, wantUsed: 60, wantPooled: 20},
			{op: "pool", size: 20, wantPoolOK: true, wantUsed: 60, wantPooled: 40},
			// b fits beside a only without the pool: granted, 30 to evict.
			{op: "reserve", name: "b", size: 30, wantState: waitGranted, wantUsed: 90, wantPooled: 40, wantExcess: 30},
			{op: "unpool", size: 20, wantUsed: 90, wantPooled: 20, wantExcess: 10},
			{op: "unpool", size: 20, wantUsed: 90},
		}},
		{"queued request granted on release may evict", 100, 50, []ledgerStep{
			{op: "reserve", name: "a", size: 50, wantState: waitGranted, wantUsed: 50},
			{op: "reserve", name: "b", size: 40, wantState: waitGranted, wantUsed: 90},
			{op: "reserve", name: "c", size: 60, wantState: waitQueued, wantUsed: 90},
			{op: "release", size: 40, wantUsed: 50},
			{op: "pool", size: 40, wantPoolOK: true, wantUsed: 50, wantPooled: 40},
			// Freeing a lets c in; c must take or evict the pooled file.
			{op: "release", size: 50, wantWoken: []string{"c"}, wantUsed: 60, wantPooled: 40},
			{op: "unpool", size: 40, wantUsed: 60},
		}},
		{"pooled bytes do not count as full", 100, 50, []ledgerStep{
			{op: "pool", size: 50, wantPoolOK: true, wantPooled: 50},
			{op: "reserve", name: "a", size: 100, wantState: waitGranted, wantUsed: 100, wantPooled: 50, wantExcess: 50},
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			runLedgerSteps(t, &ledger{capacity: tc.capacity, poolLimit: tc.poolLimit}, grace, tc.steps)
		})
	}
}

// runLedgerSteps applies steps to l in order, checking each one.
func runLedgerSteps(t *testing.T, l *ledger, grace time.Duration, steps []ledgerStep) {
	t.Helper()
	origin := time.Unix(1_700_000_000, 0)
	byName := map[string]*waiter{}
	names := func(ws []*waiter) []string {
		var out []string
		for _, w := range ws {
			for n, x := range byName {
				if x == w {
					out = append(out, n)
				}
			}
		}
		return out
	}
	for i, st := range steps {
		now := origin.Add(st.at)
		var err error
		var woken, expired []*waiter
		switch st.op {
		case "reserve":
			w := &waiter{size: st.size}
			byName[st.name] = w
			err = l.reserve(w, now, grace)
		case "release":
			woken = l.release(st.size)
		case "cancel":
			woken = l.cancel(byName[st.name])
		case "expire":
			expired, woken = l.expire(now)
		case "drain":
			woken = l.drain()
		case "pool":
			if ok := l.pool(st.size); ok != st.wantPoolOK {
				t.Errorf("step %d pool %d: ok = %v, want %v", i, st.size, ok, st.wantPoolOK)
			}
		case "unpool":
			l.unpool(st.size)
		default:
			t.Fatalf("step %d: unknown op %q", i, st.op)
		}
		if !errors.Is(err, st.wantErr) || (err != nil) != (st.wantErr != nil) {
			t.Errorf("step %d %s %s: err = %v, want %v", i, st.op, st.name, err, st.wantErr)
		}
		if st.name != "" {
			if got := byName[st.name].state; got != st.wantState {
				t.Errorf("step %d %s %s: state = %v, want %v", i, st.op, st.name, got, st.wantState)
			}
		}
		if got := names(woken); !slices.Equal(got, st.wantWoken) {
			t.Errorf("step %d %s: woken = %v, want %v", i, st.op, got, st.wantWoken)
		}
		if got := names(expired); !slices.Equal(got, st.wantExpired) {
			t.Errorf("step %d %s: expired = %v, want %v", i, st.op, got, st.wantExpired)
		}
		if l.used != st.wantUsed {
			t.Errorf("step %d %s: used = %d, want %d", i, st.op, l.used, st.wantUsed)
		}
		if l.pooled != st.wantPooled {
			t.Errorf("step %d %s: pooled = %d, want %d", i, st.op, l.pooled, st.wantPooled)
		}
		if got := l.excess(); got != st.wantExcess {
			t.Errorf("step %d %s: excess = %d, want %d", i, st.op, got, st.wantExcess)
		}
	}
}

func TestLedgerReleaseTooMuchPanics(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Error("release of more than is used did not panic")
		}
	}()
	l := ledger{capacity: 10}
	l.release(1)
}

func TestLedgerUnpoolTooMuchPanics(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Error("unpool of more than is pooled did not panic")
		}
	}()
	l := ledger{capacity: 10, poolLimit: 5}
	l.pool(2)
	l.unpool(3)
}
