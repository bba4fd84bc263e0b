package core

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"time"

	"github.com/goray/ray/internal/codec"
	"github.com/goray/ray/internal/ids"
	"github.com/goray/ray/internal/proto"
	"github.com/goray/ray/internal/resources"
	"github.com/goray/ray/internal/rpc"
)

// Pipelining: an owner pushes one task at a time to a leased worker (Ray's
// default, which keeps long tasks spread over workers), but up to
// maxPipeline when the class's tasks are short (average round trip under
// pipelineBelow): then queueing behind a sibling costs little and saves a
// round trip per task.
const (
	maxPipeline   = 8
	pipelineBelow = 2 * time.Millisecond
)

// maxPendingLeases bounds outstanding lease requests per scheduling class
// (Ray's max_pending_lease_requests_per_scheduling_category).
const maxPendingLeases = 10

// preparedOpts is the part of TaskOptions worth computing once per
// function and option set rather than per call.
type preparedOpts struct {
	floats map[string]float64 // validated, zeros dropped; read-only
	key    string             // scheduling class
	err    error
	// The scheduling strategy, as in TaskOptions.
	strategy string
	affinity ids.NodeID
	soft     bool
}

func prepare(o *TaskOptions) *preparedOpts {
	res, err := resources.FromFloats(o.Resources)
	if err != nil {
		return &preparedOpts{err: fmt.Errorf("%w: %v", ErrInvalidArgument, err)}
	}
	key := res.Key()
	if o.Strategy != "" {
		key += "|" + o.Strategy + "|" + o.AffinityNode.String() + fmt.Sprint(o.AffinitySoft)
	}
	return &preparedOpts{floats: res.Floats(), key: key, strategy: o.Strategy, affinity: o.AffinityNode, soft: o.AffinitySoft}
}

// PrepareTaskOptions precomputes what every call with these options shares
// (validated resources, scheduling class); pass the result to Submit.
func PrepareTaskOptions(o TaskOptions) TaskOptions {
	o.prep = prepare(&o)
	return o
}

// taskInlineLimit bounds the inline argument bytes of one task (Ray's
// task_rpc_inlined_bytes_limit, 10 MiB): past it, arguments go by
// reference through the store, so no push nears the frame limit.
const taskInlineLimit = 10 << 20

// ArgIn is one argument given to Submit: a value or a ref.
type ArgIn struct {
	Value  any
	Handle *Handle
}

// TaskOptions are per-call options.
type TaskOptions struct {
	Resources       map[string]float64
	MaxRetries      int // -1: forever
	RetryExceptions bool
	NumReturns      int // >= 1
	ReturnsAsSlice  bool
	// MaxTaskRetries applies to actor calls.
	MaxTaskRetries int
	// Strategy is "", "SPREAD" or "NODE_AFFINITY" (with AffinityNode and
	// AffinitySoft), as in Ray's scheduling strategies.
	Strategy     string
	AffinityNode ids.NodeID
	AffinitySoft bool

	prep *preparedOpts
}

type task struct {
	spec      proto.TaskSpec
	pins      []proto.ObjRef
	deps      int
	queued    bool
	cancelled bool
	lease     *lease
	actor     *actorClient
	sent      bool // actor call pushed
	finished  bool // finishLocked ran
	retries   int  // actor calls: retries left (-1 forever)
	prep      *preparedOpts
	pushedAt  time.Duration // since clockStart (monotonic, and 8 bytes)
}

// clockStart is the origin of task.pushedAt.
var clockStart = time.Now()

type schedClass struct {
	key           string
	res           map[string]float64
	queue         []*task
	leases        map[*lease]struct{} // keyed by identity: lease IDs are only unique per node
	pendingLeases int
	strategy      string
	affinity      ids.NodeID
	soft          bool
	avgRTT        time.Duration // moving average of task round trips
	lastLease     *lease        // the lease the last task went to
}

type lease struct {
	id       uint64
	worker   ids.WorkerID
	conn     *rpc.Conn
	class    *schedClass
	inflight int
	idle     *time.Timer
	gone     bool
	node     *rpc.Conn // the granting node, to return the lease to
}

