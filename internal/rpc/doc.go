// Package rpc is goray's transport: long-lived, authenticated, framed
// connections that carry requests, responses and one-way messages in both
// directions.
//
// # Model
//
// A Conn wraps one net.Conn (a Unix socket between processes on a node, TCP
// between nodes). Every frame is
//
//	[4]byte payload length (big endian) | kind | method | [8]byte request ID | payload
//
// Kinds are Request, Response, ErrorResponse and OneWay. Either side may send
// requests; responses are matched to callers by request ID. Writes are
// combined: the first writer writes at once, writers that arrive while a
// write is in progress append to a buffer that the active writer flushes
// next, so a burst of async calls becomes a few large writes without adding
// latency to a lone call.
//
// Two more ways of saving system calls and wake-ups. Responses already
// received together are handled as a run, and what their inline callbacks
// send (the next pipelined task) is held until the run ends and written
// once. And a connection that expects a frame soon (calls on it await
// responses, or its peer sent something within the last 200 µs) does not
// go to sleep in the poller at once when there is nothing to read: it reads
// again for up to 50 µs, yielding to the process's other goroutines in
// between. Waking a sleeping thread, and on a virtual machine its idle
// CPU, costs tens of microseconds, more than the rest of a task's round
// trip; the spin is bounded so an idle connection costs nothing.
//
// Incoming requests and one-way messages are passed to the Handler in the
// order they arrived, on the connection's read goroutine. A handler that can
// block must hand the work to another goroutine and reply later with
// Conn.Reply; this keeps per-connection order (actor calls rely on it)
// while letting slow requests overlap.
//
// # Authentication
//
// The dialer's first bytes are a hello: a magic string, the protocol version
// and the cluster token. The listener compares the token in constant time and
// answers with one status byte before any other frame is read, so nothing
// from an unauthenticated peer is ever decoded. A wrong token gets
// ErrAuthFailed on both sides.
//
// # Example
//
//	ln, _ := rpc.Listen("unix:/tmp/s.sock", token)
//	go ln.Serve(func(c *rpc.Conn) rpc.Handler { return myHandler{c} })
//	c, _ := rpc.Dial(ctx, "unix:/tmp/s.sock", token, nil)
//	resp, err := c.Call(ctx, methodEcho, []byte("hi"))
//
// # Constraints
//
// Payloads are at most MaxFrame bytes; larger objects travel through the
// object store, not through frames.
package rpc
