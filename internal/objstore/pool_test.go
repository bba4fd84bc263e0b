package objstore

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/goray/ray/internal/ids"
)

// writePut stores data the way drivers and workers do: Create, WriteFile,
// Seal.
func writePut(tb testing.TB, s *Store, parts ...[]byte) (ids.ObjectID, string) {
	tb.Helper()
	var size int64
	for _, p := range parts {
		size += int64(len(p))
	}
	id := newID()
	path, err := s.Create(context.Background(), id, size)
	if err != nil {
		tb.Fatal(err)
	}
	if err := WriteFile(path, parts...); err != nil {
		tb.Fatal(err)
	}
	if err := s.Seal(id); err != nil {
		tb.Fatal(err)
	}
	return id, path
}

func inoOf(tb testing.TB, path string) uint64 {
	tb.Helper()
	return fileOf(tb, path).ino
}

func fileSize(tb testing.TB, path string) int64 {
	tb.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		tb.Fatal(err)
	}
	return fi.Size()
}

// poolFiles lists the pooled files in the store's directory.
func poolFiles(tb testing.TB, s *Store) []string {
	tb.Helper()
	names, err := filepath.Glob(filepath.Join(s.Dir(), ".pool-*"))
	if err != nil {
		tb.Fatal(err)
	}
	return names
}

// viewMappingsOf returns the process's read-only mappings of f: its views,
// without the writer's cached mappings (writecache.go).
func viewMappingsOf(tb testing.TB, f objFile) []procMapping {
	tb.Helper()
	var out []procMapping
	for _, m := range mappingsOf(tb, f) {
		if m.perms == "r--s" {
			out = append(out, m)
		}
	}
	return out
}

// unlocked reports whether no one holds a lock on the file at path (the
// view finalizer unmaps first and closes its descriptor after).
func unlocked(tb testing.TB, path string) bool {
	tb.Helper()
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		tb.Fatal(err)
	}
	defer unix.Close(fd)
	return unix.Flock(fd, unix.LOCK_EX|unix.LOCK_NB) == nil
}

func checkPool(tb testing.TB, s *Store, wantFiles int, wantBytes int64) {
	tb.Helper()
	st := s.Stats()
	if st.NumPooled != wantFiles || st.Pooled != wantBytes {
		tb.Fatalf("pool: %d files, %d bytes; want %d, %d (%+v)", st.NumPooled, st.Pooled, wantFiles, wantBytes, st)
	}
	if got := len(poolFiles(tb, s)); got != wantFiles {
		tb.Fatalf("%d .pool-* files in the directory, want %d", got, wantFiles)
	}
}

func TestPickPooled(t *testing.T) {
	const M = 1 << 20
	pool := func(sizes ...int64) []pooledFile {
		var out []pooledFile
		for i, s := range sizes {
			out = append(out, pooledFile{path: fmt.Sprint(i), size: s})
		}
		return out
	}
	tests := []struct {
		name string
		pool []pooledFile
		size int64
		want int
	}{
		{"empty", nil, 4 * M, -1},
		{"exact", pool(4 * M), 4 * M, 0},
		{"shortest that is long enough", pool(8*M, 5*M, 6*M), 4 * M, 1},
		{"most recent among equals", pool(4*M, 4*M, 4*M), 4 * M, 2},
		{"more than twice as long: not taken", pool(9 * M), 4 * M, -1},
		{"shorter, at least half", pool(2*M, 3*M), 4 * M, 1},
		{"shorter than half: not taken", pool(M), 4 * M, -1},
		{"long enough beats longer shorter", pool(3*M, 5*M), 4 * M, 1},
	}
	for _, tc := range tests {
		if got := pickPooled(tc.pool, tc.size); got != tc.want {
			t.Errorf("%s: pickPooled = %d, want %d", tc.name, got, tc.want)
		}
	}
}

