package core

import (
	"context"
	"fmt"
	"github.com/goray/ray/internal/session"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/goray/ray/internal/ids"
	"github.com/goray/ray/internal/proto"
	"github.com/goray/ray/internal/rpc"
)

// DefaultInlineLimit is the largest value that travels inside messages;
// larger values go through the shared-memory store (Ray's
// max_direct_call_object_size, 100 KiB).
const DefaultInlineLimit = 100 << 10

// Config configures one process's runtime.
type Config struct {
	IsWorker   bool
	WorkerID   ids.WorkerID
	NodeAddr   string // the node's rpc address
	Token      string
	SessionDir string
	Namespace  string
	Registry   *Registry
	// InlineLimit overrides DefaultInlineLimit (tests).
	InlineLimit int
	// Job is the driver's job, registered with its node in cluster mode.
	Job *proto.JobInfo
	// LeaseIdle is how long an owner keeps an idle lease for reuse.
	LeaseIdle time.Duration
	Logger    *slog.Logger
}

// Runtime is one process's core worker: it owns objects, submits tasks,
// executes tasks (in workers) and serves its owned objects to borrowers.
//
// Lock order: Runtime.mu is taken alone; nothing blocking (no rpc call or
// socket write, no channel send that can block) happens while holding it.
// Each method that changes state under mu collects the resulting effects
// and performs them after unlocking.
type Runtime struct {
	cfg    Config
	reg    *Registry
	self   proto.Address
	nodeID ids.NodeID
	jobID  ids.JobID
	store  string // the node's store directory
	// nodeAddr is the node's cluster address ("" when embedded).
	nodeAddr string
	inline   int
	log      *slog.Logger

	ln    *rpc.Listener
	node  *rpc.Conn
	tasks *ids.TaskIDGen

	mu      sync.Mutex
	refs    *RefCounter
	objects map[ids.ObjectID]*object
	// objectsPeak rebuilds objects when a burst has come and gone.
	objectsPeak shrinker
	conns       map[string]*peerConn
	classes     map[string]*schedClass
	actors      map[ids.ActorID]*actorClient
	leaseSeq    uint64
	closed      bool

	exec executor
	// ready is closed once New has finished: requests that arrive earlier
	// (a lease can be granted the moment the node registers us) wait.
	ready chan struct{}

	// storeCap and storedSinceGC drive collections under store pressure:
	// dropped Refs are only found by the Go GC, and they are too small to
	// make it run on their own.
	storeCap      int64
	storedSinceGC atomic.Int64

	blockMu sync.Mutex
	blocked int

	// spillTries counts retries of lease requests whose spill target was
	// unreachable.
	spillTries map[uint64]int
	// epoch is closed and replaced whenever an object completes while
	// waiters (Wait calls) are in progress.
	epoch   chan struct{}
	waiters int
}

type peerConn struct {
	ready chan struct{}
	conn  *rpc.Conn
	err   error
}

