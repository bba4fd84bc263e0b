package core

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/goray/ray/internal/ids"
	"github.com/goray/ray/internal/proto"
	"github.com/goray/ray/internal/resources"
	"github.com/goray/ray/internal/rpc"
)

// actorClient is a caller's connection to one actor: calls queue in
// submission order and are pushed in that order over one connection, so the
// actor sees each caller's calls in order.
type actorClient struct {
	id        ids.ActorID
	conn      *rpc.Conn
	resolving bool
	restarts  int // the incarnation we talk to
	dead      *proto.ErrorInfo
	queue     []*task // unfinished calls, in submission order
	// sentPrefix: queue[:sentPrefix] are all sent (a hint kept exact
	// enough that flushing does not rescan the calls in flight).
	sentPrefix int
}

// remove drops a finished or cancelled call. Calls mostly finish in
// order, so the front is the usual case and costs no copying.
func (a *actorClient) remove(t *task) {
	for i, q := range a.queue {
		if q == t {
			if i < a.sentPrefix {
				a.sentPrefix--
			}
			if i == 0 {
				a.queue[0] = nil
				a.queue = a.queue[1:]
			} else {
				a.queue = append(a.queue[:i], a.queue[i+1:]...)
			}
			return
		}
	}
}

// resend marks an in-flight call to be sent again (to a restarted actor).
func (a *actorClient) resend(t *task) {
	t.sent = false
	a.sentPrefix = 0
}

// ActorOptions configure actor creation.
type ActorOptions struct {
	Resources      map[string]float64
	HoldResources  bool
	MaxRestarts    int
	MaxTaskRetries int
	MaxConcurrency int
	Name           string
	Namespace      string
	Detached       bool
	Strategy       string
	AffinityNode   ids.NodeID
	AffinitySoft   bool
}

// CreateActor registers an actor with the GCS, which creates it in a
// worker of its own. Arguments that are refs are resolved first.
func (rt *Runtime) CreateActor(ctx context.Context, typeName string, args []ArgIn, opts ActorOptions) (ids.ActorID, error) {
	res, err := resources.FromFloats(opts.Resources)
	if err != nil {
		return ids.ActorID{}, fmt.Errorf("%w: %v", ErrInvalidArgument, err)
	}
	wire, pins, _, err := rt.prepareArgs(ctx, args)
	if err != nil {
		return ids.ActorID{}, err
	}
	for i, a := range wire {
		if a.Ref == nil || a.Ref.Owner.WorkerID != rt.self.WorkerID {
			continue
		}
		o, err := rt.wait(ctx, *a.Ref, false)
		if err != nil {
			return ids.ActorID{}, err
		}
		if o.err != nil {
			return ids.ActorID{}, errorFromInfo(o.err)
		}
		if !o.inStore {
			wire[i] = proto.Arg{Data: o.data, Contained: o.contained}
		}
	}
	// Creation arguments stay pinned: a restart runs the constructor again.
	rt.mu.Lock()
	rt.refs.AddSubmitted(pins)
	rt.mu.Unlock()
	id := ids.NewActorID()
	ns := opts.Namespace
	if ns == "" {
		ns = rt.cfg.Namespace
	}
	spec := &proto.ActorSpec{
		ActorID: id, Name: opts.Name, Namespace: ns, Detached: opts.Detached, MaxRestarts: opts.MaxRestarts,
		HoldResources: opts.HoldResources, MaxTaskRetries: opts.MaxTaskRetries,
		Strategy: opts.Strategy, AffinityNode: opts.AffinityNode, AffinitySoft: opts.AffinitySoft,
		Creation: proto.TaskSpec{
			TaskID: rt.tasks.Next(), JobID: rt.jobID, Func: typeName, Args: wire, NumReturns: 0,
			Resources: res.Floats(), Owner: rt.self, ActorID: id, ActorCreation: true, MaxConcurrency: opts.MaxConcurrency,
		},
	}
	if _, err := rt.node.Call(ctx, proto.GCSCreateActor, proto.MustMarshal(spec)); err != nil {
		return ids.ActorID{}, remoteSentinel(err)
	}
	return id, nil
}

