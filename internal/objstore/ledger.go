package objstore

import (
	"fmt"
	"slices"
	"time"
)

// The ledger is the store's capacity accounting: a small state machine with
// no I/O, no goroutines and no clock of its own (callers pass the time in),
// so that its behaviour can be checked step by step in a table test. The
// Store holds its mutex around every call and turns the waiters the ledger
// hands back into channel wake-ups.
//
// Reservations are served first come, first served: once a request has to
// wait, later requests queue behind it even if they would fit, so that a large
// object is not starved by a stream of small ones (Ray's plasma create queue
// is FIFO too).
//
// The ledger also counts the pool: files of deleted objects that the store
// keeps to recycle for later objects instead of unlinking them (see
// pool.go). Pooled bytes are memory the store still holds, so they count
// against the capacity, but they never make a request wait: a grant only
// needs used+size <= capacity, and the Create that was granted then evicts
// pooled files (unpool) until excess() is zero, before it makes its own
// file.

// waitState is where a reservation request stands.
type waitState uint8

const (
	waitNone      waitState = iota // not yet passed to reserve
	waitQueued                     // queued for capacity
	waitGranted                    // capacity reserved; the holder must release it
	waitExpired                    // grace period ran out while queued
	waitCancelled                  // withdrawn by its caller or by drain
)

func (s waitState) String() string {
	switch s {
	case waitNone:
		return "none"
	case waitQueued:
		return "queued"
	case waitGranted:
		return "granted"
	case waitExpired:
		return "expired"
	case waitCancelled:
		return "cancelled"
	}
	return fmt.Sprintf("waitState(%d)", uint8(s))
}

// waiter is one request for size bytes of capacity.
type waiter struct {
	size     int64
	deadline time.Time // when a queued request expires
	state    waitState
	done     chan struct{} // owned by the Store; the ledger never touches it
}

// ledger tracks used capacity and the queue of requests waiting for it.
// The zero value is not usable: set capacity.
type ledger struct {
	capacity int64
	used     int64 // bytes granted to objects
	// pooled is the size of the files in the pool; poolLimit bounds it
	// (0: no pool).
	pooled, poolLimit int64
	queue             []*waiter
}

// reserve asks for w.size bytes at time now. It grants the request at once
// (w.state == waitGranted) if nothing is queued and the bytes fit; fails with
// ErrTooLarge if the request could never fit; fails with ErrObjectStoreFull if
// it would have to wait and grace <= 0; and otherwise queues it
// (w.state == waitQueued) until now+grace.
func (l *ledger) reserve(w *waiter, now time.Time, grace time.Duration) error {
	if w.size < 0 {
		return fmt.Errorf("objstore: negative object size %d", w.size)
	}
	if w.size > l.capacity {
		w.state = waitExpired
		return fmt.Errorf("%w: %d bytes, capacity %d", ErrTooLarge, w.size, l.capacity)
	}
	if len(l.queue) == 0 && l.used+w.size <= l.capacity {
		l.used += w.size
		w.state = waitGranted
		return nil
	}
	if grace <= 0 {
		w.state = waitExpired
		return l.fullError(w.size, 0)
	}
	w.deadline = now.Add(grace)
	w.state = waitQueued
	l.queue = append(l.queue, w)
	return nil
}

// release returns size bytes (of a granted request) and grants queued
// requests that now fit, in order. It returns the newly granted waiters.
func (l *ledger) release(size int64) (granted []*waiter) {
	if size < 0 || size > l.used {
		panic(fmt.Sprintf("objstore: ledger releases %d bytes with %d in use", size, l.used))
	}
	l.used -= size
	return l.grant(nil)
}

// cancel withdraws a queued request. A request that was already granted is
// left alone (its holder must release it); cancel reports that through
// w.state. Removing the head of the queue can let the requests behind it in,
// so cancel returns the newly granted waiters.
func (l *ledger) cancel(w *waiter) (granted []*waiter) {
	if w.state != waitQueued {
		return nil
	}
	l.remove(w)
	w.state = waitCancelled
	return l.grant(nil)
}

// expire fails every queued request whose deadline is at or before now, then
// grants whatever now fits.
func (l *ledger) expire(now time.Time) (expired, granted []*waiter) {
	l.queue = slices.DeleteFunc(l.queue, func(w *waiter) bool {
		if w.deadline.After(now) {
			return false
		}
		w.state = waitExpired
		expired = append(expired, w)
		return true
	})
	return expired, l.grant(nil)
}

// drain cancels every queued request (the store is closing).
func (l *ledger) drain() (cancelled []*waiter) {
	cancelled = l.queue
	l.queue = nil
	for _, w := range cancelled {
		w.state = waitCancelled
	}
	return cancelled
}

// pool reports whether a freed file of size bytes may join the pool: it must
// fit the pool's budget and, with the objects and the files already
// pooled, the capacity. If so it is counted as pooled.
func (l *ledger) pool(size int64) bool {
	if size <= 0 || l.pooled+size > l.poolLimit || l.used+l.pooled+size > l.capacity {
		return false
	}
	l.pooled += size
	return true
}

// unpool records that a pooled file of size bytes left the pool, reused for
// a new object or evicted.
func (l *ledger) unpool(size int64) {
	if size < 0 || size > l.pooled {
		panic(fmt.Sprintf("objstore: ledger unpools %d bytes with %d pooled", size, l.pooled))
	}
	l.pooled -= size
}

// excess is how many pooled bytes must be evicted for the objects and the
// pool to fit the capacity again (after a grant that counted on them).
func (l *ledger) excess() int64 {
	return max(0, l.used+l.pooled-l.capacity)
}

func (l *ledger) grant(out []*waiter) []*waiter {
	for len(l.queue) > 0 && l.used+l.queue[0].size <= l.capacity {
		w := l.queue[0]
		l.queue = slices.Delete(l.queue, 0, 1)
		l.used += w.size
		w.state = waitGranted
		out = append(out, w)
	}
	return out
}

func (l *ledger) remove(w *waiter) {
	if i := slices.Index(l.queue, w); i >= 0 {
		l.queue = slices.Delete(l.queue, i, 1)
	}
}

func (l *ledger) fullError(size int64, waited time.Duration) error {
	return fmt.Errorf("%w: need %d bytes, %d of %d bytes in use, waited %v",
		ErrObjectStoreFull, size, l.used, l.capacity, waited)
}