// New starts a runtime: it listens on its own socket, connects to its node
// and (for workers) registers. The caller serves until Close.
func New(ctx context.Context, cfg Config) (*Runtime, error) {
	if cfg.Registry == nil {
		cfg.Registry = Default
	}
	if cfg.InlineLimit == 0 {
		cfg.InlineLimit = DefaultInlineLimit
	}
	if cfg.LeaseIdle == 0 {
		cfg.LeaseIdle = 20 * time.Millisecond
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.WorkerID.IsZero() {
		cfg.WorkerID = ids.NewWorkerID()
	}
	rt := &Runtime{
		cfg: cfg, reg: cfg.Registry, inline: cfg.InlineLimit, log: cfg.Logger,
		tasks: ids.NewTaskIDGen(), refs: NewRefCounter(),
		objects: make(map[ids.ObjectID]*object), conns: make(map[string]*peerConn),
		classes: make(map[string]*schedClass),
		actors:  make(map[ids.ActorID]*actorClient), ready: make(chan struct{}), spillTries: map[uint64]int{}, epoch: make(chan struct{}),
	}
	rt.exec.init(rt)
	sockDir := session.SocketDir(cfg.SessionDir)
	if err := os.MkdirAll(sockDir, 0o700); err != nil {
		return nil, fmt.Errorf("ray: socket dir: %w", err)
	}
	ln, err := rpc.Listen("unix:"+filepath.Join(sockDir, "w-"+cfg.WorkerID.String()[:12]), cfg.Token)
	if err != nil {
		return nil, err
	}
	rt.ln = ln
	rt.self = proto.Address{WorkerID: cfg.WorkerID, Addr: ln.Addr()}
	go ln.Serve(func(c *rpc.Conn) rpc.Handler { return rt })

	node, err := rpc.Dial(ctx, cfg.NodeAddr, cfg.Token, rt)
	if err != nil {
		ln.Close()
		return nil, fmt.Errorf("ray: connect to node: %w", err)
	}
	rt.node = node
	b, err := node.Call(ctx, proto.NodeRegisterWorker, proto.MustMarshal(&proto.RegisterWorker{
		WorkerID: cfg.WorkerID, PID: os.Getpid(), Addr: ln.Addr(), RegistryHash: rt.reg.Hash(),
		Platform: runtime.GOOS + "/" + runtime.GOARCH, IsDriver: !cfg.IsWorker, Job: cfg.Job,
	}))
	if err != nil {
		rt.Close()
		return nil, fmt.Errorf("ray: register with node: %w", err)
	}
	var reply proto.RegisterWorkerReply
	if err := proto.Unmarshal(b, &reply); err != nil {
		rt.Close()
		return nil, err
	}
	rt.nodeID, rt.jobID, rt.store, rt.storeCap = reply.NodeID, reply.JobID, reply.StoreDir, reply.StoreCapacity
	rt.self.NodeID = reply.NodeID
	if reply.NodeAddr != "" {
		// Cluster mode: peers on other nodes reach us through our node's
		// port; peers on ours take the socket directly (see conn).
		rt.nodeAddr = reply.NodeAddr
		rt.self.Addr = rpc.RoutedAddr(reply.NodeAddr, "w/"+cfg.WorkerID.String())
	}
	SetCurrent(rt)
	close(rt.ready)
	return rt, nil
}

// Self is this process's address.
func (rt *Runtime) Self() proto.Address { return rt.self }

// NodeID, JobID and WorkerID identify the process.
func (rt *Runtime) NodeID() ids.NodeID     { return rt.nodeID }
func (rt *Runtime) JobID() ids.JobID       { return rt.jobID }
func (rt *Runtime) WorkerID() ids.WorkerID { return rt.cfg.WorkerID }

// IsWorker reports whether this is a worker process.
func (rt *Runtime) IsWorker() bool { return rt.cfg.IsWorker }

// Namespace is the job's namespace for named actors.
func (rt *Runtime) Namespace() string { return rt.cfg.Namespace }

// Registry is the registry this runtime executes from.
func (rt *Runtime) Registry() *Registry { return rt.reg }

// NodeDone is closed when the connection to the node is lost.
func (rt *Runtime) NodeDone() <-chan struct{} { return rt.node.Done() }

// Close disconnects the runtime. Pending work fails.
func (rt *Runtime) Close() {
	rt.mu.Lock()
	if rt.closed {
		rt.mu.Unlock()
		return
	}
	rt.closed = true
	conns := rt.conns
	rt.conns = map[string]*peerConn{}
	rt.mu.Unlock()
	rt.ln.Close()
	if rt.node != nil {
		rt.node.Close()
	}
	for _, pc := range conns {
		select {
		case <-pc.ready:
			if pc.conn != nil {
				pc.conn.Close()
			}
		default:
		}
	}
}

// conn returns a connection to a peer's core worker service, dialing once.
func (rt *Runtime) conn(ctx context.Context, addr string) (*rpc.Conn, error) {
	addr = rt.localize(addr)
	rt.mu.Lock()
	pc, ok := rt.conns[addr]
	if ok {
		rt.mu.Unlock()
		select {
		case <-pc.ready:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		if pc.err == nil && pc.conn.Err() == nil {
			return pc.conn, nil
		}
		rt.mu.Lock()
		if rt.conns[addr] == pc {
			delete(rt.conns, addr)
		}
		rt.mu.Unlock()
		if pc.err != nil {
			return nil, pc.err
		}
		return nil, pc.conn.Err()
	}
	if rt.closed {
		rt.mu.Unlock()
		return nil, ErrNotInitialized
	}
	pc = &peerConn{ready: make(chan struct{})}
	rt.conns[addr] = pc
	rt.mu.Unlock()
	dctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	pc.conn, pc.err = rpc.Dial(dctx, addr, rt.cfg.Token, rt)
	cancel()
	close(pc.ready)
	if pc.err != nil {
		rt.mu.Lock()
		if rt.conns[addr] == pc {
			delete(rt.conns, addr)
		}
		rt.mu.Unlock()
		return nil, pc.err
	}
	return pc.conn, nil
}

// Handle serves the core worker service (rpc.Handler).
func (rt *Runtime) Handle(c *rpc.Conn, kind, method byte, reqID uint64, payload []byte) {
	select {
	case <-rt.ready:
	default:
		select {
		case <-rt.ready:
		case <-c.Done():
			return
		}
	}
	switch method {
	case proto.WorkerPushTask:
		var spec proto.TaskSpec
		if err := proto.Unmarshal(payload, &spec); err != nil {
			c.ReplyError(reqID, err)
			return
		}
		rt.exec.push(c, reqID, &spec)
	case proto.WorkerCancelTask:
		var m proto.CancelTask
		if proto.Unmarshal(payload, &m) == nil {
			rt.exec.cancel(m.TaskID, m.Force)
		}
	case proto.WorkerGetObject:
		var m proto.GetObject
		if err := proto.Unmarshal(payload, &m); err != nil {
			c.ReplyError(reqID, err)
			return
		}
		rt.serveGetObject(c, reqID, m.ID)
	case proto.WorkerAddRef:
		var m proto.RefUpdate
		if err := proto.Unmarshal(payload, &m); err != nil {
			if kind == rpc.KindRequest {
				c.ReplyError(reqID, err)
			}
			return
		}
		missing := rt.addRemoteRefs(m.IDs, m.Holder)
		if kind == rpc.KindRequest {
			if missing != nil {
				c.ReplyError(reqID, fmt.Errorf("%w: %s is no longer owned here", ErrObjectLost, missing))
			} else {
				c.Reply(reqID, nil)
			}
		}
	case proto.WorkerRemoveRef:
		var m proto.RefUpdate
		if proto.Unmarshal(payload, &m) == nil {
			rt.removeRemoteRefs(m.IDs, m.Holder)
		}
	case proto.WorkerExit:
		// The node reaps an idle worker. A worker that owns live objects
		// stays: its borrowers still need it (as in Ray).
		rt.mu.Lock()
		owned := rt.refs.NumOwned()
		rt.mu.Unlock()
		if owned > 0 || rt.exec.busy() {
			c.ReplyError(reqID, fmt.Errorf("worker busy: owns %d objects", owned))
			return
		}
		c.Reply(reqID, nil)
		go func() {
			time.Sleep(10 * time.Millisecond)
			runExitHooks()
			os.Exit(0)
		}()
	default:
		if kind == rpc.KindRequest {
			c.ReplyError(reqID, fmt.Errorf("core worker: unknown method %d", method))
		}
	}
}

// setBlocked tells the node that this worker waits in Get (so its CPU can
// run other tasks), or no longer does. Calls nest.
func (rt *Runtime) setBlocked(b bool) {
	if !rt.cfg.IsWorker {
		return
	}
	rt.blockMu.Lock()
	defer rt.blockMu.Unlock()
	if b {
		rt.blocked++
		if rt.blocked == 1 {
			rt.node.Send(proto.NodeWorkerBlocked, nil)
		}
	} else {
		rt.blocked--
		if rt.blocked == 0 {
			rt.node.Send(proto.NodeWorkerUnblocked, nil)
		}
	}
}

// localize turns a routed address of a process on this node into its Unix
// socket, skipping the hop through the node's port.
func (rt *Runtime) localize(addr string) string {
	if rt.nodeAddr == "" {
		return addr
	}
	prefix := "tcp:" + rt.nodeAddr + "/w/"
	if !strings.HasPrefix(addr, prefix) {
		return addr
	}
	id := addr[len(prefix):]
	if len(id) < 12 {
		return addr
	}
	path := filepath.Join(session.SocketDir(rt.cfg.SessionDir), "w-"+id[:12])
	if _, err := os.Stat(path); err != nil {
		return addr // e.g. a driver, whose socket lives in its own session
	}
	return "unix:" + path
}

// nodeConn is a connection to a node's service: ours, or another by its
// cluster address.
func (rt *Runtime) nodeConn(ctx context.Context, addr string) (*rpc.Conn, error) {
	if addr == "" || addr == rt.nodeAddr {
		return rt.node, nil
	}
	return rt.conn(ctx, "tcp:"+addr)
}

var exitHooks struct {
	sync.Mutex
	fs []func()
}

// OnExit registers f to run when the node reaps this worker, just before
// the process exits.
func OnExit(f func()) {
	exitHooks.Lock()
	exitHooks.fs = append(exitHooks.fs, f)
	exitHooks.Unlock()
}

func runExitHooks() {
	exitHooks.Lock()
	fs := exitHooks.fs
	exitHooks.Unlock()
	for _, f := range fs {
		f()
	}
}