// prepareArgs encodes values and turns refs into wire args. Large values are
// put in the store first (as Ray does for arguments above the inline limit).
func (rt *Runtime) prepareArgs(ctx context.Context, args []ArgIn) ([]proto.Arg, []proto.ObjRef, []*Handle, error) {
	out := make([]proto.Arg, len(args))
	var pins []proto.ObjRef
	var keep []*Handle
	inlined := 0
	for i, a := range args {
		if a.Handle != nil {
			if a.Handle.Err() != nil {
				return nil, nil, nil, a.Handle.Err()
			}
			if a.Handle.Multi() != nil {
				return nil, nil, nil, fmt.Errorf("%w: argument %d is a multi-return bundle; pass one of its refs", ErrInvalidArgument, i+1)
			}
			r := a.Handle.ref
			out[i] = proto.Arg{Ref: &r}
			pins = append(pins, r)
			keep = append(keep, a.Handle)
			continue
		}
		contained := collectRefs(a.Value)
		b, err := codec.Marshal(a.Value)
		if err != nil {
			return nil, nil, nil, fmt.Errorf("%w: argument %d (%T): %w", ErrEncode, i+1, a.Value, err)
		}
		if len(b) > rt.inline || inlined+len(b) > taskInlineLimit {
			h, err := rt.Put(ctx, a.Value)
			if err != nil {
				return nil, nil, nil, err
			}
			r := h.ref
			out[i] = proto.Arg{Ref: &r}
			pins = append(pins, r)
			keep = append(keep, h)
			continue
		}
		inlined += len(b)
		out[i] = proto.Arg{Data: b, Contained: contained}
		pins = append(pins, contained...)
	}
	return out, pins, keep, nil
}

// Submit submits a task running the registered function fn and returns
// the handle to its result, or with NumReturns > 1 a MultiHandle of its
// results.
func (rt *Runtime) Submit(fn string, args []ArgIn, opts TaskOptions) *Handle {
	return rt.submit(fn, args, opts, nil)
}

func (rt *Runtime) submit(fn string, args []ArgIn, opts TaskOptions, actor *actorClient) *Handle {
	if opts.NumReturns < 1 {
		opts.NumReturns = 1
	}
	fail := func(err error) *Handle {
		if opts.NumReturns == 1 {
			return FailedHandle(err)
		}
		hs := make([]*Handle, opts.NumReturns)
		for i := range hs {
			hs[i] = FailedHandle(err)
		}
		return MultiHandle(hs)
	}
	p := opts.prep
	if p == nil {
		p = prepare(&opts)
	}
	if p.err != nil {
		return fail(p.err)
	}
	wire, pins, keep, err := rt.prepareArgs(context.Background(), args)
	if err != nil {
		return fail(err)
	}
	tid := rt.tasks.Next()
	t := &task{spec: proto.TaskSpec{
		TaskID: tid, JobID: rt.jobID, Func: fn, Args: wire, NumReturns: opts.NumReturns,
		Resources: p.floats, MaxRetries: opts.MaxRetries, RetryExceptions: opts.RetryExceptions,
		Owner: rt.self, ReturnsAsSlice: opts.ReturnsAsSlice,
	}, pins: pins, actor: actor, retries: opts.MaxTaskRetries}
	t.prep = p
	if actor != nil {
		t.spec.ActorID = actor.id
	}
	// One return, the usual case, needs no slice of handles.
	var first *Handle
	var multi []*Handle
	if opts.NumReturns > 1 {
		multi = make([]*Handle, opts.NumReturns)
	}
	result := func() *Handle {
		if multi != nil {
			return MultiHandle(multi)
		}
		return first
	}
	rt.mu.Lock()
	if rt.closed {
		rt.mu.Unlock()
		return fail(ErrNotInitialized)
	}
	rt.refs.AddSubmitted(pins)
	for i := range opts.NumReturns {
		id := ids.ReturnID(tid, i)
		ref := proto.ObjRef{ID: id, Owner: rt.self}
		rt.refs.Own(ref)
		o := newObject(true)
		o.task = t
		rt.objects[id] = o
		h, _ := rt.trackLocked(ref, true)
		if multi != nil {
			multi[i] = h
		} else {
			first = h
		}
	}
	if actor != nil {
		actor.queue = append(actor.queue, t)
	}
	for _, a := range wire {
		if a.Ref == nil || a.Ref.Owner.WorkerID != rt.self.WorkerID {
			continue
		}
		o, ok := rt.objects[a.Ref.ID]
		if !ok {
			eff := rt.finishLocked(t, nil, &proto.ErrorInfo{Kind: proto.ErrKindObjectLost, Msg: fmt.Sprintf("argument %s was freed", a.Ref.ID)})
			rt.mu.Unlock()
			eff.run(rt)
			return result()
		}
		if !o.done {
			t.deps++
			o.onDone = append(o.onDone, func() { rt.depReady(t) })
		}
	}
	var eff effects
	if t.deps == 0 {
		eff = rt.readyLocked(t)
	}
	rt.mu.Unlock()
	eff.run(rt)
	runtime.KeepAlive(keep) // the arg handles stay reachable until the pins are in place
	return result()
}

