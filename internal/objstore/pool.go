package objstore

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"

	"golang.org/x/sys/unix"
)

// The pool keeps the files of deleted objects (1 MiB and more) for Create
// to reuse, as plasma reuses its arena: a recycled file's pages already
// exist, so filling it is a copy into memory the kernel need not allocate
// and zero, and a writer that still maps the file from an earlier object
// (writecache.go) need not even fault. See "Recycling" in doc.go.

// pooledFile is a free file in the pool, named .pool-N in the directory.
type pooledFile struct {
	path string
	size int64 // its length: the size of the object it last held
}

// recycle moves the file of a deleted object, already renamed to trash, into
// the pool, and reports whether it did; if not, the caller unlinks it. The
// file is recycled only if no process holds a lock on it (a live view, a
// reader or a writer: see lock.go), it holds exactly the deleted object's
// size bytes, and the ledger has room for it in the pool. Failing to open
// or lock it only means it is not recycled; the unlink that follows reports
// any real problem with the file.
func (s *Store) recycle(trash string, size int64) bool {
	fd, err := unix.Open(trash, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return false
	}
	// Closing drops the exclusive lock, once the file is in the pool under
	// its new name. A process that opened the object's path before Delete
	// and waits for a shared lock then finds that the path no longer names
	// the file it opened (openLocked) and treats the object as deleted.
	defer unix.Close(fd)
	if unix.Flock(fd, unix.LOCK_EX|unix.LOCK_NB) != nil {
		return false // someone still uses the bytes
	}
	var st unix.Stat_t
	if unix.Fstat(fd, &st) != nil || st.Size != size {
		return false // an aborted object whose writer wrote short or long
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed || !s.led.pool(size) {
		return false
	}
	s.trashSeq++
	name := filepath.Join(s.dir, fmt.Sprintf(".pool-%d", s.trashSeq))
	if os.Rename(trash, name) != nil {
		s.led.unpool(size)
		return false // the caller's unlink of trash reports the trouble
	}
	s.pool = append(s.pool, pooledFile{path: name, size: size})
	return true
}

// takePoolLocked prepares the files for a Create of size bytes whose
// capacity was just granted: it picks the pooled file to reuse, if one
// suits (pickPooled), and the pooled files to evict, oldest first, so that
// the objects and the rest of the pool fit the capacity again. Both leave
// the pool and the ledger; the caller renames or unlinks them outside the
// lock. Called with s.mu held.
func (s *Store) takePoolLocked(size int64) (reuse string, evict []string) {
	if size >= minPoolSize {
		if i := pickPooled(s.pool, size); i >= 0 {
			f := s.pool[i]
			s.pool = slices.Delete(s.pool, i, i+1)
			s.led.unpool(f.size)
			reuse = f.path
		}
	}
	for s.led.excess() > 0 && len(s.pool) > 0 {
		f := s.pool[0]
		s.pool = slices.Delete(s.pool, 0, 1)
		s.led.unpool(f.size)
		evict = append(evict, f.path)
	}
	return reuse, evict
}

// pickPooled returns the index in pool of the file to reuse for an object
// of size bytes, or -1 for none: the shortest file of at least size bytes
// if it is at most twice that (truncating a much longer one would free most
// of it, to no one's benefit), else the longest file of at least half that.
// Among files of one length it takes the most recently pooled, whose pages
// the last writer most likely still maps.
func pickPooled(pool []pooledFile, size int64) int {
	best := -1
	for i := len(pool) - 1; i >= 0; i-- {
		p := pool[i].size
		if p >= size && p <= 2*size && (best < 0 || p < pool[best].size) {
			best = i
		}
	}
	if best >= 0 {
		return best
	}
	for i := len(pool) - 1; i >= 0; i-- {
		p := pool[i].size
		if p < size && 2*p >= size && (best < 0 || p > pool[best].size) {
			best = i
		}
	}
	return best
}

// makeFile makes the file of a new object of size bytes at path: a new,
// empty file (the writer's pwrite grows it, see createFile), or the pooled
// file reuse, renamed to path and truncated to exactly size bytes. It first
// unlinks the evicted pool files, so that their memory is free before the
// new object's is used.
func makeFile(path string, size int64, reuse string, evict []string) error {
	var errs []error
	for _, p := range evict {
		errs = append(errs, removeFile(p))
	}
	if err := errors.Join(errs...); err != nil {
		if reuse != "" {
			err = errors.Join(err, removeFile(reuse))
		}
		return err
	}
	if reuse == "" {
		return createFile(path)
	}
	// RENAME_NOREPLACE, as O_EXCL in createFile: never clobber a file.
	if err := unix.Renameat2(unix.AT_FDCWD, reuse, unix.AT_FDCWD, path, unix.RENAME_NOREPLACE); err != nil {
		return errors.Join(&os.LinkError{Op: "rename", Old: reuse, New: path, Err: err}, removeFile(reuse))
	}
	if err := os.Truncate(path, size); err != nil {
		return errors.Join(err, removeFile(path))
	}
	return nil
}

// removeFile unlinks path; a file that is already gone is not an error
// (Close may have removed the whole directory meanwhile).
func removeFile(path string) error {
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("objstore: %w", err)
	}
	return nil
}
