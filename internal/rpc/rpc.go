package rpc

import (
	"bufio"
	"context"
	"crypto/subtle"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Frame kinds.
const (
	KindRequest  byte = 1
	KindResponse byte = 2
	KindError    byte = 3
	KindOneWay   byte = 4
)

const (
	headerSize = 14
	// MaxFrame bounds one frame's payload. Values above the inline limit go
	// through the object store, so frames stay far below this.
	MaxFrame      = 256 << 20
	helloMagic    = "GORAY\x00"
	helloVersion  = 1
	maxTokenBytes = 1024
)

// Errors reported by the transport.
var (
	ErrAuthFailed   = errors.New("rpc: authentication failed: wrong or missing cluster token")
	ErrClosed       = errors.New("rpc: connection closed")
	ErrFrameTooLong = errors.New("rpc: frame too long")
	ErrBadAddress   = errors.New("rpc: bad address")
)

// RemoteError is an error returned by the peer's handler.
type RemoteError struct{ Msg string }

func (e *RemoteError) Error() string { return e.Msg }

// Handler receives a connection's incoming requests and one-way messages, in
// arrival order, on the connection's read goroutine. For KindRequest it must
// eventually call c.Reply or c.ReplyError with reqID (possibly from another
// goroutine). payload is only valid during the call: copy what is kept.
type Handler interface {
	Handle(c *Conn, kind, method byte, reqID uint64, payload []byte)
}

// HandlerFunc adapts a function to Handler.
type HandlerFunc func(c *Conn, kind, method byte, reqID uint64, payload []byte)

// Handle calls f.
func (f HandlerFunc) Handle(c *Conn, kind, method byte, reqID uint64, payload []byte) {
	f(c, kind, method, reqID, payload)
}

type result struct {
	payload []byte
	err     error
}

// Conn is one framed connection. It is safe for concurrent use.
type Conn struct {
	nc      net.Conn
	handler Handler

	wmu     sync.Mutex
	wbuf    []byte
	spare   []byte
	writing bool
	werr    error

	pmu     sync.Mutex
	pending map[uint64]chan result
	nextID  atomic.Uint64

	closeOnce sync.Once
	done      chan struct{}
	closeErr  error

	// Value lets the owner of the connection attach state (e.g. the peer's
	// identity) to it.
	Value atomic.Pointer[any]
}

func newConn(nc net.Conn, h Handler) *Conn {
	c := &Conn{nc: nc, handler: h, pending: make(map[uint64]chan result), done: make(chan struct{})}
	return c
}

// Start begins reading. It is separate from construction so a server can
// attach state before the first message is handled.
func (c *Conn) start() { go c.readLoop() }

// Done is closed when the connection has failed or been closed.
func (c *Conn) Done() <-chan struct{} { return c.done }

// Err is the reason the connection closed (nil while open).
func (c *Conn) Err() error {
	select {
	case <-c.done:
		return c.closeErr
	default:
		return nil
	}
}

// RemoteAddr is the peer's address, for messages.
func (c *Conn) RemoteAddr() string { return c.nc.RemoteAddr().String() }

// Close closes the connection; pending calls fail with ErrClosed.
func (c *Conn) Close() error {
	c.fail(ErrClosed)
	return nil
}

func (c *Conn) fail(err error) {
	c.closeOnce.Do(func() {
		c.closeErr = err
		c.nc.Close()
		close(c.done)
		c.pmu.Lock()
		p := c.pending
		c.pending = nil
		c.pmu.Unlock()
		for _, ch := range p {
			ch <- result{err: fmt.Errorf("%w: %v", ErrClosed, err)}
		}
	})
}

func putHeader(b []byte, n int, kind, method byte, id uint64) {
	binary.BigEndian.PutUint32(b[0:4], uint32(n))
	b[4] = kind
	b[5] = method
	binary.BigEndian.PutUint64(b[6:14], id)
}

// send queues one frame and writes it, combining with concurrent senders.
func (c *Conn) send(kind, method byte, id uint64, payload []byte) error {
	if len(payload) > MaxFrame {
		return fmt.Errorf("%w: %d bytes", ErrFrameTooLong, len(payload))
	}
	c.wmu.Lock()
	if c.werr != nil {
		err := c.werr
		c.wmu.Unlock()
		return err
	}
	var h [headerSize]byte
	putHeader(h[:], len(payload), kind, method, id)
	c.wbuf = append(c.wbuf, h[:]...)
	c.wbuf = append(c.wbuf, payload...)
	if c.writing {
		c.wmu.Unlock()
		return nil
	}
	c.writing = true
	for len(c.wbuf) > 0 {
		out := c.wbuf
		c.wbuf = c.spare[:0]
		c.wmu.Unlock()
		_, err := c.nc.Write(out)
		c.wmu.Lock()
		if cap(out) <= 1<<20 {
			c.spare = out[:0]
		} else {
			c.spare = nil
		}
		if err != nil {
			c.werr = fmt.Errorf("%w: %v", ErrClosed, err)
			c.wbuf = nil
			c.writing = false
			c.wmu.Unlock()
			c.fail(err)
			return c.werr
		}
	}
	c.writing = false
	c.wmu.Unlock()
	return nil
}

var chanPool = sync.Pool{New: func() any { return make(chan result, 1) }}

// Call sends a request and waits for its response or ctx's end.
func (c *Conn) Call(ctx context.Context, method byte, payload []byte) ([]byte, error) {
	ch, id, err := c.Go(method, payload)
	if err != nil {
		return nil, err
	}
	select {
	case r := <-ch:
		chanPool.Put(ch)
		return r.payload, r.err
	case <-ctx.Done():
		c.pmu.Lock()
		if c.pending != nil {
			delete(c.pending, id)
		}
		c.pmu.Unlock()
		return nil, ctx.Err()
	}
}

// Go sends a request and returns the channel its single result will arrive
// on. The caller reads exactly one result from the channel.
func (c *Conn) Go(method byte, payload []byte) (chan result, uint64, error) {
	ch := chanPool.Get().(chan result)
	id := c.nextID.Add(1)
	c.pmu.Lock()
	if c.pending == nil {
		c.pmu.Unlock()
		return nil, 0, fmt.Errorf("%w: %v", ErrClosed, c.closeErr)
	}
	c.pending[id] = ch
	c.pmu.Unlock()
	if err := c.send(KindRequest, method, id, payload); err != nil {
		c.pmu.Lock()
		if c.pending != nil {
			delete(c.pending, id)
		}
		c.pmu.Unlock()
		return nil, 0, err
	}
	return ch, id, nil
}

// CallAsync sends a request and calls done with its result. done always
// runs on a goroutine of its own, never on the caller's, even when sending
// fails at once, so callers may hold locks that done takes.
func (c *Conn) CallAsync(method byte, payload []byte, done func([]byte, error)) {
	ch, _, err := c.Go(method, payload)
	if err != nil {
		go done(nil, err)
		return
	}
	go func() {
		r := <-ch
		chanPool.Put(ch)
		done(r.payload, r.err)
	}()
}

// Send sends a one-way message.
func (c *Conn) Send(method byte, payload []byte) error {
	return c.send(KindOneWay, method, 0, payload)
}

// Reply answers request reqID.
func (c *Conn) Reply(reqID uint64, payload []byte) error {
	return c.send(KindResponse, 0, reqID, payload)
}

// ReplyError answers request reqID with an error the caller sees as
// *RemoteError.
func (c *Conn) ReplyError(reqID uint64, err error) error {
	return c.send(KindError, 0, reqID, []byte(err.Error()))
}

func (c *Conn) readLoop() {
	r := bufio.NewReaderSize(c.nc, 64<<10)
	var h [headerSize]byte
	var buf []byte
	for {
		if _, err := io.ReadFull(r, h[:]); err != nil {
			c.fail(err)
			return
		}
		n := binary.BigEndian.Uint32(h[0:4])
		if n > MaxFrame {
			c.fail(fmt.Errorf("%w: %d bytes", ErrFrameTooLong, n))
			return
		}
		kind, method, id := h[4], h[5], binary.BigEndian.Uint64(h[6:14])
		if kind == KindResponse || kind == KindError {
			// Responses are handed off, so they get their own buffer.
			p := make([]byte, n)
			if _, err := io.ReadFull(r, p); err != nil {
				c.fail(err)
				return
			}
			c.pmu.Lock()
			ch, ok := c.pending[id]
			if ok {
				delete(c.pending, id)
			}
			c.pmu.Unlock()
			if !ok {
				continue // caller gave up
			}
			if kind == KindError {
				ch <- result{err: &RemoteError{Msg: string(p)}}
			} else {
				ch <- result{payload: p}
			}
			continue
		}
		if cap(buf) < int(n) {
			buf = make([]byte, n)
		}
		buf = buf[:n]
		if _, err := io.ReadFull(r, buf); err != nil {
			c.fail(err)
			return
		}
		if kind != KindRequest && kind != KindOneWay {
			c.fail(fmt.Errorf("rpc: unknown frame kind %d", kind))
			return
		}
		if c.handler == nil {
			if kind == KindRequest {
				c.ReplyError(id, errors.New("rpc: peer serves no requests"))
			}
			continue
		}
		c.handler.Handle(c, kind, method, id, buf)
	}
}

// splitAddr parses "unix:/path" or "tcp:host:port" (a bare host:port is TCP).
func splitAddr(addr string) (network, address string, err error) {
	switch {
	case strings.HasPrefix(addr, "unix:"):
		return "unix", addr[5:], nil
	case strings.HasPrefix(addr, "tcp:"):
		return "tcp", addr[4:], nil
	case strings.Contains(addr, ":"):
		return "tcp", addr, nil
	}
	return "", "", fmt.Errorf("%w: %q (want unix:/path or tcp:host:port)", ErrBadAddress, addr)
}

// Dial connects to addr, authenticates with token, and starts serving h
// (which may be nil for a pure client) on the connection.
func Dial(ctx context.Context, addr, token string, h Handler) (*Conn, error) {
	network, address, err := splitAddr(addr)
	if err != nil {
		return nil, err
	}
	var d net.Dialer
	nc, err := d.DialContext(ctx, network, address)
	if err != nil {
		return nil, fmt.Errorf("rpc: dial %s: %w", addr, err)
	}
	if tc, ok := nc.(*net.TCPConn); ok {
		tc.SetNoDelay(true)
	}
	if err := clientHello(ctx, nc, token); err != nil {
		nc.Close()
		return nil, fmt.Errorf("rpc: dial %s: %w", addr, err)
	}
	c := newConn(nc, h)
	c.start()
	return c, nil
}

func clientHello(ctx context.Context, nc net.Conn, token string) error {
	if len(token) > maxTokenBytes {
		return fmt.Errorf("%w: token longer than %d bytes", ErrAuthFailed, maxTokenBytes)
	}
	if dl, ok := ctx.Deadline(); ok {
		nc.SetDeadline(dl)
	} else {
		nc.SetDeadline(time.Now().Add(10 * time.Second))
	}
	defer nc.SetDeadline(time.Time{})
	msg := make([]byte, 0, len(helloMagic)+3+len(token))
	msg = append(msg, helloMagic...)
	msg = append(msg, helloVersion)
	msg = binary.BigEndian.AppendUint16(msg, uint16(len(token)))
	msg = append(msg, token...)
	if _, err := nc.Write(msg); err != nil {
		return err
	}
	var status [1]byte
	if _, err := io.ReadFull(nc, status[:]); err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return fmt.Errorf("%w (the peer closed the connection)", ErrAuthFailed)
		}
		return err
	}
	if status[0] != 0 {
		return ErrAuthFailed
	}
	return nil
}