// effects collects work to do after releasing mu.
type effects struct {
	fns    []func()
	pushes []push // tasks to push to leased workers, in order
	ref    refEffects
}

type push struct {
	t *task
	l *lease
}

func (e *effects) add(f func()) { e.fns = append(e.fns, f) }
func (e *effects) merge(o effects) {
	e.fns = concat(e.fns, o.fns)
	e.pushes = concat(e.pushes, o.pushes)
	e.ref.merge(o.ref)
}
func (r *refEffects) merge(o refEffects) {
	r.storeDeletes = concat(r.storeDeletes, o.storeDeletes)
	r.releases = concat(r.releases, o.releases)
}

// concat appends b to a, taking b itself when a is empty (the usual case:
// merging one step's effects into none), which saves a copy.
func concat[T any](a, b []T) []T {
	if len(a) == 0 {
		return b
	}
	return append(a, b...)
}

func (e effects) run(rt *Runtime) {
	e.ref.apply(rt)
	// Pushes to one worker go out in one write (pipelined tasks).
	if len(e.pushes) > 1 {
		for _, p := range e.pushes {
			p.l.conn.Cork()
		}
	}
	for _, p := range e.pushes {
		rt.push(p.t, p.l)
	}
	if len(e.pushes) > 1 {
		for _, p := range e.pushes {
			p.l.conn.Uncork()
		}
	}
	for _, f := range e.fns {
		f()
	}
}

func (rt *Runtime) depReady(t *task) {
	rt.mu.Lock()
	t.deps--
	var eff effects
	if t.deps == 0 && !t.cancelled {
		eff = rt.readyLocked(t)
	}
	rt.mu.Unlock()
	eff.run(rt)
}

// readyLocked runs once a task's owned dependencies are done: failed
// dependencies fail the task; small values are inlined; then the task is
// queued for a lease (or for its actor).
func (rt *Runtime) readyLocked(t *task) effects {
	inlined := 0
	for _, a := range t.spec.Args {
		inlined += len(a.Data)
	}
	for i, a := range t.spec.Args {
		if a.Ref == nil || a.Ref.Owner.WorkerID != rt.self.WorkerID {
			continue
		}
		o, ok := rt.objects[a.Ref.ID]
		if !ok {
			return rt.finishLocked(t, nil, &proto.ErrorInfo{Kind: proto.ErrKindObjectLost, Msg: fmt.Sprintf("argument %s was freed", a.Ref.ID)})
		}
		if o.err != nil {
			return rt.finishLocked(t, nil, o.err)
		}
		if !o.inStore && inlined+len(o.data) <= taskInlineLimit {
			inlined += len(o.data)
			t.spec.Args[i] = proto.Arg{Data: o.data, Contained: o.contained}
		}
	}
	if t.actor != nil {
		t.queued = true
		return rt.flushActorLocked(t.actor)
	}
	p := t.prep
	c, ok := rt.classes[p.key]
	if !ok {
		c = &schedClass{key: p.key, res: t.spec.Resources, strategy: p.strategy, affinity: p.affinity, soft: p.soft, leases: map[*lease]struct{}{}}
		rt.classes[c.key] = c
	}
	t.queued = true
	c.queue = append(c.queue, t)
	return rt.dispatchLocked(c)
}

