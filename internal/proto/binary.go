package proto

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"

	"github.com/goray/ray/internal/ids"
)

// TaskSpec and TaskReply travel on every task, so they have a hand-written
// binary encoding instead of CBOR: a format byte, then fields in order,
// with uvarint lengths and counts. Decoding checks every length against
// the bytes left, so hostile input cannot make it allocate more than the
// input's size or read past it. Byte slices and strings are copied: the
// decoded value never aliases the input, with two exceptions, the object
// bytes of replies: an ObjectReply's Data and a TaskReply's returns' Data
// alias it (replies are responses, which arrive in a buffer of their own;
// see AppendObjectReplyHead), saving a copy and an allocation per object.

const binaryFormat byte = 0x01

var errShort = errors.New("truncated")

type wbuf []byte

func (w *wbuf) u(v uint64)     { *w = binary.AppendUvarint(*w, v) }
func (w *wbuf) i(v int64)      { *w = binary.AppendVarint(*w, v) }
func (w *wbuf) b(v byte)       { *w = append(*w, v) }
func (w *wbuf) raw(v []byte)   { *w = append(*w, v...) }
func (w *wbuf) bytes(v []byte) { w.u(uint64(len(v))); *w = append(*w, v...) }
func (w *wbuf) str(v string)   { w.u(uint64(len(v))); *w = append(*w, v...) }
func (w *wbuf) bool(v bool) {
	if v {
		w.b(1)
	} else {
		w.b(0)
	}
}

func (w *wbuf) addr(a *Address) {
	w.raw(a.WorkerID[:])
	w.raw(a.NodeID[:])
	w.str(a.Addr)
}

func (w *wbuf) ref(r *ObjRef) {
	w.raw(r.ID[:])
	w.addr(&r.Owner)
}

func (w *wbuf) refs(rs []ObjRef) {
	w.u(uint64(len(rs)))
	for i := range rs {
		w.ref(&rs[i])
	}
}

type rbuf struct {
	b   []byte
	err error
}

func (r *rbuf) fail(err error) {
	if r.err == nil {
		r.err = err
	}
}

func (r *rbuf) next(n int) []byte {
	if r.err != nil {
		return nil
	}
	if n < 0 || n > len(r.b) {
		r.fail(errShort)
		return nil
	}
	v := r.b[:n]
	r.b = r.b[n:]
	return v
}

func (r *rbuf) u() uint64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Uvarint(r.b)
	if n <= 0 {
		r.fail(errShort)
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *rbuf) i() int64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Varint(r.b)
	if n <= 0 {
		r.fail(errShort)
		return 0
	}
	r.b = r.b[n:]
	return v
}

// int reads a varint that must fit an int.
func (r *rbuf) int() int {
	v := r.i()
	if v > math.MaxInt32 || v < math.MinInt32 {
		r.fail(fmt.Errorf("integer %d out of range", v))
		return 0
	}
	return int(v)
}

// count reads a count of items each at least min bytes long.
func (r *rbuf) count(min int) int {
	v := r.u()
	if r.err == nil && v > uint64(len(r.b)/min) {
		r.fail(fmt.Errorf("count %d exceeds the %d bytes left", v, len(r.b)))
		return 0
	}
	return int(v)
}

func (r *rbuf) byte1() byte {
	if v := r.next(1); v != nil {
		return v[0]
	}
	return 0
}

func (r *rbuf) bool() bool {
	switch r.byte1() {
	case 0:
		return false
	case 1:
		return true
	}
	r.fail(errors.New("bad bool"))
	return false
}

func (r *rbuf) bytes() []byte {
	n := r.count(1)
	v := r.next(n)
	if n == 0 || v == nil {
		return nil
	}
	return append([]byte(nil), v...)
}

// alias is bytes without the copy: the result shares the input.
func (r *rbuf) alias() []byte {
	n := r.count(1)
	v := r.next(n)
	if n == 0 || v == nil {
		return nil
	}
	return v[:n:n]
}

func (r *rbuf) str() string {
	n := r.count(1)
	return string(r.next(n))
}

func (r *rbuf) fixed(dst []byte) { copy(dst, r.next(len(dst))) }

func (r *rbuf) addr(a *Address) {
	r.fixed(a.WorkerID[:])
	r.fixed(a.NodeID[:])
	a.Addr = r.str()
}

func (r *rbuf) ref(o *ObjRef) {
	r.fixed(o.ID[:])
	r.addr(&o.Owner)
}

func (r *rbuf) refs() []ObjRef {
	n := r.count(len(ids.ObjectID{}) + 33)
	if n == 0 {
		return nil
	}
	out := make([]ObjRef, n)
	for i := range out {
		r.ref(&out[i])
	}
	return out
}

func (r *rbuf) done() error {
	if r.err == nil && len(r.b) != 0 {
		r.fail(fmt.Errorf("%d bytes of trailing data", len(r.b)))
	}
	return r.err
}

func appendTaskSpec(w wbuf, s *TaskSpec) wbuf {
	w.b(binaryFormat)
	w.raw(s.TaskID[:])
	w.raw(s.JobID[:])
	w.str(s.Func)
	w.u(uint64(len(s.Args)))
	for i := range s.Args {
		a := &s.Args[i]
		w.bool(a.Ref != nil)
		w.bytes(a.Data)
		if a.Ref != nil {
			w.ref(a.Ref)
		}
		w.refs(a.Contained)
	}
	w.i(int64(s.NumReturns))
	w.u(uint64(len(s.Resources)))
	for k, v := range s.Resources {
		w.str(k)
		w.u(math.Float64bits(v))
	}
	w.i(int64(s.MaxRetries))
	w.bool(s.RetryExceptions)
	w.addr(&s.Owner)
	w.raw(s.ActorID[:])
	w.bool(s.ActorCreation)
	w.i(int64(s.MaxConcurrency))
	w.u(s.SeqNo)
	w.i(int64(s.Attempt))
	w.bool(s.ReturnsAsSlice)
	return w
}