// remoteSentinel maps well-known GCS refusals back to sentinels.
func remoteSentinel(err error) error {
	if re, ok := err.(*rpc.RemoteError); ok {
		switch {
		case strings.Contains(re.Msg, ErrNameTaken.Error()):
			return fmt.Errorf("%w: %s", ErrNameTaken, re.Msg)
		case strings.Contains(re.Msg, ErrActorNotFound.Error()):
			return fmt.Errorf("%w: %s", ErrActorNotFound, re.Msg)
		}
	}
	return err
}

// LookupActor finds a named actor.
func (rt *Runtime) LookupActor(ctx context.Context, name, namespace string) (*proto.ActorInfo, error) {
	if namespace == "" {
		namespace = rt.cfg.Namespace
	}
	b, err := rt.node.Call(ctx, proto.GCSGetNamedActor, proto.MustMarshal(&proto.GetNamedActor{Name: name, Namespace: namespace}))
	if err != nil {
		return nil, remoteSentinel(err)
	}
	var info proto.ActorInfo
	if err := proto.Unmarshal(b, &info); err != nil {
		return nil, err
	}
	return &info, nil
}

// ActorState asks the GCS for an actor's current state.
func (rt *Runtime) ActorState(ctx context.Context, id ids.ActorID) (*proto.ActorInfo, error) {
	b, err := rt.node.Call(ctx, proto.GCSGetActor, proto.MustMarshal(&proto.GetActor{ActorID: id}))
	if err != nil {
		return nil, remoteSentinel(err)
	}
	var info proto.ActorInfo
	if err := proto.Unmarshal(b, &info); err != nil {
		return nil, err
	}
	return &info, nil
}

// KillActor ends an actor; unless noRestart, it may restart per its
// MaxRestarts.
func (rt *Runtime) KillActor(ctx context.Context, id ids.ActorID, noRestart bool) error {
	_, err := rt.node.Call(ctx, proto.GCSKillActor, proto.MustMarshal(&proto.KillActor{ActorID: id, NoRestart: noRestart}))
	return remoteSentinel(err)
}

// SubmitActor submits a method call to an actor.
func (rt *Runtime) SubmitActor(actor ids.ActorID, method string, args []ArgIn, opts TaskOptions) *Handle {
	rt.mu.Lock()
	ac, ok := rt.actors[actor]
	if !ok {
		ac = &actorClient{id: actor}
		rt.actors[actor] = ac
	}
	rt.mu.Unlock()
	return rt.submit(method, args, opts, ac)
}

// flushActorLocked pushes ready calls in order. Pushing happens under mu so
// that two goroutines cannot reorder calls (the send only appends to the
// connection's buffer or writes to a socket whose reader never waits on us).
func (rt *Runtime) flushActorLocked(ac *actorClient) effects {
	var eff effects
	if ac.dead != nil {
		for _, t := range append([]*task(nil), ac.queue...) {
			if !t.sent {
				eff.merge(rt.finishLocked(t, nil, ac.dead))
			}
		}
		return eff
	}
	if ac.conn == nil {
		if !ac.resolving {
			ac.resolving = true
			go rt.resolveActor(ac)
		}
		return eff
	}
	for i := ac.sentPrefix; i < len(ac.queue); i++ {
		t := ac.queue[i]
		if t.sent {
			if i == ac.sentPrefix {
				ac.sentPrefix++
			}
			continue
		}
		if !t.queued {
			break // a call waiting on its arguments holds back later calls
		}
		t.sent = true
		if i == ac.sentPrefix {
			ac.sentPrefix++
		}
		conn := ac.conn
		conn.CallInline(proto.WorkerPushTask, proto.MustMarshal(&t.spec), func(b []byte, err error) { rt.onActorReply(t, conn, b, err) })
	}
	return eff
}

