package objstore

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"

	"github.com/goray/ray/internal/ids"
)

// Writer is a read-write mapping of an unsealed object's file, through which
// its creator fills it with a single copy. Any process on the node can open
// one from the path and size that Store.Create returned. A Writer is not safe
// for concurrent Close; concurrent writes to disjoint parts of Bytes are fine.
type Writer struct {
	data   []byte
	mapped bool
	fd     int // holds the file's shared lock until Close; -1 after
}

// OpenWriter maps the first size bytes of the object file at path read-write
// and shared, so what is written is what readers of the file see. A shorter
// file is extended to size. The Writer holds the file's shared lock until
// Close, so the store does not recycle the file under it. A full /dev/shm
// shows up as SIGBUS on a store to the mapping; WriteFile reports it as an
// error instead, and is faster on tmpfs: prefer it.
func OpenWriter(path string, size int64) (w *Writer, err error) {
	if size < 0 {
		return nil, fmt.Errorf("objstore: open writer %s: negative size %d", path, size)
	}
	if int64(int(size)) != size {
		return nil, fmt.Errorf("objstore: open writer %s: size %d overflows int", path, size)
	}
	fd, st, err := openLocked(path, unix.O_RDWR)
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			unix.Close(fd)
		}
	}()
	if st.Size < size {
		// Created empty by Store.Create: size it for the mapping.
		if err := unix.Ftruncate(fd, size); err != nil {
			return nil, &os.PathError{Op: "ftruncate", Path: path, Err: err}
		}
	}
	if size == 0 {
		return &Writer{data: []byte{}, fd: fd}, nil
	}
	data, err := unix.Mmap(fd, 0, int(size), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		return nil, &os.PathError{Op: "mmap", Path: path, Err: err}
	}
	return &Writer{data: data, mapped: true, fd: fd}, nil
}

// Bytes is the object's memory: len(Bytes()) is the object's size. It must
// not be used after Close (the memory is unmapped and accesses fault).
func (w *Writer) Bytes() []byte { return w.data }

// Close unmaps the object and releases the file's lock. (No msync is
// needed: the file is in shared memory.) Closing twice is a no-op.
func (w *Writer) Close() error {
	data, mapped, fd := w.data, w.mapped, w.fd
	w.data, w.mapped, w.fd = nil, false, -1
	var err error
	if mapped {
		if e := unix.Munmap(data); e != nil {
			err = fmt.Errorf("objstore: munmap: %w", e)
		}
	}
	if fd >= 0 {
		if e := unix.Close(fd); e != nil && err == nil {
			err = fmt.Errorf("objstore: close: %w", e)
		}
	}
	return err
}

// Put stores data as object id in one step, for callers in the process that
// owns the Store: Create, OpenWriter, copy, Close, Seal. On failure after
// Create the object is aborted. It returns the sealed object's path.
func (s *Store) Put(ctx context.Context, id ids.ObjectID, data []byte) (path string, err error) {
	size := int64(len(data))
	path, err = s.Create(ctx, id, size)
	if err != nil {
		return "", err
	}
	defer func() {
		if err != nil {
			err = errors.Join(err, ignoreNotFound(s.Abort(id)))
		}
	}()
	w, err := OpenWriter(path, size)
	if err != nil {
		return "", err
	}
	copy(w.Bytes(), data)
	if err := w.Close(); err != nil {
		return "", err
	}
	if err := s.Seal(id); err != nil {
		return "", err
	}
	return path, nil
}

func ignoreNotFound(err error) error {
	if errors.Is(err, ErrObjectNotFound) || errors.Is(err, ErrStoreClosed) {
		return nil
	}
	return err
}

// checkStat fails unless st is a regular file of at least size bytes,
// since touching a mapped page wholly past the end of a file raises SIGBUS.
func checkStat(st *unix.Stat_t, path string, size int64) error {
	if st.Mode&unix.S_IFMT != unix.S_IFREG {
		return fmt.Errorf("objstore: %s is not a regular file", path)
	}
	if st.Size < size {
		return fmt.Errorf("objstore: %s is %d bytes, want at least %d", path, st.Size, size)
	}
	return nil
}

// WriteFile fills the object file at path with parts, in order: one copy
// from the caller's memory into shared memory, holding the file's lock. A
// full /dev/shm is ErrObjectStoreFull.
//
// A new (empty) file is filled with pwrite, which is the fastest way to
// have tmpfs allocate its pages. A recycled file (see Store.Create) that
// already has all its pages is filled by a plain copy through a writable
// shared mapping, which this process keeps afterwards (writecache.go), so
// that the next time the store hands it the same file the copy is all
// there is to do.
func WriteFile(path string, parts ...[]byte) error {
	var total int64
	for _, p := range parts {
		total += int64(len(p))
	}
	fd, st, err := openLocked(path, unix.O_RDWR)
	if err != nil {
		return err
	}
	if total >= minPoolSize && st.Size == total && populated(&st) && int64(int(total)) == total {
		if done, err := writeMapped(fd, path, &st, parts); done {
			return err
		}
	}
	err = pwriteAll(fd, path, parts)
	if err == nil && total >= minPoolSize && int64(int(total)) == total {
		// The file now has all its pages: map it in the background for
		// the day the store recycles it to this process (writecache.go).
		// The mapping must not keep the lock, so unlock first; premap
		// owns fd from then on.
		if err = lockFile(fd, path, unix.LOCK_UN); err == nil {
			go premap(fd, int(total))
			return nil
		}
	}
	if cerr := unix.Close(fd); cerr != nil && err == nil {
		err = &os.PathError{Op: "close", Path: path, Err: cerr}
	}
	if errors.Is(err, unix.ENOSPC) {
		return fmt.Errorf("%w: %s: %v", ErrObjectStoreFull, filepath.Dir(path), err)
	}
	return err
}

// pwriteAll writes parts, in order, from offset 0 of fd.
func pwriteAll(fd int, path string, parts [][]byte) error {
	var off int64
	for _, p := range parts {
		for len(p) > 0 {
			n, err := unix.Pwrite(fd, p, off)
			if err == unix.EINTR {
				continue
			}
			if err != nil {
				return &os.PathError{Op: "write", Path: path, Err: err}
			}
			p = p[n:]
			off += int64(n)
		}
	}
	return nil
}

// populated reports whether every page of the file is allocated (tmpfs
// counts st_blocks in 512-byte units), so that storing to a mapping of it
// allocates nothing and cannot fault on a full /dev/shm.
func populated(st *unix.Stat_t) bool {
	ps := int64(pageSize)
	return st.Blocks*512 >= (st.Size+ps-1)/ps*ps
}