func decodeTaskSpec(b []byte, s *TaskSpec) error {
	r := &rbuf{b: b}
	if r.byte1() != binaryFormat {
		r.fail(errors.New("not a binary task spec"))
	}
	*s = TaskSpec{}
	r.fixed(s.TaskID[:])
	r.fixed(s.JobID[:])
	s.Func = r.str()
	if n := r.count(3); n > 0 {
		s.Args = make([]Arg, n)
		for i := range s.Args {
			a := &s.Args[i]
			hasRef := r.bool()
			a.Data = r.bytes()
			if hasRef {
				a.Ref = &ObjRef{}
				r.ref(a.Ref)
			}
			a.Contained = r.refs()
		}
	}
	s.NumReturns = r.int()
	if n := r.count(2); n > 0 {
		s.Resources = make(map[string]float64, n)
		for range n {
			k := r.str()
			s.Resources[k] = math.Float64frombits(r.u())
		}
	}
	s.MaxRetries = r.int()
	s.RetryExceptions = r.bool()
	r.addr(&s.Owner)
	r.fixed(s.ActorID[:])
	s.ActorCreation = r.bool()
	s.MaxConcurrency = r.int()
	s.SeqNo = r.u()
	s.Attempt = r.int()
	s.ReturnsAsSlice = r.bool()
	return r.done()
}

func appendTaskReply(w wbuf, t *TaskReply) wbuf {
	w.b(binaryFormat)
	w.u(uint64(len(t.Returns)))
	for i := range t.Returns {
		o := &t.Returns[i]
		w.raw(o.ID[:])
		w.bytes(o.Data)
		w.bool(o.InStore)
		w.i(o.Size)
		w.raw(o.NodeID[:])
		w.refs(o.Contained)
	}
	w.errInfo(t.Err)
	w.i(int64(t.WorkerPID))
	return w
}

func (w *wbuf) errInfo(e *ErrorInfo) {
	w.bool(e != nil)
	if e != nil {
		w.b(e.Kind)
		w.str(e.Func)
		w.str(e.Msg)
		w.str(e.Stack)
		w.i(int64(e.PID))
		w.raw(e.NodeID[:])
		w.str(e.CauseType)
		w.bytes(e.CauseData)
	}
}

// AppendObjectReplyHead appends m's encoding without its Data, which
// follows it to the end of the message: send the head and then m.Data as
// one payload (rpc.Conn.ReplyParts) and the value is never copied into a
// message buffer. Marshal(m) is the same bytes in one slice.
//
// The head is padded to a multiple of 8 bytes, so that in a message that
// starts 8-aligned (as a freshly allocated one does) Data does too, and
// numeric slices encoded in it can be decoded in place.
func AppendObjectReplyHead(b []byte, m *ObjectReply) []byte {
	start := len(b)
	w := wbuf(b)
	w.b(binaryFormat)
	w.bool(m.InStore)
	w.i(m.Size)
	w.raw(m.NodeID[:])
	w.errInfo(m.Err)
	w.refs(m.Contained)
	pad := (8 - (len(w)-start+1)%8) % 8
	w.b(byte(pad))
	w = append(w, make([]byte, pad)...)
	return w
}

// decodeObjectReply decodes an ObjectReply; Data aliases b.
func decodeObjectReply(b []byte, m *ObjectReply) error {
	r := &rbuf{b: b}
	if r.byte1() != binaryFormat {
		r.fail(errors.New("not a binary object reply"))
	}
	*m = ObjectReply{}
	m.InStore = r.bool()
	m.Size = r.i()
	r.fixed(m.NodeID[:])
	m.Err = r.errInfo()
	m.Contained = r.refs()
	if pad := r.byte1(); pad > 7 {
		r.fail(errors.New("bad padding"))
	} else {
		r.next(int(pad))
	}
	if r.err == nil && len(r.b) > 0 {
		m.Data = r.b[:len(r.b):len(r.b)]
		r.b = nil
	}
	return r.done()
}

func decodeTaskReply(b []byte, t *TaskReply) error {
	r := &rbuf{b: b}
	if r.byte1() != binaryFormat {
		r.fail(errors.New("not a binary task reply"))
	}
	*t = TaskReply{}
	if n := r.count(len(ids.ObjectID{}) + 20); n > 0 {
		t.Returns = make([]ReturnObj, n)
		for i := range t.Returns {
			o := &t.Returns[i]
			r.fixed(o.ID[:])
			o.Data = r.alias()
			o.InStore = r.bool()
			o.Size = r.i()
			r.fixed(o.NodeID[:])
			o.Contained = r.refs()
		}
	}
	t.Err = r.errInfo()
	t.WorkerPID = r.int()
	return r.done()
}

func (r *rbuf) errInfo() *ErrorInfo {
	if !r.bool() {
		return nil
	}
	e := &ErrorInfo{}
	e.Kind = r.byte1()
	e.Func = r.str()
	e.Msg = r.str()
	e.Stack = r.str()
	e.PID = r.int()
	r.fixed(e.NodeID[:])
	e.CauseType = r.str()
	e.CauseData = r.bytes()
	return e
}
