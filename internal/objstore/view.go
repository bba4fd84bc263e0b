package objstore

import (
	"fmt"
	"io"
	"os"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"unsafe"
	"weak"

	"golang.org/x/sys/unix"
)

// pageSize is the OS page size: the alignment and granularity of mmap.
var pageSize = uintptr(os.Getpagesize())

// minMapSize is the smallest object MapReadOnly maps; smaller objects are
// copied, which is cheaper than a mapping (two mmap calls, a VMA, a finalizer
// and a page fault) and does not fragment the heap's mappings.
const minMapSize = 64 << 10

// zeroedAlloc makes mapView allocate its address range with make, which the
// runtime zeroes when it reuses memory. Only the benchmarks that compare the
// two allocation strategies set it.
var zeroedAlloc = false

type viewKey struct{ dev, ino uint64 }

type viewEntry struct {
	base weak.Pointer[byte] // first byte of the view's heap allocation
	addr uintptr            // its address, to match the entry in the finalizer
	size int64              // bytes mapped (the view's length)
}

// views caches the live views by file so that mapping an object again while
// an earlier view of it is reachable returns the same memory.
var views struct {
	mu sync.Mutex
	m  map[viewKey]viewEntry
}

// liveViews counts mappings made by MapReadOnly whose finalizer has not yet
// run (tests use it to wait for releases).
var liveViews atomic.Int64

// MapReadOnly returns a read-only view of the first size bytes of the sealed
// object file at path.
//
// For objects of 64 KiB or more the view is zero-copy: the file's pages are
// mapped (MAP_SHARED, PROT_READ) into a range of the Go heap allocated for
// the purpose, so the call neither copies nor touches the data and takes
// well under a millisecond even for 1 GiB (see the package documentation
// for the measured costs). The view is an ordinary
// []byte and lives exactly as long as Go code can reach it or any slice of
// it; after that a finalizer puts ordinary memory back in the range and the
// file's pages are no longer referenced by this process. Mapping a file again
// while an earlier view of it is reachable returns the same view (sliced to
// size if shorter).
//
// Smaller objects, and in the unexpected case that the heap range is not
// page-aligned, any object, are read into ordinary Go memory instead: a fresh
// copy on every call.
//
// The view must not be written to: a write to a mapped view faults and
// crashes the program (a Go runtime fatal error, not a recoverable panic).
// The view stays valid and unchanged after the object is deleted from the
// store or the store is closed: a view of a file of 1 MiB or more keeps the
// file open with a shared lock until its finalizer has unmapped it, which
// stops the store from recycling the file (see lock.go).
func MapReadOnly(path string, size int64) ([]byte, error) {
	if size < 0 {
		return nil, fmt.Errorf("objstore: map %s: negative size %d", path, size)
	}
	if int64(int(size)) != size || uint64(size) > uint64(^uintptr(0)-pageSize) {
		return nil, fmt.Errorf("objstore: map %s: size %d too large", path, size)
	}
	if size < minMapSize {
		return readSmall(path, size)
	}
	// Cache hit: one stat, no open.
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		return nil, &os.PathError{Op: "stat", Path: path, Err: err}
	}
	if v := cachedView(viewKey{dev: st.Dev, ino: st.Ino}, size); v != nil {
		return v, nil
	}

	fd, st, err := openLocked(path, unix.O_RDONLY)
	if err != nil {
		return nil, err
	}
	// A mapped view of a file the store may recycle keeps fd, and so its
	// lock, until the finalizer; otherwise fd is closed on return.
	keepFd := false
	defer func() {
		if !keepFd {
			unix.Close(fd)
		}
	}()
	if err := checkStat(&st, path, size); err != nil {
		return nil, err
	}
	key := viewKey{dev: st.Dev, ino: st.Ino}

	// Holding views.mu while mapping makes concurrent first maps of one
	// file share a view; mapping takes well under a millisecond.
	views.mu.Lock()
	defer views.mu.Unlock()
	if e, ok := views.m[key]; ok {
		if p := e.base.Value(); p != nil && e.size >= size {
			return unsafe.Slice(p, size), nil
		}
	}
	lockFd := -1
	if st.Size >= minPoolSize {
		lockFd = fd
	}
	v, mapped, err := mapView(fd, path, key, size, lockFd)
	if err != nil || !mapped {
		return v, err
	}
	keepFd = lockFd >= 0
	if views.m == nil {
		views.m = make(map[viewKey]viewEntry)
	}
	base := unsafe.SliceData(v)
	views.m[key] = viewEntry{base: weak.Make(base), addr: uintptr(unsafe.Pointer(base)), size: size}
	return v, nil
}

func cachedView(key viewKey, size int64) []byte {
	views.mu.Lock()
	defer views.mu.Unlock()
	e, ok := views.m[key]
	if !ok || e.size < size {
		return nil
	}
	if p := e.base.Value(); p != nil {
		return unsafe.Slice(p, size)
	}
	return nil
}

