package objstore

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/goray/ray/internal/ids"
)

var (
	// ErrObjectStoreFull: Create waited FullGracePeriod for capacity to be
	// freed and none was (or /dev/shm itself ran out of space).
	ErrObjectStoreFull = errors.New("objstore: object store is full")
	// ErrObjectExists: Create of an ID that is being created or is stored.
	ErrObjectExists = errors.New("objstore: object already exists")
	// ErrObjectNotFound: no stored object has that ID.
	ErrObjectNotFound = errors.New("objstore: object not found")
	// ErrTooLarge: the object could never fit, even in an empty store.
	ErrTooLarge = errors.New("objstore: object larger than the store's capacity")
	// ErrObjectSealed: Seal or Abort of an object that is already sealed.
	ErrObjectSealed = errors.New("objstore: object already sealed")
	// ErrStoreClosed: the Store was closed.
	ErrStoreClosed = errors.New("objstore: store closed")
)

// DefaultFullGracePeriod is how long Create waits for capacity when
// Config.FullGracePeriod is 0. (Ray's analogous setting, oom_grace_period_s,
// defaults to 2s, and its clients retry every object_store_full_delay_ms.)
const DefaultFullGracePeriod = time.Second

// Config configures a Store.
type Config struct {
	// Dir holds one file per object. It is created (mode 0700, with parents)
	// if missing; if it exists it must be an empty directory. Close removes
	// it and everything in it. Use a directory on tmpfs (/dev/shm) so that
	// objects live in memory.
	Dir string
	// Capacity is the total size in bytes of the objects the store holds at
	// once, sealed or not. Must be > 0.
	Capacity int64
	// FullGracePeriod is how long Create waits for capacity to be freed
	// (by Delete or Abort) before failing with ErrObjectStoreFull.
	// 0 means DefaultFullGracePeriod; negative means fail at once.
	FullGracePeriod time.Duration
	// MaxPooled bounds the bytes of deleted objects' files the store keeps
	// to recycle for new objects (see "Recycling" in the package
	// documentation). They count against Capacity and are evicted when a
	// new object needs the room. 0 means Capacity/2; negative disables
	// recycling.
	MaxPooled int64
}

// Stats is a snapshot of a Store's accounting.
type Stats struct {
	Capacity   int64 // Config.Capacity
	Used       int64 // bytes reserved by created (sealed or unsealed) objects
	NumObjects int   // objects created and not deleted or aborted
	NumSealed  int   // of which sealed
	NumWaiting int   // Create calls waiting for capacity
	Pooled     int64 // bytes of free files kept for reuse (evictable)
	NumPooled  int   // free files kept for reuse
}

type objState uint8

const (
	stateCreating objState = iota // capacity being reserved, file being made
	stateUnsealed                 // file exists, creator is filling it
	stateSealed                   // immutable and visible to Wait
)

type object struct {
	size  int64
	state objState
}

// sealWait is the wake-up channel shared by the Wait calls for one ID.
type sealWait struct {
	ch chan struct{} // closed by Seal
	n  int           // Wait calls using ch
}

// Store is one node's object store. It owns the object directory and the
// capacity ledger; it is safe for concurrent use.
type Store struct {
	dir   string
	grace time.Duration

	mu       sync.Mutex
	led      ledger
	objects  map[ids.ObjectID]*object
	sealWait map[ids.ObjectID]*sealWait
	// numObjects and numSealed count unsealed+sealed and sealed objects.
	numObjects, numSealed int
	trashSeq              uint64         // names files being deleted or pooled
	pool                  []pooledFile   // free files to reuse, oldest first
	files                 sync.WaitGroup // Create calls making a file
	closed                bool
	closedCh              chan struct{}
}

