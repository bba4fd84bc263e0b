package core

import (
	"context"
	"fmt"
	"math"
	"os"
	"reflect"
	"runtime"
	"runtime/debug"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/goray/ray/internal/ids"
	"github.com/goray/ray/internal/proto"
	"github.com/goray/ray/internal/rpc"
)

// TaskContext is what a running task knows about itself (ray's runtime
// context).
type TaskContext struct {
	JobID    ids.JobID
	NodeID   ids.NodeID
	WorkerID ids.WorkerID
	TaskID   ids.TaskID
	ActorID  ids.ActorID
	Attempt  int
	Func     string

	queue *taskQueue // the owner queue the task runs from, if any
}

type taskCtxKey struct{}

// TaskContextFrom returns the task context stored in ctx, if any.
func TaskContextFrom(ctx context.Context) (*TaskContext, bool) {
	tc, ok := ctx.Value(taskCtxKey{}).(*TaskContext)
	return tc, ok
}

// executor runs tasks pushed to this worker and hosts its actor, if any.
type executor struct {
	rt      *Runtime
	mu      sync.Mutex
	running map[ids.TaskID]context.CancelFunc
	actor   *hostedActor
	queues  map[*rpc.Conn]*taskQueue
	// early holds cancellations of tasks that were queued here (pipelined)
	// but had not started: they are skipped when their turn comes.
	early map[ids.TaskID]bool
	procs atomic.Int32 // GOMAXPROCS last set by sizeProcs
}

type hostedActor struct {
	id   ids.ActorID
	inst any
	// calls run one at a time, in arrival order (MaxConcurrency 1), or
	// up to sem's capacity at once.
	calls *taskQueue
	sem   chan struct{}
}

func (e *executor) init(rt *Runtime) {
	e.rt = rt
	e.running = make(map[ids.TaskID]context.CancelFunc)
	e.queues = make(map[*rpc.Conn]*taskQueue)
	e.early = make(map[ids.TaskID]bool)
}

func (e *executor) busy() bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return len(e.running) > 0 || e.actor != nil
}

func (e *executor) push(c *rpc.Conn, reqID uint64, spec *proto.TaskSpec) {
	switch {
	case spec.ActorCreation:
		go e.createActor(c, reqID, spec)
	case !spec.ActorID.IsZero():
		e.actorCall(c, reqID, spec)
	default:
		e.queueFor(c).push(func(q *taskQueue) {
			reply := e.run(spec, q, func(ctx context.Context, args []Arg) (any, error) {
				f, ok := e.rt.reg.Func(spec.Func)
				if !ok {
					return nil, fmt.Errorf("%w: %s is not registered in this binary", ErrUnknownFunction, spec.Func)
				}
				return f.Invoke(ctx, args)
			})
			q.reply(c, reqID, proto.MustMarshal(reply))
		})
	}
}

// taskQueue runs one owner connection's tasks in arrival order on one
// long-lived goroutine: a lease gives the worker to one owner, whose tasks
// run one after another anyway, and a warm goroutine saves the start-up
// and stack growth a goroutine per task costs.
type taskQueue struct {
	mu    sync.Mutex
	tasks []func(*taskQueue)
	wake  chan struct{}
	// blocked counts this queue's running tasks that wait in Get: while
	// any does, tasks pushed behind it get a goroutine of their own, since
	// the blocked task may be waiting for them.
	blocked int
	// held lists the connections corked by reply: while more tasks are
	// queued, replies wait to go out together, until the queue is empty or
	// replyHold has passed since the first of them (flushTimer).
	held       []*rpc.Conn
	flushTimer *time.Timer
}

// replyHold bounds how long a finished task's reply may wait for the tasks
// queued behind it, so that a long task does not delay the replies of the
// short ones before it by more than this.
const replyHold = 100 * time.Microsecond

// reply sends a task's reply on c; with more tasks queued it holds the
// reply back to go out with theirs (one write for a pipelined batch).
func (q *taskQueue) reply(c *rpc.Conn, reqID uint64, payload []byte) {
	if q == nil {
		c.Reply(reqID, payload)
		return
	}
	q.mu.Lock()
	if len(q.tasks) > 0 && q.blocked == 0 && !slices.Contains(q.held, c) {
		c.Cork()
		q.held = append(q.held, c)
		if len(q.held) == 1 {
			if q.flushTimer == nil {
				q.flushTimer = time.AfterFunc(replyHold, q.flush)
			} else {
				q.flushTimer.Reset(replyHold)
			}
		}
	}
	q.mu.Unlock()
	c.Reply(reqID, payload)
}

