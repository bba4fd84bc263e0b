package objstore

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/goray/ray/internal/ids"
)

// testDir is a fresh directory on /dev/shm if there is one (so objects are
// in memory, as in production), else in the default temp directory.
func testDir(tb testing.TB) string {
	tb.Helper()
	if fi, err := os.Stat("/dev/shm"); err == nil && fi.IsDir() {
		dir, err := os.MkdirTemp("/dev/shm", "objstore-test-")
		if err == nil {
			tb.Cleanup(func() { os.RemoveAll(dir) })
			return dir
		}
	}
	return tb.TempDir()
}

func newStore(tb testing.TB, capacity int64, grace time.Duration) *Store {
	tb.Helper()
	s, err := Open(Config{Dir: filepath.Join(testDir(tb), "store"), Capacity: capacity, FullGracePeriod: grace})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { s.Close() })
	return s
}

var idGen = ids.NewTaskIDGen()

func newID() ids.ObjectID { return ids.PutID(idGen.Next(), 1) }

// pattern is n bytes that differ within pages and from page to page (each
// 4 KiB block starts with its index).
func pattern(n int, seed byte) []byte {
	b := make([]byte, n)
	var block [4096]byte
	for i := range block {
		block[i] = byte(i*7) ^ seed
	}
	for off := 0; off < n; off += len(block) {
		binary.LittleEndian.PutUint64(block[:8], uint64(off/len(block)))
		copy(b[off:], block[:])
	}
	return b
}

func mustPut(tb testing.TB, s *Store, data []byte) (ids.ObjectID, string) {
	tb.Helper()
	id := newID()
	path, err := s.Put(context.Background(), id, data)
	if err != nil {
		tb.Fatal(err)
	}
	return id, path
}

func TestOpenConfig(t *testing.T) {
	dir := testDir(t)
	if _, err := Open(Config{Dir: dir, Capacity: 0}); err == nil {
		t.Error("Open with zero capacity succeeded")
	}
	if _, err := Open(Config{Capacity: 1}); err == nil {
		t.Error("Open with no Dir succeeded")
	}
	if err := os.WriteFile(filepath.Join(dir, "stale"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(Config{Dir: dir, Capacity: 1}); err == nil {
		t.Error("Open of a non-empty directory succeeded")
	}
}

func TestStoreLifecycle(t *testing.T) {
	s := newStore(t, 1<<20, time.Second)
	ctx := context.Background()
	id := newID()
	if _, _, _, ok := s.Lookup(id); ok {
		t.Fatal("Lookup found an object before Create")
	}
	path, err := s.Create(ctx, id, 1000)
	if err != nil {
		t.Fatal(err)
	}
	// Created empty; the creator fills it (WriteFile or OpenWriter).
	if fi, err := os.Stat(path); err != nil || fi.Size() != 0 || fi.Mode().Perm() != 0o600 {
		t.Fatalf("object file: %v, %v", fi, err)
	}
	if p, size, sealed, ok := s.Lookup(id); !ok || sealed || size != 1000 || p != path {
		t.Fatalf("Lookup unsealed = %q %d %v %v", p, size, sealed, ok)
	}
	if _, err := s.Create(ctx, id, 10); !errors.Is(err, ErrObjectExists) {
		t.Fatalf("second Create: %v, want ErrObjectExists", err)
	}
	if st := s.Stats(); st != (Stats{Capacity: 1 << 20, Used: 1000, NumObjects: 1}) {
		t.Fatalf("Stats = %+v", st)
	}

	// A Wait started before Seal returns once the object is sealed.
	waited := make(chan error, 1)
	go func() {
		p, size, err := s.Wait(ctx, id)
		if err == nil && (p != path || size != 1000) {
			err = errors.New("Wait returned the wrong object")
		}
		waited <- err
	}()
	w, err := OpenWriter(path, 1000)
	if err != nil {
		t.Fatal(err)
	}
	data := pattern(1000, 7)
	copy(w.Bytes(), data)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-waited:
		t.Fatalf("Wait returned before Seal: %v", err)
	case <-time.After(20 * time.Millisecond):
	}
	if err := s.Seal(id); err != nil {
		t.Fatal(err)
	}
	if err := <-waited; err != nil {
		t.Fatal(err)
	}
	if err := s.Seal(id); !errors.Is(err, ErrObjectSealed) {
		t.Fatalf("second Seal: %v", err)
	}
	if err := s.Abort(id); !errors.Is(err, ErrObjectSealed) {
		t.Fatalf("Abort of sealed: %v", err)
	}
	if _, _, sealed, ok := s.Lookup(id); !ok || !sealed {
		t.Fatal("Lookup after Seal: not sealed")
	}
	if got, err := os.ReadFile(path); err != nil || !bytes.Equal(got, data) {
		t.Fatalf("file contents differ (%v)", err)
	}
	if st := s.Stats(); st != (Stats{Capacity: 1 << 20, Used: 1000, NumObjects: 1, NumSealed: 1}) {
		t.Fatalf("Stats = %+v", st)
	}

	if err := s.Delete(id); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Fatalf("file still there after Delete: %v", err)
	}
	if names, err := os.ReadDir(s.Dir()); err != nil || len(names) != 0 {
		t.Fatalf("store directory after Delete: %v, %v", names, err)
	}
	if err := s.Delete(id); !errors.Is(err, ErrObjectNotFound) {
		t.Fatalf("second Delete: %v", err)
	}
	if _, _, _, ok := s.Lookup(id); ok {
		t.Fatal("Lookup found a deleted object")
	}
	if st := s.Stats(); st != (Stats{Capacity: 1 << 20}) {
		t.Fatalf("Stats = %+v", st)
	}

	// Abort drops an unsealed object; the ID can then be created again.
	path, err = s.Create(ctx, id, 10)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Abort(id); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Fatalf("file still there after Abort: %v", err)
	}
	if err := s.Seal(id); !errors.Is(err, ErrObjectNotFound) {
		t.Fatalf("Seal after Abort: %v", err)
	}
	if _, err := s.Put(ctx, id, []byte("again")); err != nil {
		t.Fatal(err)
	}
	if got, err := os.ReadFile(path); err != nil || string(got) != "again" {
		t.Fatalf("recreated object: %q, %v", got, err)
	}

	// Empty objects work too.
	eid, epath := mustPut(t, s, nil)
	if p, size, err := s.Wait(ctx, eid); err != nil || p != epath || size != 0 {
		t.Fatalf("Wait empty = %q %d %v", p, size, err)
	}
	if v, err := MapReadOnly(epath, 0); err != nil || v == nil || len(v) != 0 {
		t.Fatalf("MapReadOnly empty = %v, %v", v, err)
	}
}

