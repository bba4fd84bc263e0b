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
}

// OpenWriter maps the first size bytes of the object file at path read-write
// and shared, so what is written is what readers of the file see. A shorter
// file is extended to size. A full /dev/shm shows up as SIGBUS on a store
// to the mapping; WriteFile reports it as an error instead, and is faster on
// tmpfs: prefer it.
func OpenWriter(path string, size int64) (*Writer, error) {
	if size < 0 {
		return nil, fmt.Errorf("objstore: open writer %s: negative size %d", path, size)
	}
	fd, err := unix.Open(path, unix.O_RDWR|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: path, Err: err}
	}
	defer unix.Close(fd)
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return nil, &os.PathError{Op: "fstat", Path: path, Err: err}
	}
	if st.Size < size {
		// Created empty by Store.Create: size it for the mapping.
		if err := unix.Ftruncate(fd, size); err != nil {
			return nil, &os.PathError{Op: "ftruncate", Path: path, Err: err}
		}
	}
	if size == 0 {
		return &Writer{data: []byte{}}, nil
	}
	if int64(int(size)) != size {
		return nil, fmt.Errorf("objstore: open writer %s: size %d overflows int", path, size)
	}
	data, err := unix.Mmap(fd, 0, int(size), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		return nil, &os.PathError{Op: "mmap", Path: path, Err: err}
	}
	return &Writer{data: data, mapped: true}, nil
}

// Bytes is the object's memory: len(Bytes()) is the object's size. It must
// not be used after Close (the memory is unmapped and accesses fault).
func (w *Writer) Bytes() []byte { return w.data }

// Close unmaps the object. (No msync is needed: the file is in shared
// memory.) Closing twice is a no-op.
func (w *Writer) Close() error {
	data, mapped := w.data, w.mapped
	w.data, w.mapped = nil, false
	if !mapped {
		return nil
	}
	if err := unix.Munmap(data); err != nil {
		return fmt.Errorf("objstore: munmap: %w", err)
	}
	return nil
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

// checkFileSize fails unless the open file fd is at least size bytes, since
// touching a mapped page wholly past the end of a file raises SIGBUS. It
// stores the file's stat in st if st is not nil.
func checkFileSize(fd int, path string, size int64, st *unix.Stat_t) error {
	var buf unix.Stat_t
	if st == nil {
		st = &buf
	}
	if err := unix.Fstat(fd, st); err != nil {
		return &os.PathError{Op: "fstat", Path: path, Err: err}
	}
	if st.Mode&unix.S_IFMT != unix.S_IFREG {
		return fmt.Errorf("objstore: %s is not a regular file", path)
	}
	if st.Size < size {
		return fmt.Errorf("objstore: %s is %d bytes, want at least %d", path, st.Size, size)
	}
	return nil
}

// WriteFile fills the object file at path with parts, in order, using
// pwrite: one copy from the caller's memory into shared memory. A full
// /dev/shm is ErrObjectStoreFull.
func WriteFile(path string, parts ...[]byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	var off int64
	for _, p := range parts {
		if _, err = f.WriteAt(p, off); err != nil {
			break
		}
		off += int64(len(p))
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if errors.Is(err, unix.ENOSPC) {
		return fmt.Errorf("%w: %s: %v", ErrObjectStoreFull, filepath.Dir(path), err)
	}
	return err
}
