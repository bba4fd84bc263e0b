package proto

import (
	"errors"
	"reflect"
	"testing"

	"github.com/goray/ray/internal/ids"
)

func messages() []any {
	return []any{
		&TaskSpec{}, &TaskReply{}, &RegisterWorker{}, &RegisterWorkerReply{}, &LeaseRequest{},
		&LeaseGrant{}, &ReturnLease{}, &CancelLease{}, &StoreCreate{}, &StorePath{}, &ObjectIDs{},
		&KillWorker{}, &GetObject{}, &ObjectReply{}, &RefUpdate{}, &CancelTask{}, &ActorSpec{},
		&ActorInfo{}, &GetActor{}, &GetNamedActor{}, &KillActor{}, &NodeStatusReply{},
	}
}

func sampleSpec() *TaskSpec {
	g := ids.NewTaskIDGen()
	return &TaskSpec{
		TaskID: g.Next(), Func: "main.square", NumReturns: 1,
		Args: []Arg{
			{Data: []byte{0xC0, 0x03}},
			{Ref: &ObjRef{ID: ids.ReturnID(g.Next(), 0), Owner: Address{Addr: "unix:/x"}}},
		},
		Resources:  map[string]float64{"CPU": 1, "alice": 0.5},
		MaxRetries: 3, Owner: Address{WorkerID: ids.NewWorkerID(), Addr: "unix:/tmp/w.sock"},
	}
}

func TestRoundTrip(t *testing.T) {
	in := sampleSpec()
	b, err := Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	var out TaskSpec
	if err := Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(in, &out) {
		t.Fatalf("round trip changed the spec:\n%+v\n%+v", in, &out)
	}
}

func TestMalformed(t *testing.T) {
	b := MustMarshal(sampleSpec())
	for _, bad := range [][]byte{nil, {0xff}, b[:len(b)/2], append([]byte{0x9f}, b...)} {
		var s TaskSpec
		if err := Unmarshal(bad, &s); !errors.Is(err, ErrMalformed) {
			t.Fatalf("%x: want ErrMalformed, got %v", bad, err)
		}
	}
}

func FuzzUnmarshal(f *testing.F) {
	f.Add(MustMarshal(sampleSpec()))
	f.Add(MustMarshal(&TaskReply{Returns: []ReturnObj{{Data: []byte("x")}}, Err: &ErrorInfo{Kind: ErrKindPanic, Msg: "boom"}}))
	f.Add(MustMarshal(&ActorSpec{Name: "a", Creation: *sampleSpec()}))
	f.Add([]byte{0x80})
	f.Fuzz(func(t *testing.T, b []byte) {
		for _, m := range messages() {
			if err := Unmarshal(b, m); err != nil && !errors.Is(err, ErrMalformed) {
				t.Fatalf("%T: unwrapped error %v", m, err)
			}
		}
	})
}

func BenchmarkTaskSpecRoundTrip(b *testing.B) {
	s := sampleSpec()
	for b.Loop() {
		buf, _ := Marshal(s)
		var out TaskSpec
		if err := Unmarshal(buf, &out); err != nil {
			b.Fatal(err)
		}
	}
}

func TestTaskReplyRoundTrip(t *testing.T) {
	g := ids.NewTaskIDGen()
	in := &TaskReply{
		Returns: []ReturnObj{
			{ID: ids.ReturnID(g.Next(), 0), Data: []byte{0xC0, 0x01}},
			{ID: ids.ReturnID(g.Next(), 1), InStore: true, Size: 1 << 30, NodeID: ids.NewNodeID(),
				Contained: []ObjRef{{ID: ids.PutID(g.Next(), 3), Owner: Address{WorkerID: ids.NewWorkerID(), Addr: "tcp:h:1/w/x"}}}},
		},
		Err:       &ErrorInfo{Kind: ErrKindPanic, Func: "f", Msg: "boom", Stack: "stack", PID: 42, NodeID: ids.NewNodeID(), CauseType: "t", CauseData: []byte{1}},
		WorkerPID: -7,
	}
	b, err := Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	var out TaskReply
	if err := Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(in, &out) {
		t.Fatalf("round trip changed the reply:\n%+v\n%+v", in, &out)
	}
	// Every truncation is an error, never a panic.
	for n := range len(b) {
		if err := Unmarshal(b[:n], &out); !errors.Is(err, ErrMalformed) {
			t.Fatalf("truncated at %d: %v", n, err)
		}
	}
}

