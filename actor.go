package ray

import (
	"context"
	"fmt"
	"reflect"

	"github.com/fxamacker/cbor/v2"

	"github.com/goray/ray/internal/codec"
	"github.com/goray/ray/internal/core"
	"github.com/goray/ray/internal/ids"
)

type contextT = context.Context

// actorBase is a registered actor type plus creation options.
type actorBase struct {
	at  *core.ActorType
	cfg actorConfig
}

func (b *actorBase) with(opts []ActorOption) *actorBase {
	nb := &actorBase{at: b.at, cfg: b.cfg}
	nb.cfg.resources = cloneMap(b.cfg.resources)
	for _, o := range opts {
		o.applyActor(&nb.cfg)
	}
	return nb
}

func actorTypeName[S any]() string {
	t := reflect.TypeFor[S]()
	return t.PkgPath() + "." + t.Name()
}

func registerActor[S any](newFn any, args []reflect.Type, invoke func(contextT, []core.Arg) (any, error)) *actorBase {
	_, loc := funcName(newFn)
	at := &core.ActorType{Name: actorTypeName[S](), Loc: loc, ArgTypes: args, New: invoke}
	core.Default.AddActor(at)
	return &actorBase{at: at}
}

// methodBase is a registered method plus per-call options.
type methodBase struct {
	m    *core.Method
	cfg  callConfig
	opts core.TaskOptions // prepared from cfg once
}

func newMethodBase(m *core.Method, cfg callConfig) *methodBase {
	return &methodBase{m: m, cfg: cfg, opts: core.PrepareTaskOptions(cfg.taskOptions(true))}
}

func (b *methodBase) with(opts []CallOption) *methodBase {
	cfg := b.cfg
	cfg.resources = cloneMap(b.cfg.resources)
	for _, o := range opts {
		o.applyCall(&cfg)
	}
	return newMethodBase(b.m, cfg)
}

func registerMethod[S any](fn any, args []reflect.Type, result reflect.Type, invoke func(contextT, any, []core.Arg) (any, error)) *methodBase {
	name, loc := funcName(fn)
	m := &core.Method{Name: name, Loc: loc, Actor: reflect.TypeFor[*S](), ArgTypes: args, Result: result, Invoke: invoke}
	core.Default.AddMethod(m)
	return newMethodBase(m, callConfig{numReturns: 1})
}

// ActorHandle refers to a live actor of type S. Handles can be passed to
// tasks and other actors (as arguments or nested in values).
type ActorHandle[S any] struct {
	id             ids.ActorID
	maxTaskRetries int
}

type actorHandleWire struct {
	_              struct{} `cbor:",toarray"`
	ID             ids.ActorID
	MaxTaskRetries int
}

// ID is the actor's ID in hex.
func (h *ActorHandle[S]) ID() string { return h.id.String() }

// actorRef is the untyped part of a handle.
type actorRef struct {
	id             ids.ActorID
	maxTaskRetries int
	ok             bool
}

func (h *ActorHandle[S]) base() actorRef {
	if h == nil || h.id.IsZero() {
		return actorRef{}
	}
	return actorRef{id: h.id, maxTaskRetries: h.maxTaskRetries, ok: true}
}

// MarshalCBOR encodes the handle when it is passed to a task or actor.
func (h ActorHandle[S]) MarshalCBOR() ([]byte, error) {
	return codec.EncMode().Marshal(actorHandleWire{ID: h.id, MaxTaskRetries: h.maxTaskRetries})
}

// UnmarshalCBOR decodes a handle.
func (h *ActorHandle[S]) UnmarshalCBOR(b []byte) error {
	var w actorHandleWire
	if err := codec.DecMode().Unmarshal(b, &w); err != nil {
		return err
	}
	h.id, h.maxTaskRetries = w.ID, w.MaxTaskRetries
	return nil
}

var _ cbor.Marshaler = ActorHandle[struct{}]{}

func newActor[S any](cls *actorBase, loc callSite, args []any) (*ActorHandle[S], error) {
	rt, err := runtimeOrErr()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", loc, err)
	}
	if cls.at.Late {
		return nil, lateError(loc, cls.at.Name, cls.at.Loc)
	}
	in, err := checkArgs(loc, cls.at.Name, cls.at.ArgTypes, false, args)
	if err != nil {
		return nil, err
	}
	c := cls.cfg
	id, err := rt.CreateActor(context.Background(), cls.at.Name, in, core.ActorOptions{
		Resources: c.resources, HoldResources: c.setResources, MaxRestarts: c.maxRestarts,
		MaxTaskRetries: c.maxTaskRetries, MaxConcurrency: c.maxConcurrency, Name: c.name,
		Namespace: c.namespace, Detached: c.detached,
		Strategy: c.strategy.strategy, AffinityNode: parseNodeID(c.strategy.node), AffinitySoft: c.strategy.soft,
	})
	if err != nil {
		return nil, fmt.Errorf("%s: creating actor %s: %w", loc, cls.at.Name, err)
	}
	return &ActorHandle[S]{id: id, maxTaskRetries: c.maxTaskRetries}, nil
}

func (b *methodBase) remote(a actorRef, loc callSite, args []any) *core.Handle {
	rt := core.Current()
	if rt == nil {
		return core.FailedHandle(fmt.Errorf("%s: %s.Remote: %w", loc, b.m.Name, ErrNotInitialized))
	}
	if !a.ok {
		return core.FailedHandle(fmt.Errorf("%s: %s.Remote: %w", loc, b.m.Name, errZeroHandle))
	}
	if b.m.Late {
		return core.FailedHandle(lateError(loc, b.m.Name, b.m.Loc))
	}
	in, err := checkArgs(loc, b.m.Name, b.m.ArgTypes, false, args)
	if err != nil {
		return core.FailedHandle(err)
	}
	opts := b.opts // MaxTaskRetries and MaxRetries do not change what was prepared
	opts.MaxTaskRetries = a.maxTaskRetries
	opts.MaxRetries = 0
	return rt.SubmitActor(a.id, b.m.Name, in, opts)
}

// GetActor finds a live named actor of type S in namespace (default: the
// job's namespace).
func GetActor[S any](ctx context.Context, name string, namespace ...string) (*ActorHandle[S], error) {
	rt, err := runtimeOrErr()
	if err != nil {
		return nil, err
	}
	ns := ""
	if len(namespace) > 0 {
		ns = namespace[0]
	}
	info, err := rt.LookupActor(ctx, name, ns)
	if err != nil {
		return nil, err
	}
	if want := actorTypeName[S](); info.TypeName != want {
		return nil, fmt.Errorf("%w: actor %q is a %s, not a %s", ErrInvalidArgument, name, info.TypeName, want)
	}
	return &ActorHandle[S]{id: info.ActorID, maxTaskRetries: info.MaxTaskRetries}, nil
}

// Kill ends an actor at once; pending and later calls fail with
// ErrActorDied. By default it is not restarted (Ray's no_restart=True).
func Kill[S any](h *ActorHandle[S], opts ...KillOption) error {
	rt, err := runtimeOrErr()
	if err != nil {
		return err
	}
	if h == nil {
		return errZeroHandle
	}
	c := killConfig{noRestart: true}
	for _, o := range opts {
		o.applyKill(&c)
	}
	return rt.KillActor(context.Background(), h.id, c.noRestart)
}