// flush sends the replies reply held back.
func (q *taskQueue) flush() {
	q.mu.Lock()
	held := q.held
	q.held = nil
	if q.flushTimer != nil && len(held) > 0 {
		q.flushTimer.Stop()
	}
	q.mu.Unlock()
	for _, c := range held {
		c.Uncork()
	}
}

// block and unblock bracket a task of q waiting in Get.
func (q *taskQueue) block() {
	q.mu.Lock()
	q.blocked++
	waiting := len(q.tasks) > 0
	held := len(q.held) > 0
	q.mu.Unlock()
	if held {
		q.flush() // what it waits for may need those replies
	}
	if waiting {
		go q.drain()
	}
}

func (q *taskQueue) unblock() {
	q.mu.Lock()
	q.blocked--
	q.mu.Unlock()
}

func (e *executor) queueFor(c *rpc.Conn) *taskQueue {
	e.mu.Lock()
	defer e.mu.Unlock()
	q, ok := e.queues[c]
	if !ok {
		q = newTaskQueue(c.Done())
		e.queues[c] = q
		go func() {
			<-c.Done()
			e.mu.Lock()
			delete(e.queues, c)
			e.mu.Unlock()
		}()
	}
	return q
}

// newTaskQueue starts a queue's goroutine, which ends when done closes
// (never, for a nil done).
func newTaskQueue(done <-chan struct{}) *taskQueue {
	q := &taskQueue{wake: make(chan struct{}, 1)}
	go func() {
		for {
			select {
			case <-q.wake:
				q.drain()
			case <-done:
				return
			}
		}
	}()
	return q
}

