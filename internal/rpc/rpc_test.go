package rpc

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

const methodEcho, methodFail, methodNote = 1, 2, 3

type echo struct {
	mu    sync.Mutex
	notes []string
}

func (e *echo) Handle(c *Conn, kind, method byte, id uint64, p []byte) {
	switch method {
	case methodEcho:
		c.Reply(id, append([]byte(nil), p...))
	case methodFail:
		c.ReplyError(id, fmt.Errorf("no: %s", p))
	case methodNote:
		e.mu.Lock()
		e.notes = append(e.notes, string(p))
		e.mu.Unlock()
	}
}

func serve(t testing.TB, addr, token string) (*Listener, *echo) {
	ln, err := Listen(addr, token)
	if err != nil {
		t.Fatal(err)
	}
	e := &echo{}
	go ln.Serve(func(*Conn) Handler { return e })
	t.Cleanup(func() { ln.Close() })
	return ln, e
}

func TestCallOneWayAndErrors(t *testing.T) {
	for _, addr := range []string{"unix:" + filepath.Join(t.TempDir(), "s.sock"), "tcp:127.0.0.1:0"} {
		ln, e := serve(t, addr, "secret")
		ctx := context.Background()
		c, err := Dial(ctx, ln.Addr(), "secret", nil)
		if err != nil {
			t.Fatal(err)
		}
		got, err := c.Call(ctx, methodEcho, []byte("hello"))
		if err != nil || string(got) != "hello" {
			t.Fatalf("%s: echo = %q, %v", addr, got, err)
		}
		_, err = c.Call(ctx, methodFail, []byte("x"))
		var re *RemoteError
		if !errors.As(err, &re) || re.Msg != "no: x" {
			t.Fatalf("%s: want RemoteError, got %v", addr, err)
		}
		for i := range 100 {
			if err := c.Send(methodNote, []byte(fmt.Sprint(i))); err != nil {
				t.Fatal(err)
			}
		}
		// A call after the notes is answered after they were handled: order.
		if _, err := c.Call(ctx, methodEcho, nil); err != nil {
			t.Fatal(err)
		}
		e.mu.Lock()
		if len(e.notes) != 100 || e.notes[99] != "99" || e.notes[0] != "0" {
			t.Fatalf("notes out of order or lost: %d", len(e.notes))
		}
		e.mu.Unlock()
		c.Close()
		if _, err := c.Call(ctx, methodEcho, nil); !errors.Is(err, ErrClosed) {
			t.Fatalf("call after close: %v", err)
		}
	}
}

func TestAuthRejected(t *testing.T) {
	ln, _ := serve(t, "tcp:127.0.0.1:0", "right")
	for _, tok := range []string{"wrong", ""} {
		_, err := Dial(context.Background(), ln.Addr(), tok, nil)
		if !errors.Is(err, ErrAuthFailed) {
			t.Fatalf("token %q: want ErrAuthFailed, got %v", tok, err)
		}
	}
	if ln.AuthFailures.Load() != 2 {
		t.Fatalf("auth failures = %d", ln.AuthFailures.Load())
	}
}

func TestConcurrentCalls(t *testing.T) {
	ln, _ := serve(t, "unix:"+filepath.Join(t.TempDir(), "s.sock"), "t")
	c, err := Dial(context.Background(), ln.Addr(), "t", nil)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 500 {
				want := fmt.Sprintf("%d-%d", g, i)
				got, err := c.Call(context.Background(), methodEcho, []byte(want))
				if err != nil || string(got) != want {
					t.Errorf("got %q, %v want %q", got, err, want)
					return
				}
			}
		}()
	}
	wg.Wait()
}

func TestCallHonorsContext(t *testing.T) {
	ln, err := Listen("tcp:127.0.0.1:0", "t")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	// A handler that never replies.
	go ln.Serve(func(*Conn) Handler { return HandlerFunc(func(*Conn, byte, byte, uint64, []byte) {}) })
	c, err := Dial(context.Background(), ln.Addr(), "t", nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if _, err := c.Call(ctx, methodEcho, nil); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("want deadline exceeded, got %v", err)
	}
}

func TestBadAddress(t *testing.T) {
	if _, err := Dial(context.Background(), "nonsense", "", nil); !errors.Is(err, ErrBadAddress) {
		t.Fatalf("got %v", err)
	}
}