func TestObjectReplyRoundTripAndAlignment(t *testing.T) {
	g := ids.NewTaskIDGen()
	data := make([]byte, 100)
	for i := range data {
		data[i] = byte(i)
	}
	cases := []*ObjectReply{
		{Data: data, Size: 100},
		{InStore: true, Size: 1 << 30, NodeID: ids.NewNodeID()},
		{Err: &ErrorInfo{Kind: ErrKindObjectLost, Msg: "gone"}},
		{Data: data[:3], Contained: []ObjRef{{ID: ids.PutID(g.Next(), 1), Owner: Address{WorkerID: ids.NewWorkerID(), Addr: "unix:/w"}}}},
	}
	for i, in := range cases {
		head := AppendObjectReplyHead(nil, in)
		if len(head)%8 != 0 {
			t.Errorf("case %d: head is %d bytes, not a multiple of 8", i, len(head))
		}
		b := MustMarshal(in)
		if want := append(append([]byte(nil), head...), in.Data...); !reflect.DeepEqual(b, want) {
			t.Fatalf("case %d: Marshal differs from head+data", i)
		}
		var out ObjectReply
		if err := Unmarshal(b, &out); err != nil {
			t.Fatalf("case %d: %v", i, err)
		}
		if !reflect.DeepEqual(in, &out) {
			t.Fatalf("case %d: round trip changed the reply:\n%+v\n%+v", i, in, &out)
		}
		if len(out.Data) > 0 && &out.Data[0] != &b[len(head)] {
			t.Fatalf("case %d: Data does not alias the message", i)
		}
		for n := range len(head) {
			if err := Unmarshal(b[:n], &out); !errors.Is(err, ErrMalformed) {
				t.Fatalf("case %d: truncated at %d: %v", i, n, err)
			}
		}
	}
}

// FuzzTaskBinary: decoding never panics, and whatever decodes survives a
// re-encode and decode unchanged (bytes may differ: varints in input need
// not be minimal).
func FuzzTaskBinary(f *testing.F) {
	f.Add(MustMarshal(sampleSpec()))
	f.Add(MustMarshal(&TaskReply{Returns: []ReturnObj{{Data: []byte("x")}}, Err: &ErrorInfo{Msg: "m"}}))
	f.Add(MustMarshal(&ObjectReply{Data: []byte("data"), Size: 4, Err: &ErrorInfo{Msg: "m"}}))
	f.Fuzz(func(t *testing.T, b []byte) {
		var s TaskSpec
		if Unmarshal(b, &s) == nil && !hasNaN(s.Resources) {
			var again TaskSpec
			if err := Unmarshal(MustMarshal(&s), &again); err != nil || !reflect.DeepEqual(s, again) {
				t.Fatalf("spec changed through a round trip: %v\n%+v\n%+v", err, s, again)
			}
		}
		var r TaskReply
		if Unmarshal(b, &r) == nil {
			var again TaskReply
			if err := Unmarshal(MustMarshal(&r), &again); err != nil || !reflect.DeepEqual(r, again) {
				t.Fatalf("reply changed through a round trip: %v\n%+v\n%+v", err, r, again)
			}
		}
		var o ObjectReply
		if Unmarshal(b, &o) == nil {
			var again ObjectReply
			if err := Unmarshal(MustMarshal(&o), &again); err != nil || !reflect.DeepEqual(o, again) {
				t.Fatalf("object reply changed through a round trip: %v\n%+v\n%+v", err, o, again)
			}
		}
	})
}

func BenchmarkTaskReplyRoundTrip(b *testing.B) {
	r := &TaskReply{Returns: []ReturnObj{{Data: []byte{0xC0, 0x05}}}, WorkerPID: 1}
	for b.Loop() {
		buf, _ := Marshal(r)
		var out TaskReply
		if err := Unmarshal(buf, &out); err != nil {
			b.Fatal(err)
		}
	}
}

func hasNaN(m map[string]float64) bool {
	for _, v := range m {
		if v != v {
			return true
		}
	}
	return false
}
