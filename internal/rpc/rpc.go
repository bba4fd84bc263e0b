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
	MaxFrame       = 256 << 20
	helloMagic     = "GORAY\x00"
	helloVersion   = 2
	maxTokenBytes  = 1024
	maxTargetBytes = 256
	statusOK       = 0
	statusAuth     = 1
	statusRoute    = 2
)

// Errors reported by the transport.
var (
	ErrAuthFailed   = errors.New("rpc: authentication failed: wrong or missing cluster token")
	ErrClosed       = errors.New("rpc: connection closed")
	ErrFrameTooLong = errors.New("rpc: frame too long")
	ErrBadAddress   = errors.New("rpc: bad address")
	ErrNoRoute      = errors.New("rpc: the node has no such process to route to")
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

// pending is a call waiting for its response: a channel (Call, Go), or a
// callback run on the read goroutine (CallInline).
type pending struct {
	ch chan result
	fn func([]byte, error)
}

// Conn is one framed connection. It is safe for concurrent use.
type Conn struct {
	nc      net.Conn
	handler Handler

	wmu     sync.Mutex
	wbuf    []byte
	spare   []byte
	writing bool
	corked  int
	werr    error

	pmu     sync.Mutex
	pending map[uint64]pending
	nextID  atomic.Uint64

	lastFrame atomic.Int64 // monotonic() when the last frame arrived
	closeOnce sync.Once
	done      chan struct{}
	closeErr  error
}

func newConn(nc net.Conn, h Handler) *Conn {
	c := &Conn{nc: nc, handler: h, pending: make(map[uint64]pending), done: make(chan struct{})}
	return c
}

// start begins reading. It is separate from construction so the listener
// can install the connection's handler before the first message arrives.
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

// IsUnix reports whether the connection is a local Unix socket.
func (c *Conn) IsUnix() bool { _, ok := c.nc.(*net.UnixConn); return ok }

// RemoteAddr is the peer's address, for messages.
func (c *Conn) RemoteAddr() string { return c.nc.RemoteAddr().String() }

// awaiting reports whether c is likely to receive a frame within
// microseconds: calls on it wait for responses, or its peer sent something
// a moment ago (request and response alternate).
func (c *Conn) awaiting() bool {
	if monotonic()-c.lastFrame.Load() < int64(recentFrame) {
		return true
	}
	c.pmu.Lock()
	n := len(c.pending)
	c.pmu.Unlock()
	return n > 0
}

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
		for _, w := range p {
			r := result{err: fmt.Errorf("%w: %v", ErrClosed, err)}
			if w.fn != nil {
				// fail may run on a sender holding its caller's locks.
				go w.fn(r.payload, r.err)
				continue
			}
			w.ch <- r
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
	return c.sendParts(kind, method, id, payload, nil)
}

// directMin is the size from which a frame's tail is written from the
// caller's memory (writev) rather than copied into the write buffer, when
// no other sender is writing.
const directMin = 32 << 10

// sendParts sends one frame whose payload is head followed by tail.
func (c *Conn) sendParts(kind, method byte, id uint64, head, tail []byte) error {
	n := len(head) + len(tail)
	if n > MaxFrame {
		return fmt.Errorf("%w: %d bytes", ErrFrameTooLong, n)
	}
	c.wmu.Lock()
	if c.werr != nil {
		err := c.werr
		c.wmu.Unlock()
		return err
	}
	var h [headerSize]byte
	putHeader(h[:], n, kind, method, id)
	c.wbuf = append(c.wbuf, h[:]...)
	c.wbuf = append(c.wbuf, head...)
	if c.writing || c.corked > 0 || len(tail) < directMin {
		c.wbuf = append(c.wbuf, tail...)
		if c.writing || c.corked > 0 {
			c.wmu.Unlock()
			return nil
		}
		return c.flushLocked()
	}
	// Nobody else is writing: write what is buffered and the tail in one
	// writev, then go on as flushLocked with whatever was queued meanwhile.
	c.writing = true
	out := c.wbuf
	c.wbuf = c.spare[:0]
	c.wmu.Unlock()
	bufs := net.Buffers{out, tail}
	_, err := bufs.WriteTo(c.nc)
	c.wmu.Lock()
	c.recycle(out)
	if err != nil {
		return c.writeFailedLocked(err)
	}
	return c.flushLocked()
}

// Cork holds this connection's frames in its buffer until the matching
// Uncork, which writes them all at once: one write for a burst of pushes.
// Corks nest.
func (c *Conn) Cork() {
	c.wmu.Lock()
	c.corked++
	c.wmu.Unlock()
}

// Uncork ends a Cork and writes what it held.
func (c *Conn) Uncork() error {
	c.wmu.Lock()
	c.corked--
	if c.corked > 0 || c.writing || len(c.wbuf) == 0 || c.werr != nil {
		err := c.werr
		c.wmu.Unlock()
		return err
	}
	return c.flushLocked()
}

// flushLocked writes the buffer until it stays empty, releasing wmu while
// writing so other senders can append; called with wmu held, returns with
// it released.
func (c *Conn) flushLocked() error {
	c.writing = true
	for len(c.wbuf) > 0 {
		out := c.wbuf
		c.wbuf = c.spare[:0]
		c.wmu.Unlock()
		_, err := c.nc.Write(out)
		c.wmu.Lock()
		c.recycle(out)
		if err != nil {
			return c.writeFailedLocked(err)
		}
	}
	c.writing = false
	c.wmu.Unlock()
	return nil
}

// recycle keeps a written buffer for reuse unless it grew big.
func (c *Conn) recycle(out []byte) {
	if cap(out) <= 1<<20 {
		c.spare = out[:0]
	} else {
		c.spare = nil
	}
}

// writeFailedLocked fails the connection after a write error; called with
// wmu held, returns with it released.
func (c *Conn) writeFailedLocked(err error) error {
	c.werr = fmt.Errorf("%w: %v", ErrClosed, err)
	c.wbuf = nil
	c.writing = false
	c.wmu.Unlock()
	c.fail(err)
	return c.werr
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
	c.pending[id] = pending{ch: ch}
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

// CallInline sends a request and calls done with its result on the
// connection's read goroutine (or, if the connection fails, on the
// goroutine that notices). done must be quick and must not wait on this
// connection; it saves the goroutine and the hand-off CallAsync costs.
func (c *Conn) CallInline(method byte, payload []byte, done func([]byte, error)) {
	id := c.nextID.Add(1)
	c.pmu.Lock()
	if c.pending == nil {
		c.pmu.Unlock()
		go done(nil, fmt.Errorf("%w: %v", ErrClosed, c.closeErr))
		return
	}
	c.pending[id] = pending{fn: done}
	c.pmu.Unlock()
	if err := c.send(KindRequest, method, id, payload); err != nil {
		c.pmu.Lock()
		_, still := c.pending[id]
		if still {
			delete(c.pending, id)
		}
		c.pmu.Unlock()
		if still {
			go done(nil, err)
		}
	}
}

func (w pending) deliver(r result) {
	if w.fn != nil {
		w.fn(r.payload, r.err)
		return
	}
	w.ch <- r
}

// Send sends a one-way message.
func (c *Conn) Send(method byte, payload []byte) error {
	return c.send(KindOneWay, method, 0, payload)
}

// Reply answers request reqID.
func (c *Conn) Reply(reqID uint64, payload []byte) error {
	return c.send(KindResponse, 0, reqID, payload)
}

// ReplyParts answers request reqID with head followed by tail as one
// payload. A big tail is written from the caller's memory, not copied.
func (c *Conn) ReplyParts(reqID uint64, head, tail []byte) error {
	return c.sendParts(KindResponse, 0, reqID, head, tail)
}

// ReplyError answers request reqID with an error the caller sees as
// *RemoteError.
func (c *Conn) ReplyError(reqID uint64, err error) error {
	return c.send(KindError, 0, reqID, []byte(err.Error()))
}

// frameBuffered reports whether r holds a whole frame, so reading it will
// not block.
func frameBuffered(r *bufio.Reader) bool {
	if r.Buffered() < headerSize {
		return false
	}
	h, err := r.Peek(headerSize)
	return err == nil && r.Buffered()-headerSize >= int(binary.BigEndian.Uint32(h[0:4]))
}

func (c *Conn) readLoop() {
	r := bufio.NewReaderSize(newSpinReader(c), 64<<10)
	var h [headerSize]byte
	var buf []byte
	// While a run of responses with inline callbacks is already received,
	// this connection's writes are corked, so that what the callbacks send
	// in answer (the next pipelined task, say) goes out in one write. The
	// run ends, and the cork with it, before the loop could block on a read
	// or hands a request to a handler that might block.
	held := false
	release := func() {
		if held {
			held = false
			c.Uncork()
		}
	}
	defer release()
	for {
		if held && !frameBuffered(r) {
			release()
		}
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
		c.lastFrame.Store(monotonic())
		if kind == KindResponse || kind == KindError {
			// Responses are handed off, so they get their own buffer.
			p := make([]byte, n)
			if _, err := io.ReadFull(r, p); err != nil {
				c.fail(err)
				return
			}
			c.pmu.Lock()
			w, ok := c.pending[id]
			if ok {
				delete(c.pending, id)
			}
			c.pmu.Unlock()
			if !ok {
				continue // caller gave up
			}
			if w.fn != nil && !held && frameBuffered(r) {
				c.Cork()
				held = true
			}
			if kind == KindError {
				w.deliver(result{err: &RemoteError{Msg: string(p)}})
			} else {
				w.deliver(result{payload: p})
			}
			continue
		}
		release()
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

// splitAddr parses "unix:/path" or "tcp:host:port[/target]" (a bare
// host:port is TCP). A target asks the listening node to route the
// connection to one of its processes (e.g. "w/<worker id>").
func splitAddr(addr string) (network, address, target string, err error) {
	switch {
	case strings.HasPrefix(addr, "unix:"):
		return "unix", addr[5:], "", nil
	case strings.HasPrefix(addr, "tcp:"):
		addr = addr[4:]
	case strings.Contains(addr, ":"):
	default:
		return "", "", "", fmt.Errorf("%w: %q (want unix:/path or tcp:host:port)", ErrBadAddress, addr)
	}
	if i := strings.IndexByte(addr, '/'); i >= 0 {
		addr, target = addr[:i], addr[i+1:]
	}
	if len(target) > maxTargetBytes {
		return "", "", "", fmt.Errorf("%w: route target too long", ErrBadAddress)
	}
	return "tcp", addr, target, nil
}

// RoutedAddr is the address of process target behind the node at
// hostport.
func RoutedAddr(hostport, target string) string { return "tcp:" + hostport + "/" + target }

// Dial connects to addr, authenticates with token, and starts serving h
// (which may be nil for a pure client) on the connection.
func Dial(ctx context.Context, addr, token string, h Handler) (*Conn, error) {
	network, address, target, err := splitAddr(addr)
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
	if err := clientHello(ctx, nc, token, target); err != nil {
		nc.Close()
		return nil, fmt.Errorf("rpc: dial %s: %w", addr, err)
	}
	c := newConn(nc, h)
	c.start()
	return c, nil
}

func clientHello(ctx context.Context, nc net.Conn, token, target string) error {
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
	msg = binary.BigEndian.AppendUint16(msg, uint16(len(target)))
	msg = append(msg, target...)
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
	switch status[0] {
	case statusOK:
		return nil
	case statusRoute:
		return fmt.Errorf("%w: %q", ErrNoRoute, target)
	}
	return ErrAuthFailed
}

// serverHello reads and checks a client's hello and returns its route
// target. It decodes nothing beyond the fixed header, the token and the
// target. It does not answer a good hello: the caller does, once it knows
// whether it can serve the target.
func serverHello(nc net.Conn, token string) (string, error) {
	nc.SetDeadline(time.Now().Add(10 * time.Second))
	defer nc.SetDeadline(time.Time{})
	var h [len(helloMagic) + 3]byte
	if _, err := io.ReadFull(nc, h[:]); err != nil {
		return "", err
	}
	if string(h[:len(helloMagic)]) != helloMagic || h[len(helloMagic)] != helloVersion {
		nc.Write([]byte{statusAuth})
		return "", fmt.Errorf("%w: not a goray peer or wrong protocol version", ErrAuthFailed)
	}
	n := int(binary.BigEndian.Uint16(h[len(helloMagic)+1:]))
	if n > maxTokenBytes {
		nc.Write([]byte{statusAuth})
		return "", ErrAuthFailed
	}
	got := make([]byte, n+2)
	if _, err := io.ReadFull(nc, got); err != nil {
		return "", err
	}
	if subtle.ConstantTimeCompare(got[:n], []byte(token)) != 1 {
		nc.Write([]byte{statusAuth})
		return "", ErrAuthFailed
	}
	tn := int(binary.BigEndian.Uint16(got[n:]))
	if tn > maxTargetBytes {
		nc.Write([]byte{statusAuth})
		return "", fmt.Errorf("%w: route target too long", ErrAuthFailed)
	}
	target := make([]byte, tn)
	if _, err := io.ReadFull(nc, target); err != nil {
		return "", err
	}
	return string(target), nil
}

// Listener accepts authenticated connections.
type Listener struct {
	ln    net.Listener
	token string
	addr  string

	mu      sync.Mutex
	conns   map[*Conn]struct{}
	spliced []net.Conn
	closed  bool
	// AuthFailures counts rejected hellos.
	AuthFailures atomic.Int64
	// Route resolves a hello's target to the local address ("unix:/...")
	// of the process to splice the connection to. Nil: no routing.
	Route func(target string) (string, bool)
}

// Listen listens on addr ("unix:/path", "tcp:host:port"; port 0 picks one).
func Listen(addr, token string) (*Listener, error) {
	network, address, _, err := splitAddr(addr)
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
// new connection.
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
	target, err := serverHello(nc, l.token)
	if err != nil {
		if errors.Is(err, ErrAuthFailed) {
			l.AuthFailures.Add(1)
		}
		nc.Close()
		return
	}
	if target != "" {
		l.splice(nc, target)
		return
	}
	if _, err := nc.Write([]byte{statusOK}); err != nil {
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
	conns, spliced := l.conns, l.spliced
	l.conns, l.spliced = nil, nil
	l.mu.Unlock()
	err := l.ln.Close()
	for c := range conns {
		c.Close()
	}
	for _, c := range spliced {
		c.Close()
	}
	return err
}

// splice connects an authenticated client to the local process its hello
// named, then copies bytes both ways until either side closes.
func (l *Listener) splice(nc net.Conn, target string) {
	var local string
	ok := false
	if l.Route != nil {
		local, ok = l.Route(target)
	}
	var up net.Conn
	if ok {
		network, address, _, err := splitAddr(local)
		if err == nil {
			up, err = net.DialTimeout(network, address, 5*time.Second)
		}
		if err == nil {
			if err = clientHello(context.Background(), up, l.token, ""); err != nil {
				up.Close()
				up = nil
			}
		}
	}
	if up == nil {
		nc.Write([]byte{statusRoute})
		nc.Close()
		return
	}
	if _, err := nc.Write([]byte{statusOK}); err != nil {
		nc.Close()
		up.Close()
		return
	}
	l.mu.Lock()
	closed := l.closed
	if !closed {
		l.spliced = append(l.spliced, nc, up)
	}
	l.mu.Unlock()
	if closed {
		nc.Close()
		up.Close()
		return
	}
	done := make(chan struct{}, 2)
	cp := func(dst, src net.Conn) {
		io.Copy(dst, src)
		dst.Close()
		src.Close()
		done <- struct{}{}
	}
	go cp(up, nc)
	go cp(nc, up)
	<-done
	<-done
}