func BenchmarkCallUnix(b *testing.B) {
	ln, _ := serve(b, "unix:"+filepath.Join(b.TempDir(), "s.sock"), "t")
	c, err := Dial(context.Background(), ln.Addr(), "t", nil)
	if err != nil {
		b.Fatal(err)
	}
	p := make([]byte, 64)
	ctx := context.Background()
	for b.Loop() {
		if _, err := c.Call(ctx, methodEcho, p); err != nil {
			b.Fatal(err)
		}
	}
}

func TestCallAsyncNeverCallsBackInline(t *testing.T) {
	ln, _ := serve(t, "unix:"+filepath.Join(t.TempDir(), "s.sock"), "t")
	c, err := Dial(context.Background(), ln.Addr(), "t", nil)
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
	var mu sync.Mutex
	done := make(chan error, 1)
	mu.Lock() // a caller holding a lock the callback needs must not deadlock
	c.CallAsync(methodEcho, nil, func(_ []byte, err error) {
		mu.Lock()
		defer mu.Unlock()
		done <- err
	})
	mu.Unlock()
	if err := <-done; !errors.Is(err, ErrClosed) {
		t.Fatalf("want ErrClosed, got %v", err)
	}
}

func TestRoutedConnection(t *testing.T) {
	// A worker behind a node: reachable only through the node's TCP port.
	worker, _ := serve(t, "unix:"+filepath.Join(t.TempDir(), "w.sock"), "tok")
	node, err := Listen("tcp:127.0.0.1:0", "tok")
	if err != nil {
		t.Fatal(err)
	}
	defer node.Close()
	node.Route = func(target string) (string, bool) {
		if target == "w/1" {
			return worker.Addr(), true
		}
		return "", false
	}
	go node.Serve(func(*Conn) Handler { return &echo{} })
	hostport := strings.TrimPrefix(node.Addr(), "tcp:")
	c, err := Dial(context.Background(), RoutedAddr(hostport, "w/1"), "tok", nil)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := c.Call(context.Background(), methodEcho, []byte("via node")); err != nil || string(got) != "via node" {
		t.Fatalf("routed echo = %q, %v", got, err)
	}
	if _, err := Dial(context.Background(), RoutedAddr(hostport, "w/2"), "tok", nil); !errors.Is(err, ErrNoRoute) {
		t.Fatalf("unknown target: %v", err)
	}
	if _, err := Dial(context.Background(), RoutedAddr(hostport, "w/1"), "bad", nil); !errors.Is(err, ErrAuthFailed) {
		t.Fatalf("bad token through the router: %v", err)
	}
}

