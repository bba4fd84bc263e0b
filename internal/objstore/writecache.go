package objstore

import (
	"errors"
	"fmt"
	"runtime/debug"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

// Writing a recycled file through a mapping this process already holds is
// a plain memory copy (about 20 GB/s measured, against about 8 GB/s for
// pwrite over existing pages and 1-3 GB/s into a new file). So WriteFile
// keeps the writable shared mappings it makes, a few of them, keyed by
// file, and uses one again when the store hands it the same file for a new
// object.
//
// A cached mapping is only written while WriteFile holds the shared lock of
// a file the store just created at the object's path and that fstat shows
// to be that very file (same device and inode: the cached mapping keeps its
// inode alive, so the number cannot have been reused) and to be exactly the
// object's size, so the copy never reaches past the end of the file. Between
// writes the mapping holds no lock (the store may recycle the file), and a
// mapping of a file that is no longer linked (evicted from the pool, deleted
// while a view held it, or removed by Store.Close) is dropped within
// writeMapSweep, since it would otherwise keep the file's memory alive.

const (
	maxWriteMaps  = 8                // cached mappings per process
	writeMapSweep = time.Second      // how often idle mappings are checked
	writeMapIdle  = 30 * time.Second // an unused mapping is dropped after this
)

// writeMap is a cached writable mapping of an object file.
type writeMap struct {
	key  viewKey
	fd   int    // the descriptor it was mapped from (not locked), for fstat
	data []byte // MAP_SHARED, read-write, from offset 0
	last time.Time
}

// mappedWrites counts WriteFile calls that copied through a mapping (tests
// use it to tell the two ways of writing apart).
var mappedWrites atomic.Int64

// wmaps holds the idle mappings, least recently used first. A mapping in
// use by a WriteFile is taken out, so no one else can unmap it.
var wmaps struct {
	mu    sync.Mutex
	idle  []*writeMap
	timer *time.Timer // armed while idle is not empty
}

// writeMapped copies parts into the object file fd (open read-write with
// the shared lock held; st is its status: st.Size bytes, all allocated,
// the sum of the parts' lengths) through a cached mapping of the file, or a
// new one that it then caches. It reports done == false, having written
// nothing and leaving fd to the caller, if the file could not be mapped;
// otherwise it has consumed fd.
func writeMapped(fd int, path string, st *unix.Stat_t, parts [][]byte) (done bool, err error) {
	key := viewKey{dev: st.Dev, ino: st.Ino}
	size := int(st.Size)
	m := takeWriteMap(key, size)
	fresh := m == nil
	if fresh {
		data, err := mapPopulated(fd, size)
		if err != nil {
			// Out of address space or map count: pwrite does the job.
			return false, nil
		}
		m = &writeMap{key: key, fd: -1, data: data}
	}
	err = copyParts(m.data[:size], parts)
	if fresh {
		// The mapping keeps fd's open file description, and with it the
		// lock, until it is unmapped: unlock explicitly, so the cached
		// mapping does not stop the store from recycling the file.
		if uerr := lockFile(fd, path, unix.LOCK_UN); uerr != nil {
			dropWriteMaps([]*writeMap{m})
			closeFd(fd)
			return true, errors.Join(err, uerr)
		}
		m.fd = fd
	} else {
		closeFd(fd) // releases the lock
	}
	if err != nil {
		dropWriteMaps([]*writeMap{m})
		return true, fmt.Errorf("objstore: writing %s: %w", path, err)
	}
	putWriteMap(m)
	mappedWrites.Add(1)
	return true, nil
}

// premap maps the first size bytes of fd, an object file this process has
// just filled with pwrite, and caches the mapping, so that when the store
// recycles the file to this process the copy into it is all there is to
// do. It runs in the background, owns fd (which holds no lock) and costs
// about a tenth of the pwrite that filled the file: populating the page
// tables of 800 MiB takes 55-85 ms, which would otherwise be paid by the
// first write through the mapping. A file that could not be mapped is
// simply not cached.
func premap(fd, size int) {
	var st unix.Stat_t
	if unix.Fstat(fd, &st) != nil || st.Nlink == 0 || st.Size < int64(size) {
		closeFd(fd) // deleted or recycled already
		return
	}
	data, err := mapPopulated(fd, size)
	if err != nil {
		closeFd(fd)
		return
	}
	putWriteMap(&writeMap{key: viewKey{dev: st.Dev, ino: st.Ino}, fd: fd, data: data})
}

// populateChunk is how much of a mapping one madvise populates.
const populateChunk = 32 << 20

// mapPopulated maps the first size bytes of fd shared and writable, and
// populates the page tables for the file's existing pages, so that writes
// through the mapping do not fault. It populates in chunks with
// MADV_POPULATE_READ rather than with MAP_POPULATE, which would hold the
// process's memory-map lock throughout (55-85 ms for 800 MiB) and stall
// every mmap meanwhile, the Go runtime's included. Read faults map 16 pages
// at a time and, in a shared mapping of tmpfs (which has no dirty
// tracking), map them writable; MADV_POPULATE_WRITE faults page by page and
// takes nearly three times as long. Populating stops early, without error,
// if the file turns out shorter (a background premap of a file recycled
// meanwhile) or the kernel lacks MADV_POPULATE_READ (before Linux 5.14):
// writes then fault the pages in, which is slower but no less correct.
func mapPopulated(fd, size int) ([]byte, error) {
	data, err := unix.Mmap(fd, 0, size, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		return nil, err
	}
	for off := 0; off < size; off += populateChunk {
		if unix.Madvise(data[off:min(off+populateChunk, size)], unix.MADV_POPULATE_READ) != nil {
			break
		}
	}
	return data, nil
}

// copyParts copies parts, in order, into dst, a mapping of an object file.
// The caller made sure the file covers dst and has all its pages, so the
// copy cannot fault; should it fault all the same (the file truncated by
// someone else), the fault becomes an error rather than a crash.
func copyParts(dst []byte, parts [][]byte) (err error) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if r := recover(); r != nil {
			if _, ok := r.(interface{ Addr() uintptr }); !ok {
				panic(r)
			}
			err = fmt.Errorf("memory fault in the mapping: %v", r)
		}
	}()
	off := 0
	for _, p := range parts {
		off += copy(dst[off:], p)
	}
	return nil
}