func (q *taskQueue) push(f func(*taskQueue)) {
	q.mu.Lock()
	q.tasks = append(q.tasks, f)
	helper := q.blocked > 0
	q.mu.Unlock()
	if helper {
		go q.drain()
		return
	}
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

// unstickQueues gives every owner queue with tasks waiting an extra
// goroutine: a task blocked in Get must not hold back tasks pushed behind
// it (they may be what it waits for). Its CPU was lent to the node while it
// waits, as for any blocked task.
func (e *executor) unstickQueues() {
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, q := range e.queues {
		q.mu.Lock()
		waiting := len(q.tasks) > 0
		q.mu.Unlock()
		if waiting {
			go q.drain()
		}
	}
}

func (q *taskQueue) drain() {
	for {
		q.mu.Lock()
		if len(q.tasks) == 0 {
			held := len(q.held) > 0
			q.mu.Unlock()
			if held {
				q.flush()
			}
			return
		}
		f := q.tasks[0]
		q.tasks[0] = nil
		q.tasks = q.tasks[1:]
		q.mu.Unlock()
		f(q)
	}
}

func (e *executor) cancel(id ids.TaskID, force bool) {
	e.mu.Lock()
	cancel, ok := e.running[id]
	if !ok {
		// A cancel can also arrive just after its task finished here; bound
		// what such strays can hold.
		if len(e.early) > 4096 {
			clear(e.early)
		}
		e.early[id] = true
	}
	e.mu.Unlock()
	if !ok {
		return
	}
	if force {
		// Ray's force=True kills the worker process; the owner sees the
		// connection drop and reports ErrTaskCancelled.
		fmt.Fprintf(os.Stderr, "goray: task %s force-cancelled; worker exiting\n", id)
		os.Exit(1)
	}
	cancel()
}

type invokeFunc func(ctx context.Context, args []Arg) (any, error)

// sizeProcs gives a worker as many Go Ps as its task has CPUs (at least
// one). A worker runs one task at a time, like Ray's; with one P the
// hand-offs between its read loop and its executor cost nothing, which
// halves a task's round trip on a small machine. An actor with
// MaxConcurrency > 1 keeps at least that many. GOMAXPROCS set by the user
// in the environment wins.
func (e *executor) sizeProcs(spec *proto.TaskSpec) {
	if userProcs {
		return
	}
	want := int(math.Ceil(spec.Resources["CPU"]))
	if spec.MaxConcurrency > want {
		want = spec.MaxConcurrency
	}
	want = max(1, min(want, runtime.NumCPU()))
	if e.procs.Load() != int32(want) && (spec.ActorID.IsZero() || spec.ActorCreation) {
		e.procs.Store(int32(want))
		runtime.GOMAXPROCS(want)
	}
}

var userProcs = os.Getenv("GOMAXPROCS") != ""

// run executes one task or actor call and builds its reply.
func (e *executor) run(spec *proto.TaskSpec, q *taskQueue, invoke invokeFunc) *proto.TaskReply {
	rt := e.rt
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	e.mu.Lock()
	if e.early[spec.TaskID] {
		delete(e.early, spec.TaskID)
		e.mu.Unlock()
		return &proto.TaskReply{WorkerPID: os.Getpid(), Err: &proto.ErrorInfo{Kind: proto.ErrKindCancelled, Func: spec.Func, Msg: "cancelled before it started"}}
	}
	e.running[spec.TaskID] = cancel
	e.mu.Unlock()
	defer func() {
		e.mu.Lock()
		delete(e.running, spec.TaskID)
		e.mu.Unlock()
	}()
	e.sizeProcs(spec)
	ctx = context.WithValue(ctx, taskCtxKey{}, &TaskContext{
		JobID: spec.JobID, NodeID: rt.nodeID, WorkerID: rt.self.WorkerID, TaskID: spec.TaskID,
		ActorID: spec.ActorID, Attempt: spec.Attempt, Func: spec.Func, queue: q,
	})
	reply := &proto.TaskReply{WorkerPID: os.Getpid()}
	args := make([]Arg, len(spec.Args))
	// Locate every ref argument first, so that the fetches from their
	// owners overlap instead of costing a round trip each.
	var located []*object
	var private []bool
	for i, a := range spec.Args {
		if a.Ref == nil {
			continue
		}
		if located == nil {
			located = make([]*object, len(spec.Args))
			private = make([]bool, len(spec.Args))
		}
		o, priv, err := rt.locate(*a.Ref, false)
		if err != nil {
			reply.Err = e.errInfo(spec, proto.ErrKindSystem, fmt.Errorf("resolving argument %d: %w", i+1, err))
			return reply
		}
		located[i], private[i] = o, priv
	}
	for i, a := range spec.Args {
		if a.Ref == nil {
			// The spec was decoded for this execution alone.
			args[i] = Arg{Data: a.Data, Owned: true}
			continue
		}
		o, err := rt.awaitObject(ctx, located[i])
		if err != nil {
			reply.Err = e.errInfo(spec, proto.ErrKindSystem, fmt.Errorf("resolving argument %d: %w", i+1, err))
			return reply
		}
		if o.err != nil {
			reply.Err = o.err // a failed dependency fails this task the same way
			return reply
		}
		arg, err := rt.argOf(a.Ref.ID, o)
		if err != nil {
			reply.Err = e.errInfo(spec, proto.ErrKindObjectLost, err)
			return reply
		}
		arg.Owned = private[i] && !arg.View
		args[i] = arg
	}
	result, err, panicked, stack := callSafely(ctx, invoke, args)
	if err != nil {
		kind := proto.ErrKindApp
		if panicked {
			kind = proto.ErrKindPanic
		}
		reply.Err = e.errInfo(spec, kind, err)
		reply.Err.Stack = stack
		return reply
	}
	values := []any{result}
	if spec.ReturnsAsSlice {
		rv := reflect.ValueOf(result)
		if rv.Kind() != reflect.Slice || rv.Len() != spec.NumReturns {
			n := -1
			if rv.Kind() == reflect.Slice {
				n = rv.Len()
			}
			reply.Err = e.errInfo(spec, proto.ErrKindSystem, fmt.Errorf("%w: NumReturns(%d) but the function returned %d values", ErrInvalidArgument, spec.NumReturns, n))
			return reply
		}
		values = make([]any, rv.Len())
		for i := range values {
			values[i] = rv.Index(i).Interface()
		}
	} else if spec.NumReturns == 0 {
		values = nil
	}
	inlined := 0
	var writes []*storeWrite
	for i, v := range values {
		id := ids.ReturnID(spec.TaskID, i)
		contained := collectRefs(v)
		if len(contained) > 0 {
			if err := rt.holdContained(ctx, contained, spec.Owner.WorkerID); err != nil {
				reply.Err = e.errInfo(spec, proto.ErrKindSystem, err)
				return reply
			}
		}
		o, w, err := rt.encodeDeferred(id, v, inlined >= taskInlineLimit)
		if err != nil {
			reply.Err = e.errInfo(spec, proto.ErrKindSystem, fmt.Errorf("result %d: %w", i, err))
			return reply
		}
		if w != nil {
			writes = append(writes, w)
		}
		inlined += len(o.data)
		reply.Returns = append(reply.Returns, proto.ReturnObj{ID: id, Data: o.data, InStore: o.inStore, Size: o.size, NodeID: o.node, Contained: contained})
	}
	if err := rt.writeStoreMany(ctx, writes); err != nil {
		kind := proto.ErrKindSystem
		if isFull(err) {
			kind = proto.ErrKindStoreFull
		}
		reply.Returns = nil
		reply.Err = e.errInfo(spec, kind, fmt.Errorf("results: %w", err))
	}
	return reply
}

func isFull(err error) bool {
	for e := err; e != nil; {
		if e == ErrObjectStoreFull {
			return true
		}
		u, ok := e.(interface{ Unwrap() error })
		if !ok {
			return false
		}
		e = u.Unwrap()
	}
	return false
}

func (e *executor) errInfo(spec *proto.TaskSpec, kind uint8, err error) *proto.ErrorInfo {
	info := infoFromError(kind, spec.Func, err)
	info.PID = os.Getpid()
	info.NodeID = e.rt.nodeID
	return info
}

// callSafely calls invoke, turning a panic into an error with its stack.
func callSafely(ctx context.Context, invoke invokeFunc, args []Arg) (result any, err error, panicked bool, stack string) {
	defer func() {
		if r := recover(); r != nil {
			panicked = true
			stack = string(debug.Stack())
			if re, ok := r.(error); ok {
				err = re
			} else {
				err = fmt.Errorf("%v", r)
			}
		}
	}()
	result, err = invoke(ctx, args)
	return result, err, false, ""
}

func (e *executor) createActor(c *rpc.Conn, reqID uint64, spec *proto.TaskSpec) {
	var inst any
	reply := e.run(spec, nil, func(ctx context.Context, args []Arg) (any, error) {
		at, ok := e.rt.reg.Actor(spec.Func)
		if !ok {
			return nil, fmt.Errorf("%w: actor type %s is not registered in this binary", ErrUnknownFunction, spec.Func)
		}
		v, err := at.New(ctx, args)
		inst = v
		return nil, err
	})
	reply.Returns = nil
	if reply.Err == nil {
		a := &hostedActor{id: spec.ActorID, inst: inst}
		if spec.MaxConcurrency > 1 {
			a.sem = make(chan struct{}, spec.MaxConcurrency)
		} else {
			a.calls = newTaskQueue(nil) // the worker lives for the actor
		}
		e.mu.Lock()
		e.actor = a
		e.mu.Unlock()
	}
	c.Reply(reqID, proto.MustMarshal(reply))
}

// actorCall queues a method call. It runs on the connection's read
// goroutine, so calls from one caller queue in the order they were sent.
func (e *executor) actorCall(c *rpc.Conn, reqID uint64, spec *proto.TaskSpec) {
	e.mu.Lock()
	a := e.actor
	e.mu.Unlock()
	if a == nil || a.id != spec.ActorID {
		c.Reply(reqID, proto.MustMarshal(&proto.TaskReply{Err: &proto.ErrorInfo{Kind: proto.ErrKindActorDied,
			Func: spec.Func, Msg: "this worker does not host actor " + spec.ActorID.String()}}))
		return
	}
	call := func(q *taskQueue) {
		reply := e.run(spec, nil, func(ctx context.Context, args []Arg) (any, error) {
			m, ok := e.rt.reg.Method(spec.Func)
			if !ok {
				return nil, fmt.Errorf("%w: method %s is not registered in this binary", ErrUnknownFunction, spec.Func)
			}
			return m.Invoke(ctx, a.inst, args)
		})
		q.reply(c, reqID, proto.MustMarshal(reply))
	}
	if a.sem != nil {
		go func() {
			a.sem <- struct{}{}
			defer func() { <-a.sem }()
			call(nil)
		}()
		return
	}
	a.calls.push(call)
}