func (rt *Runtime) dispatchLocked(c *schedClass) effects {
	var eff effects
	depth := 1
	if c.avgRTT > 0 && c.avgRTT < pipelineBelow {
		depth = maxPipeline
	}
	for len(c.queue) > 0 {
		var free *lease
		for l := range c.leases {
			if !l.gone && l.inflight < depth && (free == nil || l.inflight < free.inflight) {
				free = l
			}
		}
		if free == nil {
			break
		}
		// Among equally busy workers prefer the one used last: it is
		// awake (see rpc's spinFor), an idle one may have to be woken.
		if last := c.lastLease; last != nil && last != free && !last.gone && last.inflight == free.inflight {
			if _, ok := c.leases[last]; ok {
				free = last
			}
		}
		c.lastLease = free
		t := c.queue[0]
		c.queue = c.queue[1:]
		t.queued = false
		t.lease = free
		t.pushedAt = time.Since(clockStart)
		free.inflight++
		if free.idle != nil {
			free.idle.Stop()
			free.idle = nil
		}
		eff.pushes = append(eff.pushes, push{t, free})
	}
	for need := len(c.queue) - c.pendingLeases; need > 0 && c.pendingLeases < maxPendingLeases; need-- {
		c.pendingLeases++
		rt.leaseSeq++
		eff.add(rt.requestLeaseFn(c, rt.leaseSeq, "", false))
	}
	if len(c.queue) == 0 {
		for l := range c.leases {
			if l.inflight == 0 && l.idle == nil && !l.gone {
				l := l
				l.idle = time.AfterFunc(rt.cfg.LeaseIdle, func() { rt.leaseIdle(l) })
			}
		}
	}
	return eff
}

// push sends t to the worker of lease l. Called without mu.
func (rt *Runtime) push(t *task, l *lease) {
	b := proto.MustMarshal(&t.spec)
	l.conn.CallInline(proto.WorkerPushTask, b, func(reply []byte, err error) { rt.onReply(t, l, reply, err) })
}

// requestLeaseFn asks a node (ours, or the one at nodeAddr after a
// spillback) for a lease for class c.
func (rt *Runtime) requestLeaseFn(c *schedClass, reqID uint64, nodeAddr string, noSpill bool) func() {
	b := proto.MustMarshal(&proto.LeaseRequest{RequestID: reqID, Resources: c.res, Owner: rt.self.WorkerID, JobID: rt.jobID,
		Strategy: c.strategy, AffinityNode: c.affinity, AffinitySoft: c.soft, NoSpill: noSpill})
	return func() {
		nc, err := rt.nodeConn(context.Background(), nodeAddr)
		if err != nil {
			rt.onLease(c, reqID, nodeAddr, nil, nil, err)
			return
		}
		nc.CallAsync(proto.NodeRequestLease, b, func(reply []byte, err error) { rt.onLease(c, reqID, nodeAddr, nc, reply, err) })
	}
}

// maxSpillTries bounds how often one lease request follows spillbacks to
// nodes that turn out unreachable (their death not yet in the view).
const maxSpillTries = 50

func (rt *Runtime) onLease(c *schedClass, reqID uint64, nodeAddr string, nc *rpc.Conn, reply []byte, err error) {
	var g proto.LeaseGrant
	if err == nil {
		err = proto.Unmarshal(reply, &g)
	}
	if err == nil && g.SpillTo != "" {
		// Ask the node our node chose; it queues the request there.
		rt.requestLeaseFn(c, reqID, g.SpillTo, true)()
		return
	}
	if err != nil && nodeAddr != "" && nodeAddr != rt.nodeAddr && rt.spillRetry(reqID) {
		// The spill target is unreachable: ask our node again; its view
		// drops the dead node once the GCS declares it dead.
		time.AfterFunc(100*time.Millisecond, rt.requestLeaseFn(c, reqID, "", false))
		return
	}
	var conn *rpc.Conn
	if err == nil {
		conn, err = rt.conn(context.Background(), g.WorkerAddr)
		if err != nil {
			nc.Send(proto.NodeReturnLease, proto.MustMarshal(&proto.ReturnLease{LeaseID: g.LeaseID, Kill: true}))
		}
	}
	rt.mu.Lock()
	c.pendingLeases--
	delete(rt.spillTries, reqID)
	var eff effects
	if err != nil {
		if rt.closed {
			rt.mu.Unlock()
			return
		}
		// The node refused or failed: fail what is queued rather than hang.
		if c.pendingLeases == 0 && len(c.leases) == 0 {
			for _, t := range c.queue {
				eff.merge(rt.finishLocked(t, nil, &proto.ErrorInfo{Kind: proto.ErrKindSystem, Msg: "no worker lease: " + err.Error()}))
			}
			c.queue = nil
		}
	} else {
		l := &lease{id: g.LeaseID, worker: g.WorkerID, conn: conn, node: nc, class: c}
		c.leases[l] = struct{}{}
		eff.merge(rt.dispatchLocked(c))
	}
	rt.mu.Unlock()
	eff.run(rt)
}