// serverHello reads and checks a client's hello. It decodes nothing beyond
// the fixed header and the token bytes.
func serverHello(nc net.Conn, token string) error {
	nc.SetDeadline(time.Now().Add(10 * time.Second))
	defer nc.SetDeadline(time.Time{})
	var h [len(helloMagic) + 3]byte
	if _, err := io.ReadFull(nc, h[:]); err != nil {
		return err
	}
	if string(h[:len(helloMagic)]) != helloMagic || h[len(helloMagic)] != helloVersion {
		nc.Write([]byte{1})
		return fmt.Errorf("%w: not a goray peer or wrong protocol version", ErrAuthFailed)
	}
	n := int(binary.BigEndian.Uint16(h[len(helloMagic)+1:]))
	if n > maxTokenBytes {
		nc.Write([]byte{1})
		return ErrAuthFailed
	}
	got := make([]byte, n)
	if _, err := io.ReadFull(nc, got); err != nil {
		return err
	}
	if subtle.ConstantTimeCompare(got, []byte(token)) != 1 {
		nc.Write([]byte{1})
		return ErrAuthFailed
	}
	_, err := nc.Write([]byte{0})
	return err
}

// Listener accepts authenticated connections.
type Listener struct {
	ln    net.Listener
	token string
	addr  string

	mu     sync.Mutex
	conns  map[*Conn]struct{}
	closed bool
	// AuthFailures counts rejected hellos.
	AuthFailures atomic.Int64
}