// takeWriteMap takes the idle mapping of file key out of the cache if it
// covers size bytes (a shorter one is dropped), or returns nil. It also
// drops the mappings of files that are no longer linked.
func takeWriteMap(key viewKey, size int) *writeMap {
	wmaps.mu.Lock()
	victims := sweepLocked(time.Now())
	var m *writeMap
	if i := slices.IndexFunc(wmaps.idle, func(m *writeMap) bool { return m.key == key }); i >= 0 {
		m = wmaps.idle[i]
		wmaps.idle = slices.Delete(wmaps.idle, i, i+1)
		if len(m.data) < size {
			victims = append(victims, m)
			m = nil
		}
	}
	wmaps.mu.Unlock()
	dropWriteMaps(victims)
	return m
}

// putWriteMap returns m to the cache as the most recently used mapping,
// dropping the least recently used beyond maxWriteMaps.
func putWriteMap(m *writeMap) {
	m.last = time.Now()
	wmaps.mu.Lock()
	var victims []*writeMap
	// A second mapping of one file (two writes of it at once, which the
	// store does not do) replaces the first.
	wmaps.idle = slices.DeleteFunc(wmaps.idle, func(o *writeMap) bool {
		if o.key == m.key {
			victims = append(victims, o)
			return true
		}
		return false
	})
	wmaps.idle = append(wmaps.idle, m)
	if n := len(wmaps.idle) - maxWriteMaps; n > 0 {
		victims = append(victims, wmaps.idle[:n]...)
		wmaps.idle = slices.Delete(wmaps.idle, 0, n)
	}
	if wmaps.timer == nil {
		wmaps.timer = time.AfterFunc(writeMapSweep, sweepWriteMaps)
	}
	wmaps.mu.Unlock()
	dropWriteMaps(victims)
}

// sweepWriteMaps runs every writeMapSweep while mappings are cached.
func sweepWriteMaps() {
	wmaps.mu.Lock()
	victims := sweepLocked(time.Now())
	if len(wmaps.idle) > 0 {
		wmaps.timer.Reset(writeMapSweep)
	} else {
		wmaps.timer = nil
	}
	wmaps.mu.Unlock()
	dropWriteMaps(victims)
}

// sweepLocked takes out of the cache, and returns, the mappings of files
// that are no longer linked (their memory would live as long as the
// mapping) or were not used for writeMapIdle. Called with wmaps.mu held.
func sweepLocked(now time.Time) (victims []*writeMap) {
	wmaps.idle = slices.DeleteFunc(wmaps.idle, func(m *writeMap) bool {
		var st unix.Stat_t
		if unix.Fstat(m.fd, &st) != nil || st.Nlink == 0 || now.Sub(m.last) > writeMapIdle {
			victims = append(victims, m)
			return true
		}
		return false
	})
	return victims
}

// dropWriteMaps unmaps and closes mappings taken out of the cache. Unmapping
// a file that is no longer linked frees its memory, which for a big file
// takes a while, so it is done without holding wmaps.mu.
func dropWriteMaps(ms []*writeMap) {
	for _, m := range ms {
		if err := unix.Munmap(m.data); err != nil {
			// Only an address that is not a mapping fails, and every
			// mapping here was made by Mmap and is unmapped once.
			panic(fmt.Sprintf("objstore: munmap of a cached writer mapping: %v", err))
		}
		if m.fd >= 0 {
			closeFd(m.fd)
		}
	}
}

// closeFd closes a descriptor of an object file. Its error is dropped on
// purpose: Linux releases the descriptor (and its lock) even when close
// reports an error, and for a tmpfs file there is nothing left to flush.
func closeFd(fd int) { _ = unix.Close(fd) }

// numWriteMaps is the number of idle cached mappings, and whether one of
// them maps inode ino (for tests).
func numWriteMaps(ino uint64) (n int, found bool) {
	wmaps.mu.Lock()
	defer wmaps.mu.Unlock()
	for _, m := range wmaps.idle {
		found = found || m.key.ino == ino
	}
	return len(wmaps.idle), found
}
