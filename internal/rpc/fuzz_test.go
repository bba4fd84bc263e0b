package rpc

import (
	"bytes"
	"encoding/binary"
	"net"
	"testing"
	"time"
)

// FuzzServerHello feeds arbitrary first bytes to the listener's handshake:
// it must refuse anything but the exact hello with the right token, and
// never panic.
func FuzzServerHello(f *testing.F) {
	good := append([]byte(helloMagic), helloVersion, 0, 3)
	good = append(good, "tok"...)
	good = append(good, 0, 0) // no route target
	f.Add(good)
	f.Add([]byte(helloMagic))
	f.Add([]byte("GET / HTTP/1.1\r\n\r\n"))
	f.Add(append([]byte(helloMagic), helloVersion, 0xff, 0xff))
	f.Fuzz(func(t *testing.T, in []byte) {
		a, b := net.Pipe()
		defer a.Close()
		go func() {
			a.SetDeadline(time.Now().Add(time.Second))
			a.Write(in)
			buf := make([]byte, 1)
			a.Read(buf)
			a.Close()
		}()
		target, err := serverHello(b, "tok")
		b.Close()
		// Accepted only with the magic, the version and the exact token;
		// the route target after it is free-form.
		if err == nil && !bytes.HasPrefix(in, good[:len(good)-2]) {
			t.Fatalf("accepted hello %q (target %q)", in, target)
		}
	})
}

// FuzzFrames feeds arbitrary bytes to a connection's reader: bad frames
// close the connection with an error; nothing panics, and no frame larger
// than MaxFrame is allocated.
func FuzzFrames(f *testing.F) {
	frame := func(kind, method byte, id uint64, p []byte) []byte {
		var h [headerSize]byte
		putHeader(h[:], len(p), kind, method, id)
		return append(h[:], p...)
	}
	f.Add(frame(KindRequest, 1, 1, []byte("hi")))
	f.Add(frame(KindResponse, 0, 99, nil))
	f.Add(frame(9, 0, 0, nil))
	huge := make([]byte, headerSize)
	binary.BigEndian.PutUint32(huge, MaxFrame+1)
	f.Add(huge)
	f.Fuzz(func(t *testing.T, in []byte) {
		a, b := net.Pipe()
		got := 0 // only the read goroutine touches it before Done
		c := newConn(b, HandlerFunc(func(c *Conn, kind, method byte, id uint64, p []byte) { got++ }))
		c.start()
		go func() {
			a.SetDeadline(time.Now().Add(time.Second))
			a.Write(in)
			a.Close()
		}()
		select {
		case <-c.Done():
		case <-time.After(5 * time.Second):
			t.Fatal("reader did not finish")
		}
		// Every frame the handler saw was whole: count them independently.
		if want := wholeFrames(in); got > want {
			t.Fatalf("handler saw %d frames, input holds at most %d", got, want)
		}
	})
}

// wholeFrames counts the complete request/one-way frames at the start of in.
func wholeFrames(in []byte) int {
	n := 0
	for len(in) >= headerSize {
		size := int(binary.BigEndian.Uint32(in))
		if size > MaxFrame || len(in) < headerSize+size {
			break
		}
		if k := in[4]; k == KindRequest || k == KindOneWay {
			n++
		} else if k != KindResponse && k != KindError {
			break
		}
		in = in[headerSize+size:]
	}
	return n
}