// Open creates the object directory and returns an empty Store.
func Open(cfg Config) (*Store, error) {
	if cfg.Dir == "" {
		return nil, errors.New("objstore: Config.Dir is empty")
	}
	if cfg.Capacity <= 0 {
		return nil, fmt.Errorf("objstore: Config.Capacity is %d, want > 0", cfg.Capacity)
	}
	dir, err := filepath.Abs(cfg.Dir)
	if err != nil {
		return nil, fmt.Errorf("objstore: %w", err)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("objstore: %w", err)
	}
	if err := checkEmptyDir(dir); err != nil {
		return nil, err
	}
	grace := cfg.FullGracePeriod
	if grace == 0 {
		grace = DefaultFullGracePeriod
	}
	pooled := min(cfg.MaxPooled, cfg.Capacity)
	if pooled == 0 {
		pooled = cfg.Capacity / 2
	}
	return &Store{
		dir:      dir,
		grace:    grace,
		led:      ledger{capacity: cfg.Capacity, poolLimit: max(pooled, 0)},
		objects:  make(map[ids.ObjectID]*object),
		sealWait: make(map[ids.ObjectID]*sealWait),
		closedCh: make(chan struct{}),
	}, nil
}

func checkEmptyDir(dir string) error {
	f, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("objstore: %w", err)
	}
	defer f.Close()
	names, err := f.Readdirnames(1)
	if err != nil && err != io.EOF {
		return fmt.Errorf("objstore: %s: %w", dir, err)
	}
	if len(names) > 0 {
		return fmt.Errorf("objstore: directory %s is not empty (found %s)", dir, names[0])
	}
	return nil
}

// Dir is the absolute path of the object directory.
func (s *Store) Dir() string { return s.dir }

// Path is where object id's file is (or would be).
func (s *Store) Path(id ids.ObjectID) string { return filepath.Join(s.dir, id.String()) }

// Create reserves size bytes of capacity for a new, unsealed object and
// makes its file at the returned path: either a new, empty file, or (for
// objects of 1 MiB and more) a recycled file of a deleted object, exactly
// size bytes long, whose old bytes the creator overwrites. The creator fills
// it with WriteFile (or maps it with OpenWriter), and calls Seal (or Abort
// on failure).
//
// Pooled files count against the capacity but do not make Create wait:
// when the new object needs their room, Create unlinks them first.
//
// If the capacity is not free, Create waits, in arrival order, until Delete or
// Abort frees enough, ctx is done (ctx.Err() is returned), or the grace period
// passes (an error wrapping ErrObjectStoreFull that gives the sizes). An
// object larger than the whole capacity fails at once with ErrTooLarge.
func (s *Store) Create(ctx context.Context, id ids.ObjectID, size int64) (path string, err error) {
	if size < 0 {
		return "", fmt.Errorf("objstore: create %v: negative size %d", id, size)
	}
	if err := ctx.Err(); err != nil {
		return "", err
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return "", ErrStoreClosed
	}
	if _, ok := s.objects[id]; ok {
		s.mu.Unlock()
		return "", fmt.Errorf("%w: %v", ErrObjectExists, id)
	}
	w := &waiter{size: size}
	if err := s.led.reserve(w, time.Now(), s.grace); err != nil {
		s.mu.Unlock()
		return "", fmt.Errorf("create %v: %w", id, err)
	}
	o := &object{size: size, state: stateCreating}
	s.objects[id] = o
	queued := w.state == waitQueued
	if queued {
		w.done = make(chan struct{})
	}
	s.mu.Unlock()

	if queued {
		if err := s.awaitCapacity(ctx, w); err != nil {
			s.mu.Lock()
			if s.objects[id] == o {
				delete(s.objects, id)
			}
			s.mu.Unlock()
			return "", fmt.Errorf("create %v: %w", id, err)
		}
	}

	s.mu.Lock()
	if s.closed {
		// Drained by Close while queued, or granted just before it.
		if w.state == waitGranted {
			s.wake(s.led.release(size))
		}
		if s.objects[id] == o {
			delete(s.objects, id)
		}
		s.mu.Unlock()
		return "", fmt.Errorf("create %v: %w", id, ErrStoreClosed)
	}
	reuse, evict := s.takePoolLocked(size)
	s.files.Add(1) // Close waits for the file before removing the directory
	s.mu.Unlock()
	defer s.files.Done()

	path = s.Path(id)
	ferr := makeFile(path, size, reuse, evict)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		if ferr == nil {
			os.Remove(path)
		}
		ferr = ErrStoreClosed
	}
	if ferr != nil {
		if s.objects[id] == o {
			delete(s.objects, id)
		}
		s.wake(s.led.release(size))
		return "", fmt.Errorf("create %v: %w", id, ferr)
	}
	o.state = stateUnsealed
	s.numObjects++
	return path, nil
}

