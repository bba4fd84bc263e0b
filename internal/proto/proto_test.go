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