func TestWaitCancelAndClose(t *testing.T) {
	s := newStore(t, 1<<20, time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if _, _, err := s.Wait(ctx, newID()); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Wait = %v, want deadline exceeded", err)
	}
	if n := len(s.sealWait); n != 0 {
		t.Errorf("%d seal waits left after cancel", n)
	}
	done := make(chan error, 1)
	go func() {
		_, _, err := s.Wait(context.Background(), newID())
		done <- err
	}()
	time.Sleep(10 * time.Millisecond)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := <-done; !errors.Is(err, ErrStoreClosed) {
		t.Fatalf("Wait across Close = %v", err)
	}
}

func TestCreateBlocksUntilDelete(t *testing.T) {
	s := newStore(t, 100, 5*time.Second)
	ctx := context.Background()
	a, _ := mustPut(t, s, make([]byte, 80))
	created := make(chan error, 1)
	b := newID()
	go func() {
		_, err := s.Create(ctx, b, 50)
		created <- err
	}()
	waitUntil(t, func() bool { return s.Stats().NumWaiting == 1 })
	select {
	case err := <-created:
		t.Fatalf("Create returned while full: %v", err)
	default:
	}
	if err := s.Delete(a); err != nil {
		t.Fatal(err)
	}
	if err := <-created; err != nil {
		t.Fatal(err)
	}
	if st := s.Stats(); st.Used != 50 || st.NumObjects != 1 || st.NumWaiting != 0 {
		t.Fatalf("Stats = %+v", st)
	}
}

func TestCreateFullAfterGracePeriod(t *testing.T) {
	s := newStore(t, 100, 50*time.Millisecond)
	ctx := context.Background()
	mustPut(t, s, make([]byte, 60))
	start := time.Now()
	_, err := s.Create(ctx, newID(), 50)
	if !errors.Is(err, ErrObjectStoreFull) {
		t.Fatalf("Create = %v, want ErrObjectStoreFull", err)
	}
	if d := time.Since(start); d < 50*time.Millisecond {
		t.Errorf("failed after %v, before the grace period", d)
	}
	t.Log(err)
	if _, err := s.Create(ctx, newID(), 101); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("Create too large = %v", err)
	}
	if st := s.Stats(); st.Used != 60 || st.NumObjects != 1 || st.NumWaiting != 0 {
		t.Fatalf("Stats = %+v", st)
	}
	// A failed Create leaves the ID free.
	if _, err := s.Create(ctx, newID(), 40); err != nil {
		t.Fatal(err)
	}
}