// TestRecycleReusesFile: a deleted object's file goes to the pool and is
// the next object's file, truncated to its size, filled with its bytes.
func TestRecycleReusesFile(t *testing.T) {
	const size = 2 << 20
	s := newStore(t, 16<<20, time.Second)
	id, path := writePut(t, s, pattern(size, 1))
	ino := inoOf(t, path)
	if err := s.Delete(id); err != nil {
		t.Fatal(err)
	}
	checkPool(t, s, 1, size)
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Fatalf("object's name after Delete: %v", err)
	}
	if st := s.Stats(); st.Used != 0 || st.NumObjects != 0 {
		t.Fatalf("Stats after Delete: %+v", st)
	}

	// A shorter object takes the file, truncated to exactly its size.
	const size2 = size - 12345
	data := pattern(size2, 2)
	id2, path2 := writePut(t, s, data[:1000], data[1000:])
	if got := inoOf(t, path2); got != ino {
		t.Fatalf("new object's file is inode %d, want the recycled %d", got, ino)
	}
	if got := fileSize(t, path2); got != size2 {
		t.Fatalf("recycled file is %d bytes, want %d", got, size2)
	}
	checkPool(t, s, 0, 0)
	if st := s.Stats(); st.Used != size2 {
		t.Fatalf("Stats: %+v", st)
	}
	v, err := MapReadOnly(path2, size2)
	if err != nil || !bytes.Equal(v, data) {
		t.Fatalf("recycled object's contents wrong (%v)", err)
	}
	runtime.KeepAlive(v)
	v = nil
	collectUntil(t, func() bool {
		return len(viewMappingsOf(t, fileOf(t, path2))) == 0 && unlocked(t, path2)
	})

	// Once the view is gone, the file is recycled again.
	if err := s.Delete(id2); err != nil {
		t.Fatal(err)
	}
	checkPool(t, s, 1, size2)
}

