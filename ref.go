package ray

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"time"

	"github.com/fxamacker/cbor/v2"

	"github.com/goray/ray/internal/codec"
	"github.com/goray/ray/internal/core"
	"github.com/goray/ray/internal/proto"
)

// Ref is a reference to an object of type T: the future result of a task,
// or a value put with Put. Refs are cheap to copy and can be passed to
// tasks (a top-level Ref argument is replaced by its value before the task
// runs) or nested inside values (they stay refs). The object is freed when
// no Ref to it remains in any process.
type Ref[T any] struct{ h *core.Handle }

// RefHandle is for goray's internals.
func (r Ref[T]) RefHandle() *core.Handle { return r.h }

func (r Ref[T]) refElem() reflect.Type { return reflect.TypeFor[T]() }

// ID is the object's ID in hex ("" for the zero Ref).
func (r Ref[T]) ID() string {
	if r.h == nil || r.h.Multi() != nil {
		return ""
	}
	return r.h.ID().String()
}

// String renders the ref for logs.
func (r Ref[T]) String() string { return "Ref(" + r.ID() + ")" }

// refArg is implemented by every Ref[T].
type refArg interface {
	RefHandle() *core.Handle
	refElem() reflect.Type
}

// MarshalCBOR encodes the ref (not its value) when it is nested in a value.
func (r Ref[T]) MarshalCBOR() ([]byte, error) {
	if r.h == nil || r.h.Multi() != nil {
		return nil, fmt.Errorf("%w: a zero or multi-return Ref cannot be nested in a value", ErrEncode)
	}
	return codec.EncMode().Marshal(cbor.Tag{Number: codec.RefTag, Content: r.h.Ref()})
}

// UnmarshalCBOR decodes a nested ref and registers this process as its
// borrower.
func (r *Ref[T]) UnmarshalCBOR(b []byte) error {
	var tag cbor.RawTag
	if err := codec.DecMode().Unmarshal(b, &tag); err != nil {
		return err
	}
	if tag.Number != codec.RefTag {
		return fmt.Errorf("%w: CBOR tag %d is not a goray ref", ErrDecode, tag.Number)
	}
	var wire proto.ObjRef
	if err := proto.Unmarshal(tag.Content, &wire); err != nil {
		return err
	}
	rt := core.Current()
	if rt == nil {
		return ErrNotInitialized
	}
	h, err := rt.HandleFromWire(wire)
	if err != nil {
		return err
	}
	r.h = h
	return nil
}

func runtimeOrErr() (*core.Runtime, error) {
	rt := core.Current()
	if rt == nil {
		return nil, ErrNotInitialized
	}
	return rt, nil
}

// Get waits for r's value. A deadline on ctx bounds the wait (the error then
// matches ErrTimeout). []byte and numeric slices stored in shared memory come
// back as read-only views of it, without a copy: don't write to them.
func Get[T any](ctx context.Context, r Ref[T]) (T, error) {
	var zero T
	if r.h == nil {
		return zero, fmt.Errorf("%w: Get of a zero Ref", ErrInvalidArgument)
	}
	rt, err := runtimeOrErr()
	if err != nil {
		return zero, err
	}
	if ms := r.h.Multi(); ms != nil {
		return getMulti[T](ctx, rt, ms)
	}
	a, err := rt.Get(ctx, r.h)
	if err != nil {
		return zero, err
	}
	return core.Decode[T](a)
}

// getMulti assembles the slice T from the objects of a multi-return call.
func getMulti[T any](ctx context.Context, rt *core.Runtime, hs []*core.Handle) (T, error) {
	var zero T
	t := reflect.TypeFor[T]()
	out := reflect.MakeSlice(t, len(hs), len(hs))
	for i, h := range hs {
		a, err := rt.Get(ctx, h)
		if err != nil {
			return zero, err
		}
		p := reflect.New(t.Elem())
		if a.View {
			_, err = codec.UnmarshalView(a.Data, p.Interface())
		} else {
			err = codec.Unmarshal(a.Data, p.Interface())
		}
		if err != nil {
			return zero, fmt.Errorf("%w: %w", ErrDecode, err)
		}
		out.Index(i).Set(p.Elem())
	}
	return out.Interface().(T), nil
}

