package objstore

import (
	"bufio"
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// procMapping is one line of /proc/self/maps.
type procMapping struct {
	start, end uintptr
	perms      string
	inode      uint64
	path       string // " (deleted)" suffix kept
}

func procMaps(tb testing.TB) []procMapping {
	tb.Helper()
	f, err := os.Open("/proc/self/maps")
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	var out []procMapping
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		// start-end perms offset dev inode [path]
		fields := strings.Fields(sc.Text())
		if len(fields) < 5 {
			continue
		}
		lo, hi, _ := strings.Cut(fields[0], "-")
		start, err1 := strconv.ParseUint(lo, 16, 64)
		end, err2 := strconv.ParseUint(hi, 16, 64)
		if err1 != nil || err2 != nil {
			tb.Fatalf("bad maps line %q", sc.Text())
		}
		inode, _ := strconv.ParseUint(fields[4], 10, 64)
		m := procMapping{start: uintptr(start), end: uintptr(end), perms: fields[1], inode: inode}
		if len(fields) > 5 {
			m.path = strings.Join(fields[5:], " ")
		}
		out = append(out, m)
	}
	if err := sc.Err(); err != nil {
		tb.Fatal(err)
	}
	return out
}

// objFile identifies an object file even after Delete renames and unlinks
// it: by inode, and by directory (the inode's file system).
type objFile struct {
	dir string
	ino uint64
}

func fileOf(tb testing.TB, path string) objFile {
	tb.Helper()
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		tb.Fatal(err)
	}
	return objFile{dir: filepath.Dir(path), ino: st.Ino}
}

// mappingsOf returns the process's mappings of f.
func mappingsOf(tb testing.TB, f objFile) []procMapping {
	var out []procMapping
	for _, m := range procMaps(tb) {
		if m.inode == f.ino && filepath.Dir(m.path) == f.dir {
			out = append(out, m)
		}
	}
	return out
}

// collectUntil runs the GC until cond holds (finalizers run asynchronously,
// on their own goroutine, after the GC that finds the object unreachable).
func collectUntil(tb testing.TB, cond func() bool) {
	tb.Helper()
	for i := 0; i < 100; i++ {
		runtime.GC()
		if cond() {
			return
		}
		time.Sleep(time.Millisecond)
	}
	tb.Fatal("condition not reached after 100 GCs")
}

func addr(b []byte) uintptr { return uintptr(unsafe.Pointer(unsafe.SliceData(b))) }

func TestMapReadOnlySmallCopies(t *testing.T) {
	s := newStore(t, 1<<20, time.Second)
	data := pattern(minMapSize-1, 3)
	_, path := mustPut(t, s, data)
	f := fileOf(t, path)
	v1, err := MapReadOnly(path, int64(len(data)))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(v1, data) {
		t.Fatal("contents differ")
	}
	v2, _ := MapReadOnly(path, 10)
	if len(v2) != 10 || addr(v1) == addr(v2) {
		t.Fatal("small objects should be fresh copies")
	}
	v1[0]++ // a copy is writable
	if len(mappingsOf(t, f)) != 0 {
		t.Fatal("small object was mapped")
	}
	if _, err := MapReadOnly(path, int64(len(data))+1); err == nil {
		t.Fatal("MapReadOnly past the end of the file succeeded")
	}
	if _, err := MapReadOnly(path+".missing", 1); !os.IsNotExist(err) {
		t.Fatalf("MapReadOnly of a missing file: %v", err)
	}
}

func TestMapReadOnlyBigIsZeroCopy(t *testing.T) {
	const size = 64 << 20
	s := newStore(t, size, time.Second)
	data := pattern(size, 9)
	_, path := mustPut(t, s, data)
	f := fileOf(t, path)
	start := time.Now()
	v, err := MapReadOnly(path, size)
	took := time.Since(start)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("mapped 64 MiB in %v", took)
	if len(v) != size || cap(v) != size {
		t.Fatalf("len %d cap %d", len(v), cap(v))
	}
	a := addr(v)
	if a%pageSize != 0 {
		t.Fatalf("view at %#x is not page-aligned", a)
	}
	var found bool
	for _, m := range mappingsOf(t, f) {
		if m.start <= a && a+size <= m.end {
			found = true
			if m.perms != "r--s" {
				t.Errorf("mapping perms %q, want r--s (read-only, shared)", m.perms)
			}
		}
	}
	if !found {
		t.Fatalf("view %#x+%d is not inside a mapping of %s", a, size, path)
	}
	if !bytes.Equal(v, data) {
		t.Fatal("contents differ")
	}
	// The view is in the Go heap: the runtime knows it.
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	if ms.HeapInuse < size {
		t.Errorf("HeapInuse %d < view size", ms.HeapInuse)
	}
	runtime.KeepAlive(v)
}