// TestRecycleSmallAndBudget: objects under 1 MiB are never pooled; the pool
// holds at most MaxPooled bytes (default half the capacity); a negative
// MaxPooled disables recycling.
func TestRecycleSmallAndBudget(t *testing.T) {
	s := newStore(t, 16<<20, time.Second)
	id, _ := writePut(t, s, pattern(minPoolSize-1, 1))
	if err := s.Delete(id); err != nil {
		t.Fatal(err)
	}
	checkPool(t, s, 0, 0)

	const size = 3 << 20
	var objs []ids.ObjectID
	for i := range 3 {
		id, _ := writePut(t, s, pattern(size, byte(i)))
		objs = append(objs, id)
	}
	for _, id := range objs {
		if err := s.Delete(id); err != nil {
			t.Fatal(err)
		}
	}
	checkPool(t, s, 2, 2*size) // the third would pass 8 MiB

	off, err := Open(Config{Dir: filepath.Join(testDir(t), "store"), Capacity: 16 << 20, MaxPooled: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer off.Close()
	id, _ = writePut(t, off, pattern(size, 9))
	if err := off.Delete(id); err != nil {
		t.Fatal(err)
	}
	checkPool(t, off, 0, 0)
}

// TestRecycleNotWhileViewLive: a file with a live view is unlinked, not
// recycled; the view keeps its bytes while a new object of the same size,
// which would have taken the file, is written; once the view is gone,
// files are recycled again.
func TestRecycleNotWhileViewLive(t *testing.T) {
	const size = 2 << 20
	s := newStore(t, 16<<20, time.Second)
	data := pattern(size, 1)
	id, path := writePut(t, s, data)
	f := fileOf(t, path)
	v, err := MapReadOnly(path, size)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Delete(id); err != nil {
		t.Fatal(err)
	}
	checkPool(t, s, 0, 0)
	if ms := viewMappingsOf(t, f); len(ms) != 1 || !strings.HasSuffix(ms[0].path, " (deleted)") {
		t.Fatalf("mappings of the viewed file after Delete: %+v", ms)
	}
	id2, path2 := writePut(t, s, pattern(size, 2))
	if inoOf(t, path2) == f.ino {
		t.Fatal("a file with a live view was recycled")
	}
	if !bytes.Equal(v, data) {
		t.Fatal("view changed after Delete and a new Put")
	}
	runtime.KeepAlive(v)
	v = nil
	collectUntil(t, func() bool { return len(viewMappingsOf(t, f)) == 0 })
	if err := s.Delete(id2); err != nil {
		t.Fatal(err)
	}
	checkPool(t, s, 1, size)
}

// TestRecycleNotWhileOpen: OpenFile's lock, and a Writer's, keep the file
// from being recycled.
func TestRecycleNotWhileOpen(t *testing.T) {
	const size = 1 << 20
	s := newStore(t, 16<<20, time.Second)
	id, path := writePut(t, s, pattern(size, 1))
	f, err := OpenFile(path, os.O_RDONLY)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Delete(id); err != nil {
		t.Fatal(err)
	}
	checkPool(t, s, 0, 0)
	buf := make([]byte, size)
	if _, err := f.ReadAt(buf, 0); err != nil || !bytes.Equal(buf, pattern(size, 1)) {
		t.Fatalf("read after Delete: %v", err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}

	id = newID()
	path, err = s.Create(context.Background(), id, size)
	if err != nil {
		t.Fatal(err)
	}
	w, err := OpenWriter(path, size)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Abort(id); err != nil {
		t.Fatal(err)
	}
	checkPool(t, s, 0, 0)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := OpenFile(path, os.O_RDONLY|os.O_CREATE); err == nil {
		t.Fatal("OpenFile with O_CREATE succeeded")
	}
}

// TestOpenLockedDetectsRecycle: a file opened by name and then recycled
// before the opener gets its lock is reported as not existing.
func TestOpenLockedDetectsRecycle(t *testing.T) {
	dir := testDir(t)
	path := filepath.Join(dir, "obj")
	if err := os.WriteFile(path, []byte("old"), 0o600); err != nil {
		t.Fatal(err)
	}
	// Play the store: hold the exclusive lock while the opener waits.
	ex, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := unix.Flock(ex, unix.LOCK_EX); err != nil {
		t.Fatal(err)
	}
	res := make(chan error, 1)
	go func() {
		fd, _, err := openLocked(path, unix.O_RDONLY)
		if err == nil {
			unix.Close(fd)
		}
		res <- err
	}()
	time.Sleep(20 * time.Millisecond) // let it open and block in flock
	if err := os.Rename(path, filepath.Join(dir, ".pool-1")); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte("new"), 0o600); err != nil {
		t.Fatal(err)
	}
	unix.Close(ex)
	err = <-res
	if !errors.Is(err, fs.ErrNotExist) {
		// The opener may have been slow to open: then it opened the
		// new file, which is fine too.
		if err != nil {
			t.Fatalf("openLocked of a recycled file: %v", err)
		}
		t.Log("opener did not race the rename")
	}
}

// TestPoolEviction: pooled files count against the capacity, but a Create
// that needs their room evicts them (oldest first) instead of waiting or
// failing.
func TestPoolEviction(t *testing.T) {
	const M = 1 << 20
	s := newStore(t, 8*M, -1) // no grace period: full fails at once
	var objs []ids.ObjectID
	var inos []uint64
	for i := range 3 {
		id, path := writePut(t, s, pattern(M, byte(i)))
		objs = append(objs, id)
		inos = append(inos, inoOf(t, path))
	}
	for _, id := range objs {
		if err := s.Delete(id); err != nil {
			t.Fatal(err)
		}
	}
	checkPool(t, s, 3, 3*M)
	// 7 MiB fits only without two of the pooled files; none is long
	// enough to be reused for it.
	id, _ := writePut(t, s, pattern(7*M, 7))
	checkPool(t, s, 1, M)
	if st := s.Stats(); st.Used != 7*M {
		t.Fatalf("Stats: %+v", st)
	}
	if got := inoOf(t, poolFiles(t, s)[0]); got != inos[2] {
		t.Fatalf("kept pooled file %d, want the newest, %d (of %v)", got, inos[2], inos)
	}
	// The last 1 MiB: the pooled file is reused for it.
	id2, path2 := writePut(t, s, pattern(M, 8))
	if inoOf(t, path2) != inos[2] {
		t.Fatal("the pooled file was not reused")
	}
	checkPool(t, s, 0, 0)
	// The store is full of objects now.
	if _, err := s.Create(context.Background(), newID(), 1); !errors.Is(err, ErrObjectStoreFull) {
		t.Fatalf("Create in a full store: %v", err)
	}
	for _, id := range []ids.ObjectID{id, id2} {
		if err := s.Delete(id); err != nil {
			t.Fatal(err)
		}
	}
	// 7 MiB is more than the pool may hold (4 MiB): unlinked.
	checkPool(t, s, 1, M)
}

// TestClosePoolFiles: Close removes the pooled files with the directory,
// and a writer's cached mapping of them is dropped soon after.
func TestClosePoolFiles(t *testing.T) {
	const size = 2 << 20
	s := newStore(t, 16<<20, time.Second)
	id, path := writePut(t, s, pattern(size, 1))
	f := fileOf(t, path)
	if err := s.Delete(id); err != nil {
		t.Fatal(err)
	}
	checkPool(t, s, 1, size)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(s.Dir()); !os.IsNotExist(err) {
		t.Fatalf("store directory after Close: %v", err)
	}
	if st := s.Stats(); st.Pooled != 0 || st.NumPooled != 0 {
		t.Fatalf("Stats after Close: %+v", st)
	}
	waitUntil(t, func() bool {
		_, found := numWriteMaps(f.ino)
		return !found && len(mappingsOf(t, f)) == 0
	})
}

// TestWriteFileThroughCachedMapping: a writer that filled a file with
// pwrite maps it in the background; when the store recycles the file to
// it, WriteFile copies through that mapping.
func TestWriteFileThroughCachedMapping(t *testing.T) {
	const size = 3 << 20
	s := newStore(t, 32<<20, time.Second)
	id, path := writePut(t, s, pattern(size, 1))
	ino := inoOf(t, path)
	waitUntil(t, func() bool { _, found := numWriteMaps(ino); return found })
	if err := s.Delete(id); err != nil {
		t.Fatal(err)
	}
	before := mappedWrites.Load()
	data := pattern(size, 2)
	id, path = writePut(t, s, data[:size/3], data[size/3:size/2], data[size/2:])
	if inoOf(t, path) != ino {
		t.Fatal("file not recycled")
	}
	if mappedWrites.Load() != before+1 {
		t.Fatal("WriteFile did not write through the cached mapping")
	}
	got, err := os.ReadFile(path)
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("contents after a mapped write are wrong (%v)", err)
	}
	// The cache stays bounded.
	for i := range maxWriteMaps + 2 {
		writePut(t, s, pattern(minPoolSize, byte(i)))
	}
	waitUntil(t, func() bool { n, _ := numWriteMaps(0); return n == maxWriteMaps })
	time.Sleep(50 * time.Millisecond) // premaps still running would show here
	if n, _ := numWriteMaps(0); n > maxWriteMaps {
		t.Fatalf("%d cached mappings, want at most %d", n, maxWriteMaps)
	}
	_ = id
}

// TestCopyPartsFaultIsError: a copy into a mapping whose file was
// truncated under it fails instead of crashing the process.
func TestCopyPartsFaultIsError(t *testing.T) {
	path := filepath.Join(testDir(t), "obj")
	size := 4 * int(pageSize)
	if err := os.WriteFile(path, make([]byte, size), 0o600); err != nil {
		t.Fatal(err)
	}
	fd, err := unix.Open(path, unix.O_RDWR|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	data, err := unix.Mmap(fd, 0, size, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Munmap(data)
	if err := copyParts(data, [][]byte{pattern(size, 1)}); err != nil {
		t.Fatal(err)
	}
	if err := unix.Ftruncate(fd, 0); err != nil {
		t.Fatal(err)
	}
	if err := copyParts(data, [][]byte{pattern(size, 2)}); err == nil {
		t.Fatal("copy past the end of the file did not fail")
	}
}

// TestRecycleConcurrent puts, maps, checks and deletes objects from many
// goroutines, so that files are recycled all the time while views of them
// are taken and dropped: no view may ever see bytes change.
func TestRecycleConcurrent(t *testing.T) {
	s := newStore(t, 64<<20, time.Second)
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// Each view is checked again one round later, after more
			// objects were deleted and created (and files recycled).
			var prevView, prevData []byte
			for i := range 25 {
				if i%4 == 0 {
					runtime.GC() // dead views go, so their files recycle
				}
				seed := byte(g*31 + i)
				size := minPoolSize + (i%3)*(minPoolSize/2)
				data := pattern(size, seed)
				id := newID()
				path, err := s.Create(context.Background(), id, int64(size))
				if err == nil {
					err = WriteFile(path, data)
				}
				if err == nil {
					err = s.Seal(id)
				}
				var v []byte
				if err == nil {
					v, err = MapReadOnly(path, int64(size))
				}
				if err == nil {
					err = s.Delete(id)
				}
				if err == nil && !bytes.Equal(prevView, prevData) {
					err = fmt.Errorf("goroutine %d object %d: view changed", g, i-1)
				}
				prevView, prevData = v, data
				if err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// objstoreHoldEnv makes the test binary a child process that maps an object
// and holds the view (TestRecycleNotWhileOtherProcessViews).
const objstoreHoldEnv = "OBJSTORE_TEST_HOLD"

// TestRecycleNotWhileOtherProcessViews: a view held by another process
// keeps the file from being recycled, and keeps its bytes.
func TestRecycleNotWhileOtherProcessViews(t *testing.T) {
	if arg := os.Getenv(objstoreHoldEnv); arg != "" {
		holdView(arg)
		return
	}
	if testing.Short() {
		t.Skip("runs a child process")
	}
	const size = 2 << 20
	s := newStore(t, 16<<20, time.Second)
	id, path := writePut(t, s, pattern(size, 1))
	cmd := exec.Command(os.Args[0], "-test.run=^TestRecycleNotWhileOtherProcessViews$", "-test.count=1")
	cmd.Env = append(os.Environ(), objstoreHoldEnv+"="+path)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	line := make([]byte, 7)
	if _, err := io.ReadFull(stdout, line); err != nil || string(line) != "mapped\n" {
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatalf("child: %q %v\n%s", line, err, stderr.String())
	}
	if err := s.Delete(id); err != nil {
		t.Fatal(err)
	}
	checkPool(t, s, 0, 0)
	writePut(t, s, pattern(size, 2)) // would have taken the file
	stdin.Close()                    // the child checks its view and exits
	out, _ := io.ReadAll(stdout)
	if err := cmd.Wait(); err != nil {
		t.Fatalf("child: %v\n%s%s", err, out, stderr.String())
	}
}

// holdView is the child of TestRecycleNotWhileOtherProcessViews: it maps
// the object, says so, waits for stdin to close and checks the view.
func holdView(path string) {
	const size = 2 << 20
	v, err := MapReadOnly(path, size)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	fmt.Print("mapped\n")
	io.Copy(io.Discard, os.Stdin)
	if !bytes.Equal(v, pattern(size, 1)) {
		fmt.Fprintln(os.Stderr, "view changed")
		os.Exit(3)
	}
	os.Exit(0)
}
