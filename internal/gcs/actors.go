package gcs

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/goray/ray/internal/ids"
	"github.com/goray/ray/internal/proto"
	"github.com/goray/ray/internal/rpc"
)

// Errors the GCS reports (their messages match the ray sentinels).
var (
	ErrNameTaken     = errors.New("ray: actor name already taken")
	ErrActorNotFound = errors.New("ray: actor not found")
)

// Grant is a worker leased for an actor.
type Grant struct {
	// SpillTo: no lease on this node; ask the node at this address.
	SpillTo  string
	LeaseID  uint64
	WorkerID ids.WorkerID
	Addr     string
	PID      int
	NodeID   ids.NodeID
}

// NodeAPI is what the GCS needs from the node(s) it schedules actors on.
type NodeAPI interface {
	// LeaseForActor asks for a worker for the actor, anywhere in the
	// cluster that req's resources and strategy allow; done is called once,
	// from any goroutine.
	LeaseForActor(req proto.LeaseRequest, done func(Grant, error))
	// ActorCreated tells the granting node the lease now hosts an actor.
	ActorCreated(node ids.NodeID, leaseID uint64, hold bool)
	// KillActorWorker ends the actor's worker process on its node.
	KillActorWorker(node ids.NodeID, leaseID uint64, w ids.WorkerID)
	// Dial connects to a worker's core worker service.
	Dial(ctx context.Context, addr string) (*rpc.Conn, error)
}

type actor struct {
	spec      proto.ActorSpec
	info      proto.ActorInfo
	lease     uint64
	node      ids.NodeID
	worker    ids.WorkerID
	noRestart bool
	waiters   []waiter
}

type waiter struct {
	after int
	reply func(proto.ActorInfo)
}

type nsName struct{ ns, name string }

// GCS holds the actor directory. Its methods are safe for concurrent use;
// replies are delivered through callbacks, never under the lock.
type GCS struct {
	node NodeAPI

	mu       sync.Mutex
	actors   map[ids.ActorID]*actor
	names    map[nsName]ids.ActorID
	byWorker map[ids.WorkerID]ids.ActorID
	nodes    map[ids.NodeID]*nodeEntry
	jobs     map[ids.JobID]proto.JobInfo
	kv       map[string]map[string][]byte // namespace -> key -> value
}

// New returns an empty GCS scheduling on node.
func New(node NodeAPI) *GCS {
	return &GCS{node: node, actors: map[ids.ActorID]*actor{}, names: map[nsName]ids.ActorID{}, byWorker: map[ids.WorkerID]ids.ActorID{},
		nodes: map[ids.NodeID]*nodeEntry{}, jobs: map[ids.JobID]proto.JobInfo{}, kv: map[string]map[string][]byte{}}
}

// CreateActor registers the actor and starts creating it.
func (g *GCS) CreateActor(spec proto.ActorSpec) error {
	g.mu.Lock()
	if _, dup := g.actors[spec.ActorID]; dup {
		g.mu.Unlock()
		return fmt.Errorf("gcs: actor %s already exists", spec.ActorID)
	}
	if spec.Name != "" {
		if _, taken := g.names[nsName{spec.Namespace, spec.Name}]; taken {
			g.mu.Unlock()
			return fmt.Errorf("%w: %q in namespace %q", ErrNameTaken, spec.Name, spec.Namespace)
		}
		g.names[nsName{spec.Namespace, spec.Name}] = spec.ActorID
	}
	a := &actor{spec: spec, info: proto.ActorInfo{
		ActorID: spec.ActorID, State: proto.ActorPending, Name: spec.Name, Namespace: spec.Namespace,
		TypeName: spec.Creation.Func, MaxTaskRetries: spec.MaxTaskRetries,
	}}
	g.actors[spec.ActorID] = a
	g.mu.Unlock()
	g.schedule(a)
	return nil
}

func (g *GCS) schedule(a *actor) {
	res := a.spec.Creation.Resources
	if len(res) == 0 && !a.spec.HoldResources {
		res = map[string]float64{"CPU": 1} // Ray: 1 CPU to schedule an actor unless set
	}
	req := proto.LeaseRequest{Resources: res, ForActor: true, JobID: a.spec.Creation.JobID,
		Strategy: a.spec.Strategy, AffinityNode: a.spec.AffinityNode, AffinitySoft: a.spec.AffinitySoft}
	g.node.LeaseForActor(req, func(gr Grant, err error) {
		if err != nil {
			g.died(a, "no worker for the actor: "+err.Error(), true)
			return
		}
		g.mu.Lock()
		if a.info.State == proto.ActorDead {
			g.mu.Unlock()
			g.node.KillActorWorker(gr.NodeID, gr.LeaseID, gr.WorkerID)
			return
		}
		a.lease, a.worker, a.node = gr.LeaseID, gr.WorkerID, gr.NodeID
		g.byWorker[gr.WorkerID] = a.spec.ActorID
		spec := a.spec.Creation
		spec.Attempt = a.info.NumRestarts
		g.mu.Unlock()
		reply, err := g.push(gr.Addr, &spec)
		if err != nil {
			// The worker died during creation; WorkerDied handles the restart.
			return
		}
		if reply.Err != nil {
			g.node.KillActorWorker(gr.NodeID, gr.LeaseID, gr.WorkerID)
			g.died(a, "the actor's constructor failed: "+reply.Err.Msg, true)
			return
		}
		g.mu.Lock()
		if a.worker != gr.WorkerID || a.info.State == proto.ActorDead {
			g.mu.Unlock()
			return
		}
		a.info.State = proto.ActorAlive
		a.info.Addr = proto.Address{WorkerID: gr.WorkerID, NodeID: gr.NodeID, Addr: gr.Addr}
		a.info.PID = gr.PID
		ws := g.takeWaiters(a)
		info := a.info
		g.mu.Unlock()
		g.node.ActorCreated(gr.NodeID, gr.LeaseID, a.spec.HoldResources)
		for _, w := range ws {
			w.reply(info)
		}
	})
}