func (rt *Runtime) spillRetry(reqID uint64) bool {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	rt.spillTries[reqID]++
	return rt.spillTries[reqID] <= maxSpillTries && !rt.closed
}

func (rt *Runtime) leaseIdle(l *lease) {
	rt.mu.Lock()
	if l.gone || l.inflight > 0 || l.idle == nil {
		rt.mu.Unlock()
		return
	}
	l.gone = true
	delete(l.class.leases, l)
	rt.mu.Unlock()
	l.node.Send(proto.NodeReturnLease, proto.MustMarshal(&proto.ReturnLease{LeaseID: l.id}))
}

func (rt *Runtime) onReply(t *task, l *lease, b []byte, err error) {
	var reply proto.TaskReply
	if err == nil {
		if uerr := proto.UnmarshalTaskReply(b, &reply); uerr != nil {
			err = uerr
		}
	}
	rt.mu.Lock()
	l.inflight--
	if err == nil {
		// Exponential moving average of the class's task round trip.
		d := time.Since(clockStart) - t.pushedAt
		if l.class.avgRTT == 0 {
			l.class.avgRTT = d
		} else {
			l.class.avgRTT += (d - l.class.avgRTT) / 8
		}
	}
	var eff effects
	if errors.Is(err, rpc.ErrFrameTooLong) {
		// Our own message was too big: the worker is fine and a retry
		// would fail the same way.
		eff.merge(rt.finishLocked(t, nil, &proto.ErrorInfo{Kind: proto.ErrKindSystem, Func: t.spec.Func, Msg: err.Error()}))
	} else if err != nil {
		if _, isRemote := err.(*rpc.RemoteError); !isRemote && !l.gone {
			// The worker's connection broke: it died.
			l.gone = true
			delete(l.class.leases, l)
			eff.add(func() {
				l.node.Send(proto.NodeReturnLease, proto.MustMarshal(&proto.ReturnLease{LeaseID: l.id, Kill: true}))
			})
		}
		switch {
		case t.cancelled:
			eff.merge(rt.finishLocked(t, nil, &proto.ErrorInfo{Kind: proto.ErrKindCancelled, Func: t.spec.Func, Msg: "task " + t.spec.TaskID.String() + " was cancelled"}))
		case t.spec.MaxRetries < 0 || t.spec.Attempt < t.spec.MaxRetries:
			t.spec.Attempt++
			t.lease = nil
			t.queued = true
			l.class.queue = append([]*task{t}, l.class.queue...)
		default:
			eff.merge(rt.finishLocked(t, nil, &proto.ErrorInfo{Kind: proto.ErrKindWorkerCrashed, Func: t.spec.Func,
				Msg: fmt.Sprintf("the worker running %s died (%v); tried %d times", t.spec.Func, err, t.spec.Attempt+1)}))
		}
	} else if reply.Err != nil && t.cancelled {
		eff.merge(rt.finishLocked(t, nil, &proto.ErrorInfo{Kind: proto.ErrKindCancelled, Func: t.spec.Func, Msg: "task " + t.spec.TaskID.String() + " was cancelled"}))
	} else if reply.Err != nil && t.spec.RetryExceptions && (reply.Err.Kind == proto.ErrKindApp || reply.Err.Kind == proto.ErrKindPanic) &&
		(t.spec.MaxRetries < 0 || t.spec.Attempt < t.spec.MaxRetries) {
		t.spec.Attempt++
		t.lease = nil
		t.queued = true
		l.class.queue = append(l.class.queue, t)
	} else {
		eff.merge(rt.finishLocked(t, &reply, reply.Err))
	}
	eff.merge(rt.dispatchLocked(l.class))
	rt.mu.Unlock()
	eff.run(rt)
}

