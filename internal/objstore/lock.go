package objstore

import (
	"errors"
	"fmt"
	"io/fs"
	"os"

	"golang.org/x/sys/unix"
)

// The store recycles the files of deleted objects (pool.go), so an object
// file's bytes can change after Delete. Every process that reads or writes
// an object file therefore holds a shared flock on it for as long as it
// uses the bytes, and the store recycles a file only if it can take an
// exclusive lock without waiting; otherwise it unlinks the file, which keeps
// the bytes of whoever still uses them. See "Recycling" in doc.go.

// minPoolSize is the smallest object whose file the store recycles. Smaller
// files are unlinked on Delete, as they always were: their pages are cheap
// to allocate again, and their readers need not keep a descriptor open.
const minPoolSize = 1 << 20

// errReplaced: the path no longer names the file that was opened, because
// the object was deleted (and its file perhaps recycled) between the open
// and the lock. For callers it is the same as the file not existing.
var errReplaced = fmt.Errorf("object file deleted or replaced while being opened: %w", fs.ErrNotExist)

// openLocked opens the object file at path (flags as for open(2), O_CLOEXEC
// is added), takes a shared flock on it and checks that path still names
// the opened file, so that the file cannot have been recycled in between.
// It returns the descriptor, which holds the lock until it is closed (or
// unlocked), and the file's status.
func openLocked(path string, flags int) (fd int, st unix.Stat_t, err error) {
	fd, err = unix.Open(path, flags|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1, st, &os.PathError{Op: "open", Path: path, Err: err}
	}
	if err := lockFile(fd, path, unix.LOCK_SH); err != nil {
		unix.Close(fd)
		return -1, st, err
	}
	if err := unix.Fstat(fd, &st); err != nil {
		unix.Close(fd)
		return -1, st, &os.PathError{Op: "fstat", Path: path, Err: err}
	}
	var now unix.Stat_t
	if err := unix.Stat(path, &now); err != nil {
		unix.Close(fd)
		return -1, st, &os.PathError{Op: "stat", Path: path, Err: err}
	}
	if now.Dev != st.Dev || now.Ino != st.Ino {
		unix.Close(fd)
		return -1, st, &os.PathError{Op: "open", Path: path, Err: errReplaced}
	}
	return fd, st, nil
}

// lockFile applies flock operation how to fd, retrying on EINTR. A shared
// lock waits only while the store holds the exclusive lock, which it takes
// without waiting and keeps for a rename.
func lockFile(fd int, path string, how int) error {
	for {
		err := unix.Flock(fd, how)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return &os.PathError{Op: "flock", Path: path, Err: err}
		}
		return nil
	}
}

// OpenFile opens the object file at path for reading or writing (flag as
// for os.OpenFile, without O_CREATE) and holds a shared lock on it until the
// file is closed, so that the store does not recycle the file while it is
// in use. Processes that read or write object files with ordinary I/O (the
// node's cross-node transfers) must open them with OpenFile. If the object
// was deleted meanwhile, the error satisfies errors.Is(err, fs.ErrNotExist).
//
// A mapping made from the file holds the lock after the file is closed,
// until it is unmapped (the mapping keeps the open file description, which
// owns the lock).
func OpenFile(path string, flag int) (*os.File, error) {
	if flag&os.O_CREATE != 0 {
		return nil, errors.New("objstore: OpenFile cannot create object files")
	}
	fd, _, err := openLocked(path, flag)
	if err != nil {
		return nil, err
	}
	return os.NewFile(uintptr(fd), path), nil
}