func (g *GCS) push(addr string, spec *proto.TaskSpec) (*proto.TaskReply, error) {
	conn, err := g.node.Dial(context.Background(), addr)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	b, err := conn.Call(context.Background(), proto.WorkerPushTask, proto.MustMarshal(spec))
	if err != nil {
		return nil, err
	}
	var reply proto.TaskReply
	if err := proto.Unmarshal(b, &reply); err != nil {
		return nil, err
	}
	return &reply, nil
}

// takeWaiters removes and returns the waiters the current info satisfies.
func (g *GCS) takeWaiters(a *actor) []waiter {
	var ready, kept []waiter
	for _, w := range a.waiters {
		if ready0(a.info, w.after) {
			ready = append(ready, w)
		} else {
			kept = append(kept, w)
		}
	}
	a.waiters = kept
	return ready
}

func ready0(info proto.ActorInfo, after int) bool {
	return info.State == proto.ActorDead || (info.State == proto.ActorAlive && info.NumRestarts >= after)
}

func (g *GCS) died(a *actor, cause string, final bool) {
	g.mu.Lock()
	if a.info.State == proto.ActorDead {
		g.mu.Unlock()
		return
	}
	restart := !final && !a.noRestart && (a.spec.MaxRestarts < 0 || a.info.NumRestarts < a.spec.MaxRestarts)
	delete(g.byWorker, a.worker)
	a.worker, a.lease, a.node = ids.WorkerID{}, 0, ids.NodeID{}
	if restart {
		a.info.State = proto.ActorRestarting
		a.info.NumRestarts++
		g.mu.Unlock()
		g.schedule(a)
		return
	}
	a.info.State = proto.ActorDead
	a.info.DeathCause = cause
	if a.spec.Name != "" {
		delete(g.names, nsName{a.spec.Namespace, a.spec.Name})
	}
	ws := g.takeWaiters(a)
	info := a.info
	g.mu.Unlock()
	for _, w := range ws {
		w.reply(info)
	}
}

// WorkerDied tells the GCS a worker process ended.
func (g *GCS) WorkerDied(w ids.WorkerID, reason string) {
	g.mu.Lock()
	id, ok := g.byWorker[w]
	a := g.actors[id]
	g.mu.Unlock()
	if !ok || a == nil {
		return
	}
	cause := "the actor's worker process died: " + reason
	if a.noRestart {
		cause = "killed by ray.Kill"
	}
	g.died(a, cause, false)
}

// GetActor answers with the actor's info; with WaitReady, once it is alive
// in incarnation >= AfterRestarts, or dead.
func (g *GCS) GetActor(req proto.GetActor, reply func(proto.ActorInfo, error)) {
	g.mu.Lock()
	a, ok := g.actors[req.ActorID]
	if !ok {
		g.mu.Unlock()
		reply(proto.ActorInfo{}, fmt.Errorf("%w: %s", ErrActorNotFound, req.ActorID))
		return
	}
	if !req.WaitReady || ready0(a.info, req.AfterRestarts) {
		info := a.info
		g.mu.Unlock()
		reply(info, nil)
		return
	}
	a.waiters = append(a.waiters, waiter{after: req.AfterRestarts, reply: func(i proto.ActorInfo) { reply(i, nil) }})
	g.mu.Unlock()
}

// GetNamedActor looks up a live named actor.
func (g *GCS) GetNamedActor(name, namespace string) (proto.ActorInfo, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	id, ok := g.names[nsName{namespace, name}]
	if !ok {
		return proto.ActorInfo{}, fmt.Errorf("%w: no actor named %q in namespace %q", ErrActorNotFound, name, namespace)
	}
	return g.actors[id].info, nil
}

// KillActor ends an actor. With noRestart it becomes DEAD; otherwise it
// restarts if it has restarts left.
func (g *GCS) KillActor(id ids.ActorID, noRestart bool) error {
	g.mu.Lock()
	a, ok := g.actors[id]
	if !ok {
		g.mu.Unlock()
		return fmt.Errorf("%w: %s", ErrActorNotFound, id)
	}
	if noRestart {
		a.noRestart = true
	}
	lease, w, node := a.lease, a.worker, a.node
	pending := w.IsZero()
	g.mu.Unlock()
	if pending {
		if noRestart {
			g.died(a, "killed by ray.Kill before it started", true)
		}
		return nil
	}
	g.node.KillActorWorker(node, lease, w)
	return nil
}

// Actors lists every actor's info (for status and tests).
func (g *GCS) Actors() []proto.ActorInfo {
	g.mu.Lock()
	defer g.mu.Unlock()
	out := make([]proto.ActorInfo, 0, len(g.actors))
	for _, a := range g.actors {
		out = append(out, a.info)
	}
	return out
}