// finishLocked records a task's outcome in its return objects and unpins
// its arguments.
func (rt *Runtime) finishLocked(t *task, reply *proto.TaskReply, errInfo *proto.ErrorInfo) effects {
	var eff effects
	if t.finished {
		return eff
	}
	t.finished = true
	if t.actor != nil {
		t.actor.remove(t)
	}
	if errInfo == nil && (reply == nil || len(reply.Returns) != t.spec.NumReturns) {
		n := 0
		if reply != nil {
			n = len(reply.Returns)
		}
		errInfo = &proto.ErrorInfo{Kind: proto.ErrKindSystem, Func: t.spec.Func, Msg: fmt.Sprintf("worker returned %d results, want %d", n, t.spec.NumReturns)}
	}
	for i := range t.spec.NumReturns {
		id := ids.ReturnID(t.spec.TaskID, i)
		o, ok := rt.objects[id]
		if !ok {
			// Nobody holds a ref any more: drop the result.
			if errInfo == nil {
				r := reply.Returns[i]
				if r.InStore {
					eff.ref.storeDeletes = append(eff.ref.storeDeletes, storeDel{id, r.NodeID})
				}
				rt.collectLocked(&eff.ref, []RefAction{{Contained: r.Contained, Free: id}})
			}
			continue
		}
		o.task = nil
		if errInfo != nil {
			o.err = errInfo
		} else {
			r := reply.Returns[i]
			o.data, o.inStore, o.size, o.node, o.contained = r.Data, r.InStore, r.Size, r.NodeID, r.Contained
		}
		for _, f := range o.complete() {
			eff.add(f)
		}
		rt.completedLocked()
	}
	rt.collectLocked(&eff.ref, rt.refs.RemoveSubmitted(t.pins))
	return eff
}

// Cancel cancels the task that produces h. A queued task fails at once with
// ErrTaskCancelled; a running one has its context cancelled, or with force
// its worker killed. Cancelling a finished task does nothing.
func (rt *Runtime) Cancel(h *Handle, force bool) error {
	if h.Err() != nil {
		return nil
	}
	if h.Multi() != nil {
		h = h.Multi()[0]
	}
	rt.mu.Lock()
	var t *task
	if o, ok := rt.objects[h.ref.ID]; ok && o.task != nil && !o.task.finished {
		t = o.task
	}
	if t == nil {
		rt.mu.Unlock()
		if h.ref.Owner.WorkerID != rt.self.WorkerID {
			return fmt.Errorf("%w: only the owner of a ref can cancel its task", ErrInvalidArgument)
		}
		return nil
	}
	if t.actor != nil && force {
		rt.mu.Unlock()
		return fmt.Errorf("%w: force-cancelling an actor task is not supported (kill the actor instead)", ErrInvalidArgument)
	}
	t.cancelled = true
	cancelled := &proto.ErrorInfo{Kind: proto.ErrKindCancelled, Func: t.spec.Func, Msg: "task " + t.spec.TaskID.String() + " was cancelled"}
	var eff effects
	var conn *rpc.Conn
	switch {
	case t.actor != nil && !t.sent:
		t.actor.remove(t)
		eff = rt.finishLocked(t, nil, cancelled)
	case t.actor != nil:
		conn = t.actor.conn
	case t.lease == nil:
		for _, c := range rt.classes {
			for i, q := range c.queue {
				if q == t {
					c.queue = append(c.queue[:i], c.queue[i+1:]...)
					break
				}
			}
		}
		eff = rt.finishLocked(t, nil, cancelled)
	default:
		conn = t.lease.conn
	}
	rt.mu.Unlock()
	eff.run(rt)
	if conn != nil {
		return conn.Send(proto.WorkerCancelTask, proto.MustMarshal(&proto.CancelTask{TaskID: t.spec.TaskID, Force: force}))
	}
	return nil
}