// mapView allocates a page-aligned range of the Go heap and maps the file
// over it, or, if the range is not aligned, reads the file into it
// (mapped == false). size >= minMapSize. If lockFd is not -1 and the file
// is mapped, the view's finalizer closes lockFd after unmapping: the
// descriptor holds the lock that keeps the store from recycling the file.
func mapView(fd int, path string, key viewKey, size int64, lockFd int) (v []byte, mapped bool, err error) {
	n := (uintptr(size) + pageSize - 1) &^ (pageSize - 1)
	base := allocRange(int(n))
	v = unsafe.Slice(base, size)
	if uintptr(unsafe.Pointer(base))%pageSize != 0 {
		if err := readFull(fd, path, v); err != nil {
			return nil, false, err
		}
		return v, false, nil
	}
	// From here until the finalizer, the range is the file's pages.
	// (Bytes of the last page past the end of the file read as zero.)
	if err := mmapFixed(unsafe.Pointer(base), n, unix.PROT_READ, unix.MAP_SHARED, fd); err != nil {
		// A failed MAP_FIXED may already have unmapped the range: put
		// heap memory back before the allocation can be reused.
		restoreHeap(base, n)
		return nil, false, &os.PathError{Op: "mmap", Path: path, Err: err}
	}
	liveViews.Add(1)
	// SetFinalizer rather than AddCleanup: a finalizer keeps the allocation
	// alive (resurrected) until it has run, so the range cannot be handed to
	// another allocation while it still maps the file. The closure must not
	// capture v or base.
	runtime.SetFinalizer(base, func(p *byte) { releaseView(p, n, key, lockFd) })
	return v, true, nil
}

// allocRange returns the first byte of a fresh Go heap allocation of at
// least n bytes, for n >= minMapSize. Allocations that large get their own
// span, which starts on a runtime page boundary (8 KiB), so they are aligned
// to the OS page size.
//
// The allocation is not zeroed. make([]byte, n) zeroes memory that the
// runtime reuses, which for a view means writing n bytes (and faulting in n
// bytes of RSS) only to throw them away with the mmap that follows; see
// BenchmarkMapReadOnly256MiBAfterGC. strings.Builder.Grow on an empty
// builder allocates its buffer without zeroing (internal/bytealg.MakeNoZero),
// so we take that buffer. Should a future Go zero it after all, only speed
// suffers.
func allocRange(n int) *byte {
	if zeroedAlloc {
		b := make([]byte, n)
		return &b[0]
	}
	var sb strings.Builder
	sb.Grow(n)
	sb.WriteByte(0) // gives the buffer a first byte we can take the address of
	return unsafe.StringData(sb.String())
}

// releaseView is the finalizer of a mapped view: it maps private anonymous
// (zero, read-write) memory over the range, which drops the file mapping in
// the same step and gives the heap back ordinary memory for the runtime to
// reuse once the allocation is freed. Then it closes lockFd (if not -1),
// which releases the view's lock on the file: only now may the store
// recycle it. (The error of close is dropped: there is no one to tell, and
// on Linux the descriptor, and the lock with it, is released even when
// close reports an error.)
func releaseView(p *byte, n uintptr, key viewKey, lockFd int) {
	restoreHeap(p, n)
	if lockFd >= 0 {
		_ = unix.Close(lockFd)
	}
	liveViews.Add(-1)
	addr := uintptr(unsafe.Pointer(p))
	views.mu.Lock()
	if e, ok := views.m[key]; ok && e.addr == addr {
		delete(views.m, key)
	}
	views.mu.Unlock()
}

func restoreHeap(p *byte, n uintptr) {
	err := mmapFixed(unsafe.Pointer(p), n, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS, -1)
	if err != nil {
		// The heap would keep a hole or a read-only file mapping that the
		// runtime later writes to: there is no safe way to continue.
		panic(fmt.Sprintf("objstore: cannot restore heap memory at %p (%d bytes): %v", p, n, err))
	}
}

// mmapFixed maps fd (or anonymous memory if fd is -1) at exactly addr,
// replacing whatever is mapped there. unix.Mmap cannot take an address.
func mmapFixed(addr unsafe.Pointer, n uintptr, prot, flags, fd int) error {
	r, _, errno := unix.Syscall6(unix.SYS_MMAP, uintptr(addr), n, uintptr(prot),
		uintptr(flags|unix.MAP_FIXED), uintptr(fd), 0)
	if errno != 0 {
		return errno
	}
	if r != uintptr(addr) {
		return fmt.Errorf("mmap returned %#x, want %p", r, addr)
	}
	return nil
}

// readSmall copies a small object into a fresh slice, holding the file's
// lock while it reads.
func readSmall(path string, size int64) ([]byte, error) {
	fd, st, err := openLocked(path, unix.O_RDONLY)
	if err != nil {
		return nil, err
	}
	defer unix.Close(fd)
	if err := checkStat(&st, path, size); err != nil {
		return nil, err
	}
	b := make([]byte, size)
	if err := readFull(fd, path, b); err != nil {
		return nil, err
	}
	return b, nil
}

func readFull(fd int, path string, b []byte) error {
	for off := 0; off < len(b); {
		n, err := unix.Pread(fd, b[off:], int64(off))
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return &os.PathError{Op: "read", Path: path, Err: err}
		}
		if n == 0 {
			return &os.PathError{Op: "read", Path: path, Err: io.ErrUnexpectedEOF}
		}
		off += n
	}
	return nil
}