// GetAll waits for every ref and returns their values in order. The first
// error stops it.
func GetAll[T any](ctx context.Context, refs ...Ref[T]) ([]T, error) {
	out := make([]T, len(refs))
	for i, r := range refs {
		v, err := Get(ctx, r)
		if err != nil {
			return nil, err
		}
		out[i] = v
	}
	return out, nil
}

// Put stores v in the object store and returns a Ref to it. Values larger
// than 100 KiB go to shared memory (large []byte and numeric slices in one
// copy); a full store waits ObjectStoreFullDelay, then fails with
// ErrObjectStoreFull.
func Put[T any](ctx context.Context, v T) (Ref[T], error) {
	rt, err := runtimeOrErr()
	if err != nil {
		return Ref[T]{}, err
	}
	h, err := rt.Put(ctx, v)
	if err != nil {
		return Ref[T]{}, err
	}
	return Ref[T]{h: h}, nil
}

// NoTimeout makes Wait wait without a time limit.
const NoTimeout time.Duration = -1

// Wait returns once numReturns of refs are ready (their tasks finished,
// successfully or not), or timeout passes (NoTimeout: never), with the
// ready and the not-ready refs, each in input order.
func Wait[T any](ctx context.Context, refs []Ref[T], numReturns int, timeout time.Duration) (ready, notReady []Ref[T], err error) {
	rt, err := runtimeOrErr()
	if err != nil {
		return nil, nil, err
	}
	if slices.ContainsFunc(refs, func(r Ref[T]) bool { return r.h == nil }) {
		return nil, nil, fmt.Errorf("%w: Wait on a zero Ref", ErrInvalidArgument)
	}
	handle := func(i int) *core.Handle {
		if ms := refs[i].h.Multi(); ms != nil {
			return ms[len(ms)-1]
		}
		return refs[i].h
	}
	// Enough refs ready already (the usual case when results come in
	// order): found by a scan that stops there, with nothing to wait for.
	idx := rt.ReadyAmong(len(refs), numReturns, handle)
	if idx == nil {
		hs := make([]*core.Handle, len(refs))
		for i := range refs {
			hs[i] = handle(i)
		}
		if idx, err = rt.Wait(ctx, hs, numReturns, timeout); err != nil {
			return nil, nil, err
		}
	}
	// idx is in input order: the not-ready refs are the runs between the
	// ready ones, copied run by run into lists allocated once.
	ready = make([]Ref[T], 0, len(idx))
	notReady = make([]Ref[T], 0, len(refs)-len(idx))
	prev := 0
	for _, i := range idx {
		ready = append(ready, refs[i])
		notReady = append(notReady, refs[prev:i]...)
		prev = i + 1
	}
	notReady = append(notReady, refs[prev:]...)
	return ready, notReady, nil
}

// Cancel cancels the task that produces r: a task not yet running fails
// with ErrTaskCancelled; a running one has its context cancelled (with
// Force, its worker is killed). Only the ref's owner can cancel.
func Cancel[T any](r Ref[T], opts ...CancelOption) error {
	rt, err := runtimeOrErr()
	if err != nil {
		return err
	}
	if r.h == nil {
		return fmt.Errorf("%w: Cancel of a zero Ref", ErrInvalidArgument)
	}
	var c cancelConfig
	for _, o := range opts {
		o.applyCancel(&c)
	}
	return rt.Cancel(r.h, c.force)
}

// Split returns the per-return refs of a call made with NumReturns(n).
func Split[E any](r Ref[[]E]) []Ref[E] {
	if r.h == nil {
		return nil
	}
	ms := r.h.Multi()
	if ms == nil {
		return []Ref[E]{{h: core.FailedHandle(fmt.Errorf("%w: Split of a ref made without NumReturns", ErrInvalidArgument))}}
	}
	out := make([]Ref[E], len(ms))
	for i, h := range ms {
		out[i] = Ref[E]{h: h}
	}
	return out
}

var errZeroHandle = errors.New("ray: zero ActorHandle")