// awaitCapacity blocks until w, queued in the ledger, is granted (nil),
// expires, is cancelled by Close, or ctx is done.
func (s *Store) awaitCapacity(ctx context.Context, w *waiter) error {
	start := time.Now()
	timer := time.NewTimer(time.Until(w.deadline))
	defer timer.Stop()
	for {
		select {
		case <-w.done:
		case <-timer.C:
			s.mu.Lock()
			expired, granted := s.led.expire(time.Now())
			s.wake(expired)
			s.wake(granted)
			s.mu.Unlock()
		case <-ctx.Done():
		}
		s.mu.Lock()
		if ctx.Err() != nil {
			// Withdraw, or give back what was granted meanwhile.
			switch w.state {
			case waitQueued:
				s.wake(s.led.cancel(w))
			case waitGranted:
				s.wake(s.led.release(w.size))
			}
			s.mu.Unlock()
			return ctx.Err()
		}
		state := w.state
		var full error
		if state == waitExpired {
			full = s.led.fullError(w.size, time.Since(start).Round(time.Millisecond))
		}
		s.mu.Unlock()
		switch state {
		case waitGranted:
			return nil
		case waitExpired:
			return full
		case waitCancelled:
			return ErrStoreClosed
		}
		// Still queued: the timer fired a hair early. Wait out the rest.
		timer.Reset(max(time.Until(w.deadline), time.Millisecond))
	}
}

// wake closes the done channels of waiters that left the ledger's queue.
// Called with s.mu held.
func (s *Store) wake(ws []*waiter) {
	for _, w := range ws {
		close(w.done)
	}
}

// createFile makes a new object's file, empty. The capacity is reserved in
// the ledger; the creator fills the file with WriteFile (pwrite), which
// reports a full /dev/shm as ErrObjectStoreFull instead of faulting. An
// empty file that grows is also faster to fill than a pre-sized one on
// tmpfs (measured: ~0.4 s vs ~1 s per GiB, and several seconds after
// fallocate).
func createFile(path string) error {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	return f.Close()
}

// Seal makes an unsealed object immutable and visible, and wakes the Wait
// calls for it.
func (s *Store) Seal(id ids.ObjectID) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	o, err := s.findLocked(id)
	if err != nil {
		return err
	}
	if o.state == stateSealed {
		return fmt.Errorf("%w: %v", ErrObjectSealed, id)
	}
	// A sealed object must be whole: readers map exactly its size. (A
	// recycled file has the size from the start, so for it this cannot
	// catch a writer that wrote short: see "Recycling" in doc.go.)
	if fi, err := os.Stat(s.Path(id)); err != nil {
		return fmt.Errorf("objstore: seal %v: %w", id, err)
	} else if fi.Size() != o.size {
		return fmt.Errorf("objstore: seal %v: the file holds %d bytes, the object was created with %d", id, fi.Size(), o.size)
	}
	o.state = stateSealed
	s.numSealed++
	if sw := s.sealWait[id]; sw != nil {
		close(sw.ch)
		delete(s.sealWait, id)
	}
	return nil
}

// Abort drops an unsealed object (its creator failed) and frees its capacity.
func (s *Store) Abort(id ids.ObjectID) error {
	s.mu.Lock()
	o, err := s.findLocked(id)
	if err == nil && o.state == stateSealed {
		err = fmt.Errorf("abort: %w: %v", ErrObjectSealed, id)
	}
	if err != nil {
		s.mu.Unlock()
		return err
	}
	return s.remove(id, o)
}

// Delete removes an object, sealed or not, and frees its capacity. Its file
// is recycled (kept in the pool for a later Create) if the object is 1 MiB
// or more, the pool has room and no process holds the file locked (a live
// MapReadOnly view, an OpenFile, a Writer or a WriteFile in progress);
// otherwise it is unlinked. Deleting an absent object returns
// ErrObjectNotFound.
//
// Views, Writers and OpenFile files that are live stay valid and keep their
// contents: their lock keeps the file from being recycled, and on Linux an
// unlinked file lives until its last mapping goes. Its memory is only
// returned to the system then, although the store counts it as free at once.
// (Such mappings show in /proc/PID/maps as a ".deleted-N (deleted)" file in
// the store's directory: the file is renamed before it is unlinked.)
func (s *Store) Delete(id ids.ObjectID) error {
	s.mu.Lock()
	o, err := s.findLocked(id)
	if err != nil {
		s.mu.Unlock()
		return err
	}
	return s.remove(id, o)
}

