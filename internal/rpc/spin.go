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

// spinReader reads a connection, polling briefly when the connection has
// calls in flight.
type spinReader struct {
	c  *Conn
	rc syscall.RawConn
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
	return &spinReader{c: c, rc: rc}
}

func (s *spinReader) Read(p []byte) (int, error) {
	if !s.c.awaiting() {
		return s.c.nc.Read(p)
	}
	var n int
	var rerr error
	deadline := monotonic() + int64(spinFor)
	err := s.rc.Read(func(fd uintptr) bool {
		for {
			n, rerr = syscall.Read(int(fd), p)
			switch {
			case rerr == syscall.EINTR:
				continue
			case rerr == syscall.EAGAIN:
				if monotonic() > deadline {
					return false // sleep in the poller until readable
				}
				runtime.Gosched()
				continue
			}
			return true
		}
	})
	if err != nil {
		return 0, err
	}
	if rerr != nil {
		return 0, &net.OpError{Op: "read", Net: s.c.nc.LocalAddr().Network(), Addr: s.c.nc.LocalAddr(), Err: rerr}
	}
	if n == 0 && len(p) > 0 {
		return 0, io.EOF
	}
	return n, nil
}