func (rt *Runtime) resolveActor(ac *actorClient) {
	for attempt := 0; ; attempt++ {
		rt.mu.Lock()
		after := ac.restarts
		rt.mu.Unlock()
		b, err := rt.node.Call(context.Background(), proto.GCSGetActor, proto.MustMarshal(&proto.GetActor{ActorID: ac.id, WaitReady: true, AfterRestarts: after}))
		var info proto.ActorInfo
		if err == nil {
			err = proto.Unmarshal(b, &info)
		}
		var conn *rpc.Conn
		if err == nil && info.State == proto.ActorAlive {
			conn, err = rt.conn(context.Background(), info.Addr.Addr)
			if err != nil && attempt < 50 {
				time.Sleep(20 * time.Millisecond) // the GCS may not have seen the death yet
				continue
			}
		}
		rt.mu.Lock()
		ac.resolving = false
		switch {
		case err != nil:
			ac.dead = &proto.ErrorInfo{Kind: proto.ErrKindActorDied, Msg: fmt.Sprintf("actor %s: %v", ac.id, err)}
		case info.State == proto.ActorDead:
			ac.dead = &proto.ErrorInfo{Kind: proto.ErrKindActorDied, Msg: fmt.Sprintf("actor %s is dead: %s", ac.id, info.DeathCause)}
		default:
			ac.conn = conn
			ac.restarts = info.NumRestarts
		}
		eff := rt.flushActorLocked(ac)
		rt.mu.Unlock()
		eff.run(rt)
		return
	}
}

func (rt *Runtime) onActorReply(t *task, conn *rpc.Conn, b []byte, err error) {
	var reply proto.TaskReply
	if err == nil {
		err = proto.UnmarshalTaskReply(b, &reply)
	}
	rt.mu.Lock()
	ac := t.actor
	var eff effects
	if err != nil {
		if _, remote := err.(*rpc.RemoteError); !remote && ac.conn == conn {
			// The actor's worker is gone: find the next incarnation.
			ac.conn = nil
			ac.restarts++
		}
		switch {
		case t.cancelled:
			ac.remove(t)
			eff.merge(rt.finishLocked(t, nil, &proto.ErrorInfo{Kind: proto.ErrKindCancelled, Func: t.spec.Func, Msg: "cancelled"}))
		case t.retries != 0:
			if t.retries > 0 {
				t.retries--
			}
			ac.resend(t)
			t.spec.Attempt++
		default:
			ac.remove(t)
			eff.merge(rt.finishLocked(t, nil, &proto.ErrorInfo{Kind: proto.ErrKindActorDied, Func: t.spec.Func,
				Msg: fmt.Sprintf("actor %s died while running %s (%v); set MaxTaskRetries to retry calls", ac.id, t.spec.Func, err)}))
		}
	} else {
		ac.remove(t)
		if reply.Err != nil && t.cancelled {
			reply.Err = &proto.ErrorInfo{Kind: proto.ErrKindCancelled, Func: t.spec.Func, Msg: "cancelled"}
		}
		eff.merge(rt.finishLocked(t, &reply, reply.Err))
	}
	eff.merge(rt.flushActorLocked(ac))
	rt.mu.Unlock()
	eff.run(rt)
}

// Nodes asks the GCS for the cluster's nodes.
func (rt *Runtime) Nodes(ctx context.Context) ([]proto.NodeInfo, error) {
	b, err := rt.node.Call(ctx, proto.GCSGetNodes, nil)
	if err != nil {
		return nil, err
	}
	var v proto.ClusterView
	if err := proto.Unmarshal(b, &v); err != nil {
		return nil, err
	}
	return v.Nodes, nil
}

// KV runs a GCS KV operation in the job's namespace.
func (rt *Runtime) KV(ctx context.Context, method byte, key string, value []byte, overwrite bool) (*proto.KVReply, error) {
	b, err := rt.node.Call(ctx, method, proto.MustMarshal(&proto.KVRequest{Namespace: rt.cfg.Namespace, Key: key, Value: value, Overwrite: overwrite}))
	if err != nil {
		return nil, err
	}
	var r proto.KVReply
	if err := proto.Unmarshal(b, &r); err != nil {
		return nil, err
	}
	return &r, nil
}