func TestCorkBatchesWrites(t *testing.T) {
	ln, e := serve(t, "unix:"+filepath.Join(t.TempDir(), "s.sock"), "t")
	c, err := Dial(context.Background(), ln.Addr(), "t", nil)
	if err != nil {
		t.Fatal(err)
	}
	c.Cork()
	c.Cork() // nests
	for i := range 10 {
		c.Send(methodNote, []byte(fmt.Sprint(i)))
	}
	c.Uncork()
	time.Sleep(50 * time.Millisecond)
	e.mu.Lock()
	n := len(e.notes)
	e.mu.Unlock()
	if n != 0 {
		t.Fatalf("%d notes arrived while still corked", n)
	}
	if err := c.Uncork(); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Call(context.Background(), methodEcho, nil); err != nil {
		t.Fatal(err)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if len(e.notes) != 10 || e.notes[9] != "9" {
		t.Fatalf("after uncork: %v", e.notes)
	}
}

// TestReplyPartsInterleaves: big replies written from the caller's memory
// and small frames queued by concurrent senders all arrive whole and
// matched to their calls.
func TestReplyPartsInterleaves(t *testing.T) {
	ln, err := Listen("unix:"+filepath.Join(t.TempDir(), "s.sock"), "k")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	big := make([]byte, 3*directMin+5)
	for i := range big {
		big[i] = byte(i * 7)
	}
	go ln.Serve(func(*Conn) Handler {
		return HandlerFunc(func(c *Conn, kind, method byte, id uint64, p []byte) {
			// Reply from another goroutine so replies race each other
			// (the request buffer is reused once Handle returns).
			p = append([]byte(nil), p...)
			go func() {
				if method == methodEcho {
					c.ReplyParts(id, p, big)
				} else {
					c.Reply(id, p)
				}
			}()
		})
	})
	c, err := Dial(context.Background(), ln.Addr(), "k", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var wg sync.WaitGroup
	errs := make(chan error, 200)
	for i := range 200 {
		wg.Go(func() {
			head := []byte(fmt.Sprintf("call %d", i))
			method := byte(methodEcho)
			if i%2 == 1 {
				method = methodNote
			}
			got, err := c.Call(context.Background(), method, head)
			if err != nil {
				errs <- err
				return
			}
			want := head
			if method == methodEcho {
				want = append(append([]byte(nil), head...), big...)
			}
			if string(got) != string(want) {
				errs <- fmt.Errorf("call %d: %d bytes back, want %d", i, len(got), len(want))
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// countingConn counts Write calls.
type countingConn struct {
	net.Conn
	mu     sync.Mutex
	writes int
}

func (c *countingConn) Write(b []byte) (int, error) {
	c.mu.Lock()
	c.writes++
	c.mu.Unlock()
	return c.Conn.Write(b)
}

func (c *countingConn) count() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.writes
}

// TestInlineCallbacksBatchWrites: when responses arrive together, what
// their inline callbacks send goes out in one write, not one per callback.
func TestInlineCallbacksBatchWrites(t *testing.T) {
	client, server := net.Pipe()
	cc := &countingConn{Conn: client}
	c := newConn(cc, nil)
	c.start()
	defer c.Close()
	const n = 50
	// The peer: read the n requests, answer them all in one write, then
	// count the one-way frames the callbacks send.
	got := make(chan int, 1)
	go func() {
		var h [headerSize]byte
		var ids []uint64
		for len(ids) < n {
			if _, err := io.ReadFull(server, h[:]); err != nil {
				return
			}
			io.CopyN(io.Discard, server, int64(binary.BigEndian.Uint32(h[0:4])))
			ids = append(ids, binary.BigEndian.Uint64(h[6:14]))
		}
		var out []byte
		for _, id := range ids {
			putHeader(h[:], 1, KindResponse, 0, id)
			out = append(append(out, h[:]...), 'r')
		}
		server.Write(out)
		notes := 0
		for notes < n {
			if _, err := io.ReadFull(server, h[:]); err != nil {
				return
			}
			io.CopyN(io.Discard, server, int64(binary.BigEndian.Uint32(h[0:4])))
			notes++
		}
		got <- notes
	}()
	for range n {
		c.CallInline(methodEcho, []byte("q"), func(_ []byte, err error) {
			if err == nil {
				c.Send(methodNote, []byte("next"))
			}
		})
	}
	before := cc.count()
	select {
	case notes := <-got:
		if notes != n {
			t.Fatalf("%d notes, want %d", notes, n)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the callbacks' frames never arrived")
	}
	// All n responses were in the reader's buffer at once (one 1 KiB
	// write into a 64 KiB buffer), so the n notes need only a few writes.
	if w := cc.count() - before; w > 3 {
		t.Fatalf("%d writes for %d notes sent from inline callbacks; want them batched", w, n)
	}
}

// TestSpinningReaderWaitsAndEnds: a response that comes long after the
// reader's spin still arrives (the reader sleeps in the poller), and a peer
// that closes ends the connection.
func TestSpinningReaderWaitsAndEnds(t *testing.T) {
	for _, addr := range []string{"unix:" + filepath.Join(t.TempDir(), "s.sock"), "tcp:127.0.0.1:0"} {
		ln, err := Listen(addr, "k")
		if err != nil {
			t.Fatal(err)
		}
		var server *Conn
		accepted := make(chan struct{})
		go ln.Serve(func(c *Conn) Handler {
			server = c
			close(accepted)
			return HandlerFunc(func(c *Conn, kind, method byte, id uint64, p []byte) {
				p = append([]byte(nil), p...)
				time.AfterFunc(20*spinFor, func() { c.Reply(id, p) })
			})
		})
		c, err := Dial(context.Background(), ln.Addr(), "k", nil)
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := c.nc.(syscall.Conn); !ok {
			t.Fatalf("%s: connection cannot be polled", addr)
		}
		for i := range 5 {
			want := fmt.Sprintf("late %d", i)
			got, err := c.Call(context.Background(), methodEcho, []byte(want))
			if err != nil || string(got) != want {
				t.Fatalf("%s: %q, %v", addr, got, err)
			}
		}
		<-accepted
		server.Close()
		select {
		case <-c.Done():
		case <-time.After(5 * time.Second):
			t.Fatalf("%s: the client never saw the peer close", addr)
		}
		ln.Close()
	}
}