func (s *Store) findLocked(id ids.ObjectID) (*object, error) {
	if s.closed {
		return nil, ErrStoreClosed
	}
	o, ok := s.objects[id]
	if !ok || o.state == stateCreating {
		return nil, fmt.Errorf("%w: %v", ErrObjectNotFound, id)
	}
	return o, nil
}

// remove forgets object id, releases its capacity and recycles or unlinks
// its file. It is called with s.mu held and unlocks it. Unlinking a big
// tmpfs file that no one maps frees its pages on the spot (about 0.2 s per
// GiB), so under the lock the file is only renamed out of the way, which
// takes constant time and lets a Create of the same ID proceed; the recycle
// or unlink comes after.
func (s *Store) remove(id ids.ObjectID, o *object) error {
	delete(s.objects, id)
	s.numObjects--
	if o.state == stateSealed {
		s.numSealed--
	}
	s.wake(s.led.release(o.size))
	path := s.Path(id)
	s.trashSeq++
	trash := filepath.Join(s.dir, fmt.Sprintf(".deleted-%d", s.trashSeq))
	if err := os.Rename(path, trash); err != nil {
		err = removeFile(path) // unlink in place, under the lock
		s.mu.Unlock()
		return err
	}
	pool := o.size >= minPoolSize && s.led.poolLimit >= o.size
	s.mu.Unlock()
	if pool && s.recycle(trash, o.size) {
		return nil
	}
	return removeFile(trash)
}

// Lookup reports an object's file, size and whether it is sealed. Objects
// still waiting for capacity in Create are not reported.
func (s *Store) Lookup(id ids.ObjectID) (path string, size int64, sealed bool, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	o, err := s.findLocked(id)
	if err != nil {
		return "", 0, false, false
	}
	return s.Path(id), o.size, o.state == stateSealed, true
}

// Wait blocks until the object is sealed and returns its file and size. The
// object need not exist yet: Wait waits for it to be created and sealed (an
// object that is aborted or deleted meanwhile may be created again). It
// returns ctx.Err() when ctx is done and ErrStoreClosed when the store
// closes.
func (s *Store) Wait(ctx context.Context, id ids.ObjectID) (path string, size int64, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for {
		if s.closed {
			return "", 0, ErrStoreClosed
		}
		if o, ok := s.objects[id]; ok && o.state == stateSealed {
			return s.Path(id), o.size, nil
		}
		if err := ctx.Err(); err != nil {
			return "", 0, err
		}
		sw := s.sealWait[id]
		if sw == nil {
			sw = &sealWait{ch: make(chan struct{})}
			s.sealWait[id] = sw
		}
		sw.n++
		s.mu.Unlock()
		select {
		case <-sw.ch:
		case <-ctx.Done():
		case <-s.closedCh:
		}
		s.mu.Lock()
		if sw.n--; sw.n == 0 && s.sealWait[id] == sw {
			delete(s.sealWait, id)
		}
	}
}

// Stats returns a snapshot of the accounting.
func (s *Store) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return Stats{
		Capacity:   s.led.capacity,
		Used:       s.led.used,
		NumObjects: s.numObjects,
		NumSealed:  s.numSealed,
		NumWaiting: len(s.led.queue),
		Pooled:     s.led.pooled,
		NumPooled:  len(s.pool),
	}
}

// Close fails pending and later calls with ErrStoreClosed and removes the
// object directory with every object and pooled file in it. As with
// Delete, mappings that are still held stay valid. Closing twice is a
// no-op.
func (s *Store) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	close(s.closedCh)
	s.wake(s.led.drain())
	for _, f := range s.pool {
		s.led.unpool(f.size) // RemoveAll unlinks the files
	}
	s.pool = nil
	s.mu.Unlock()
	s.files.Wait()
	if err := os.RemoveAll(s.dir); err != nil {
		return fmt.Errorf("objstore: %w", err)
	}
	return nil
}