func TestCreateCancelAndClose(t *testing.T) {
	s := newStore(t, 100, 5*time.Second)
	mustPut(t, s, make([]byte, 100))
	ctx, cancel := context.WithCancel(context.Background())
	id := newID()
	errc := make(chan error, 1)
	go func() {
		_, err := s.Create(ctx, id, 10)
		errc <- err
	}()
	waitUntil(t, func() bool { return s.Stats().NumWaiting == 1 })
	cancel()
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Fatalf("Create = %v, want context.Canceled", err)
	}
	if st := s.Stats(); st.NumWaiting != 0 || st.Used != 100 {
		t.Fatalf("Stats = %+v", st)
	}
	if _, _, _, ok := s.Lookup(id); ok {
		t.Fatal("cancelled object is visible")
	}

	go func() {
		_, err := s.Create(context.Background(), id, 10)
		errc <- err
	}()
	waitUntil(t, func() bool { return s.Stats().NumWaiting == 1 })
	dir := s.Dir()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := <-errc; !errors.Is(err, ErrStoreClosed) {
		t.Fatalf("Create across Close = %v", err)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Fatalf("store directory still there after Close: %v", err)
	}
	if _, err := s.Create(context.Background(), newID(), 1); !errors.Is(err, ErrStoreClosed) {
		t.Fatalf("Create after Close = %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
}

// TestStoreConcurrent runs Puts and Deletes from several goroutines against
// a store with room for only a few objects.
func TestStoreConcurrent(t *testing.T) {
	const size = 1000
	s := newStore(t, 3*size, 10*time.Second)
	ctx := context.Background()
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for i := range 25 {
				data := pattern(size, byte(g*31+i))
				id, path := mustPut(t, s, data)
				p, n, err := s.Wait(ctx, id)
				if err != nil || p != path || n != size {
					t.Errorf("Wait = %q %d %v", p, n, err)
					return
				}
				if got, err := MapReadOnly(path, size); err != nil || !bytes.Equal(got, data) {
					t.Errorf("read back differs (%v)", err)
				}
				if err := s.Delete(id); err != nil {
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()
	if st := s.Stats(); st != (Stats{Capacity: 3 * size}) {
		t.Fatalf("Stats = %+v", st)
	}
}

func waitUntil(tb testing.TB, cond func() bool) {
	tb.Helper()
	for deadline := time.Now().Add(5 * time.Second); !cond(); {
		if time.Now().After(deadline) {
			tb.Fatal("condition not reached in 5s")
		}
		time.Sleep(time.Millisecond)
	}
}

// TestCloseDuringPuts closes the store under concurrent Puts: every Put
// either succeeds or fails because of the Close, and the directory is gone.
func TestCloseDuringPuts(t *testing.T) {
	s := newStore(t, 1<<20, time.Second)
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for {
				_, err := s.Put(context.Background(), newID(), make([]byte, 100<<10))
				if err == nil {
					continue
				}
				if !errors.Is(err, ErrStoreClosed) && !errors.Is(err, os.ErrNotExist) &&
					!errors.Is(err, ErrObjectStoreFull) {
					t.Errorf("Put: %v", err)
				}
				if errors.Is(err, ErrObjectStoreFull) {
					continue
				}
				return
			}
		})
	}
	time.Sleep(5 * time.Millisecond)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	if _, err := os.Stat(s.Dir()); !os.IsNotExist(err) {
		t.Fatalf("store directory after Close: %v", err)
	}
}

func TestWriteFileAndSealChecksSize(t *testing.T) {
	s := newStore(t, 1<<20, time.Second)
	id := newID()
	path, err := s.Create(context.Background(), id, 1000)
	if err != nil {
		t.Fatal(err)
	}
	if err := WriteFile(path, []byte("short")); err != nil {
		t.Fatal(err)
	}
	if err := s.Seal(id); err == nil {
		t.Fatal("sealed an object whose file is shorter than its size")
	}
	head := bytes.Repeat([]byte{1}, 10)
	if err := WriteFile(path, head, bytes.Repeat([]byte{2}, 990)); err != nil {
		t.Fatal(err)
	}
	if err := s.Seal(id); err != nil {
		t.Fatal(err)
	}
	v, err := MapReadOnly(path, 1000)
	if err != nil || v[9] != 1 || v[10] != 2 || v[999] != 2 {
		t.Fatalf("contents after WriteFile: %v", err)
	}
}