// Listen listens on addr ("unix:/path", "tcp:host:port"; port 0 picks one).
func Listen(addr, token string) (*Listener, error) {
	network, address, err := splitAddr(addr)
	if err != nil {
		return nil, err
	}
	if network == "unix" {
		os.Remove(address)
	}
	ln, err := net.Listen(network, address)
	if err != nil {
		return nil, fmt.Errorf("rpc: listen %s: %w", addr, err)
	}
	if network == "unix" {
		os.Chmod(address, 0o600)
	}
	l := &Listener{ln: ln, token: token, conns: make(map[*Conn]struct{})}
	if network == "unix" {
		l.addr = "unix:" + address
	} else {
		l.addr = "tcp:" + ln.Addr().String()
	}
	return l, nil
}

// Addr is the address peers dial, in Dial's syntax.
func (l *Listener) Addr() string { return l.addr }

// Serve accepts connections until Close. newHandler makes the handler of each
// new connection (it may attach state with c.Value).
func (l *Listener) Serve(newHandler func(c *Conn) Handler) error {
	for {
		nc, err := l.ln.Accept()
		if err != nil {
			l.mu.Lock()
			closed := l.closed
			l.mu.Unlock()
			if closed {
				return nil
			}
			if ne, ok := err.(net.Error); ok && ne.Timeout() {
				continue
			}
			return err
		}
		go l.accept(nc, newHandler)
	}
}

func (l *Listener) accept(nc net.Conn, newHandler func(c *Conn) Handler) {
	if tc, ok := nc.(*net.TCPConn); ok {
		tc.SetNoDelay(true)
	}
	if err := serverHello(nc, l.token); err != nil {
		if errors.Is(err, ErrAuthFailed) {
			l.AuthFailures.Add(1)
		}
		nc.Close()
		return
	}
	c := newConn(nc, nil)
	c.handler = newHandler(c)
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		nc.Close()
		return
	}
	l.conns[c] = struct{}{}
	l.mu.Unlock()
	go func() {
		<-c.Done()
		l.mu.Lock()
		delete(l.conns, c)
		l.mu.Unlock()
	}()
	c.start()
}

// Close stops accepting and closes every accepted connection.
func (l *Listener) Close() error {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return nil
	}
	l.closed = true
	conns := l.conns
	l.conns = nil
	l.mu.Unlock()
	err := l.ln.Close()
	for c := range conns {
		c.Close()
	}
	return err
}
