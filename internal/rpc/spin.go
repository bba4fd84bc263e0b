package rpc

import (
	"io"
	"net"
	"runtime"
	"syscall"
	"time"
)

// spinFor is how long a connection's reader polls for a response it
// expects before it sleeps in the poller.
//
// Why: on a machine with few cores, and on virtual machines above all,
// waking a thread that sleeps in epoll costs tens of microseconds (the
// idle CPU must be woken too), more than a whole task's round trip
// otherwise. While a call is outstanding and its answer is likely to come
// back within microseconds, reading again (yielding to this process's
// other goroutines in between) keeps the reader awake to take it.
const spinFor = 50 * time.Microsecond

// recentFrame: a connection whose peer sent a frame this recently is
// expected to send another soon.
const recentFrame = 200 * time.Microsecond

var clockBase = time.Now()

// monotonic is a monotonic clock reading in nanoseconds.
func monotonic() int64 { return int64(time.Since(clockBase)) }

// spinReader reads a connection, polling briefly when the connection
// expects a frame. Only the connection's read loop uses it.
type spinReader struct {
	c        *Conn
	rc       syscall.RawConn
	readFD   func(fd uintptr) bool // s.poll, bound once: no closure per Read
	p        []byte
	n        int
	err      error
	deadline int64
}

func newSpinReader(c *Conn) io.Reader {
	sc, ok := c.nc.(syscall.Conn)
	if !ok {
		return c.nc
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return c.nc
	}
	s := &spinReader{c: c, rc: rc}
	s.readFD = s.poll
	return s
}

func (s *spinReader) Read(p []byte) (int, error) {
	if !s.c.awaiting() {
		return s.c.nc.Read(p)
	}
	s.p, s.n, s.err = p, 0, nil
	s.deadline = monotonic() + int64(spinFor)
	err := s.rc.Read(s.readFD)
	s.p = nil
	if err != nil {
		return 0, err
	}
	if s.err != nil {
		la := s.c.nc.LocalAddr()
		return 0, &net.OpError{Op: "read", Net: la.Network(), Addr: la, Err: s.err}
	}
	if s.n == 0 && len(p) > 0 {
		return 0, io.EOF
	}
	return s.n, nil
}

// poll reads fd until data, EOF or an error, or until the deadline, after
// which it lets the runtime's poller wait for readability.
func (s *spinReader) poll(fd uintptr) bool {
	for {
		s.n, s.err = syscall.Read(int(fd), s.p)
		switch {
		case s.err == syscall.EINTR:
			continue
		case s.err == syscall.EAGAIN:
			if monotonic() > s.deadline {
				return false // sleep in the poller until readable
			}
			runtime.Gosched()
			continue
		}
		if s.n < 0 {
			s.n = 0
		}
		return true
	}
}