func TestMapReadOnlySharedWhileAlive(t *testing.T) {
	const size = 1 << 20
	s := newStore(t, 4*size, time.Second)
	data := pattern(size, 1)
	_, path := mustPut(t, s, data)
	f := fileOf(t, path)
	v1, err := MapReadOnly(path, size)
	if err != nil {
		t.Fatal(err)
	}
	v2, err := MapReadOnly(path, size)
	if err != nil {
		t.Fatal(err)
	}
	if addr(v1) != addr(v2) {
		t.Fatalf("two maps of one object: %#x and %#x", addr(v1), addr(v2))
	}
	short, err := MapReadOnly(path, size/2+1)
	if err != nil || addr(short) != addr(v1) || len(short) != size/2+1 {
		t.Fatalf("shorter map: %#x len %d, %v", addr(short), len(short), err)
	}
	if n := len(mappingsOf(t, f)); n != 1 {
		t.Fatalf("%d mappings of the object, want 1", n)
	}
	// Another object gets its own view.
	_, path2 := mustPut(t, s, pattern(size, 2))
	v3, err := MapReadOnly(path2, size)
	if err != nil || addr(v3) == addr(v1) || !bytes.Equal(v3, pattern(size, 2)) {
		t.Fatalf("second object: %v", err)
	}
	runtime.KeepAlive(v1)
	runtime.KeepAlive(v2)
	runtime.KeepAlive(v3)
}

func TestMapReadOnlyReleasedWhenUnreachable(t *testing.T) {
	const size = 1 << 20
	s := newStore(t, size, time.Second)
	data := pattern(size, 4)
	_, path := mustPut(t, s, data)
	f := fileOf(t, path)
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		t.Fatal(err)
	}
	key := viewKey{dev: st.Dev, ino: st.Ino}

	v, err := MapReadOnly(path, size)
	if err != nil {
		t.Fatal(err)
	}
	live := liveViews.Load()
	// A sub-slice alone keeps the whole mapping alive.
	tail := v[size-100:]
	v = nil
	for range 3 {
		runtime.GC()
	}
	time.Sleep(5 * time.Millisecond)
	if len(mappingsOf(t, f)) != 1 {
		t.Fatal("mapping released while a sub-slice was reachable")
	}
	if !bytes.Equal(tail, data[size-100:]) {
		t.Fatal("sub-slice contents differ")
	}
	runtime.KeepAlive(tail)
	tail = nil

	collectUntil(t, func() bool { return len(mappingsOf(t, f)) == 0 })
	// (Views left by earlier tests may be released meanwhile too.)
	collectUntil(t, func() bool { return liveViews.Load() < live })
	views.mu.Lock()
	_, cached := views.m[key]
	views.mu.Unlock()
	if cached {
		t.Error("cache entry left after release")
	}
	// Mapping it again works.
	v, err = MapReadOnly(path, size)
	if err != nil || !bytes.Equal(v, data) {
		t.Fatalf("map after release: %v", err)
	}
}

func TestMapReadOnlySurvivesDelete(t *testing.T) {
	const size = 1 << 20
	s := newStore(t, size, time.Second)
	data := pattern(size, 5)
	id, path := mustPut(t, s, data)
	f := fileOf(t, path)
	v, err := MapReadOnly(path, size)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Delete(id); err != nil {
		t.Fatal(err)
	}
	// The capacity is free again: a new object fits.
	mustPut(t, s, pattern(size, 6))
	for range 2 {
		runtime.GC()
	}
	if !bytes.Equal(v, data) {
		t.Fatal("view changed after Delete")
	}
	ms := mappingsOf(t, f)
	if len(ms) != 1 || !strings.HasSuffix(ms[0].path, " (deleted)") {
		t.Fatalf("mappings after Delete: %+v", ms)
	}
	if _, err := MapReadOnly(path, size); !os.IsNotExist(err) {
		t.Fatalf("map of a deleted object: %v", err)
	}
	// Nor does Close of the whole store invalidate it.
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(v, data) {
		t.Fatal("view changed after Close")
	}
	runtime.KeepAlive(v)
	v = nil
	collectUntil(t, func() bool { return len(mappingsOf(t, f)) == 0 })
}

// TestMapReadOnlyWriteFaults writes to a view in a child process (the test
// binary re-run with objstoreFaultEnv set) and checks that it crashes.
const objstoreFaultEnv = "OBJSTORE_TEST_FAULT_DIR"

func TestMapReadOnlyWriteFaults(t *testing.T) {
	if dir := os.Getenv(objstoreFaultEnv); dir != "" {
		s, err := Open(Config{Dir: dir + "/store", Capacity: 1 << 20})
		if err != nil {
			t.Fatal(err)
		}
		_, path := mustPut(t, s, pattern(1<<20, 0))
		v, err := MapReadOnly(path, 1<<20)
		if err != nil {
			t.Fatal(err)
		}
		println("writing to the view")
		v[12345] = 1
		println("write succeeded")
		os.Exit(0)
	}
	if testing.Short() {
		t.Skip("runs a child process")
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestMapReadOnlyWriteFaults$", "-test.count=1")
	cmd.Env = append(os.Environ(), objstoreFaultEnv+"="+testDir(t), "GOTRACEBACK=single")
	out, err := cmd.CombinedOutput()
	if err == nil {
		t.Fatalf("child survived the write:\n%s", out)
	}
	s := string(out)
	if !strings.Contains(s, "writing to the view") || strings.Contains(s, "write succeeded") ||
		!strings.Contains(s, "SIGSEGV") || !strings.Contains(s, "fault") {
		t.Fatalf("child did not fault on the write (%v):\n%s", err, out)
	}
}
