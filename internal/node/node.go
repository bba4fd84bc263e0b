package node

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"github.com/goray/ray/internal/session"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/goray/ray/internal/gcs"
	"github.com/goray/ray/internal/ids"
	"github.com/goray/ray/internal/objstore"
	"github.com/goray/ray/internal/proto"
	"github.com/goray/ray/internal/resources"
	"github.com/goray/ray/internal/rpc"
)

// Environment variables a node sets for the workers it starts.
const (
	EnvWorker     = "GORAY_WORKER"
	EnvWorkerID   = "GORAY_WORKER_ID"
	EnvNodeAddr   = "GORAY_NODE_ADDR"
	EnvToken      = "GORAY_TOKEN"
	EnvSessionDir = "GORAY_SESSION_DIR"
	EnvNamespace  = "GORAY_NAMESPACE"
	// EnvWorkerCPUProfile, when set (inherited from the node's
	// environment), names a directory where each worker writes a CPU
	// profile, worker-<pid>.cpu.prof, when it exits: a diagnosis aid for
	// the hot paths that run in workers.
	EnvWorkerCPUProfile = "GORAY_WORKER_CPUPROFILE"
)

// ErrRegistryMismatch: a worker's registrations differ from the driver's.
var ErrRegistryMismatch = errors.New("ray: worker binary does not match the driver's registry")

// Config configures a node.
type Config struct {
	SessionDir        string
	Resources         resources.Set
	ObjectStoreMemory int64
	StoreDir          string // default /dev/shm/goray-<node>
	StoreGrace        time.Duration
	Token             string
	JobID             ids.JobID
	Namespace         string
	Executable        string // the worker binary (the driver's own)
	RegistryHash      string // workers must match it
	// Stdout and Stderr receive workers' output lines, prefixed (pid=N).
	Stdout, Stderr io.Writer
	Logger         *slog.Logger

	// Cluster mode. ListenAddr ("ip:port", port 0 picks one) is the node's
	// one TCP port for all cluster traffic; empty for the embedded
	// single-process cluster. The head runs the GCS; other nodes join the
	// head at HeadAddr.
	ListenAddr string
	IsHead     bool
	HeadAddr   string
	Labels     map[string]string
	System     SystemConfig
}

// Node is a node manager: worker pool, leases, the object store, and on
// the head the GCS.
//
// Lock order: Node.mu, then nothing (the scheduler and maps it guards are
// plain data; processes are started, signalled and answered outside it).
type Node struct {
	cfg   Config
	id    ids.NodeID
	ln    *rpc.Listener
	store *objstore.Store
	gcs   *gcs.GCS
	log   *slog.Logger

	mu         sync.Mutex
	sched      *Scheduler
	procs      map[ids.WorkerID]*proc
	connWkr    map[*rpc.Conn]ids.WorkerID // registered workers' node connections
	leaseOwn   map[uint64]*rpc.Conn       // which connection holds each lease
	stopping   bool
	jobs       map[ids.JobID]*job
	drivers    map[ids.WorkerID]string // drivers' local sockets, for routing
	driverOf   map[*rpc.Conn]ids.JobID // drivers' node connections
	driverJobs map[ids.WorkerID]ids.JobID
	view       []proto.NodeInfo          // the cluster, as of the last heartbeat
	peers      map[string]*rpc.Conn      // other nodes' services
	pulls      map[ids.ObjectID]*pull    // objects being copied here
	holders    map[ids.ObjectID][]string // nodes holding copies of our objects
	rr         int                       // SPREAD round robin

	tcp     *rpc.Listener // cluster mode: the node's one port
	tcpAddr string
	head    *rpc.Conn // non-head nodes: the head's service

	// quiet stops forwarding worker output to the terminal once stopping:
	// workers killed mid-start would only print noise.
	quiet     atomic.Bool
	pullsDone atomic.Int64 // objects copied here from other nodes
	wg        sync.WaitGroup
	stop      chan struct{}
}

type proc struct {
	id        ids.WorkerID
	job       ids.JobID
	cmd       *exec.Cmd
	pid       int
	localAddr string // the worker's Unix socket
	exited    chan struct{}
}

// Start creates the store, listens on the node socket and starts serving.
func Start(cfg Config) (*Node, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Stdout == nil {
		cfg.Stdout = io.Discard
	}
	if cfg.Stderr == nil {
		cfg.Stderr = io.Discard
	}
	n := &Node{cfg: cfg, id: ids.NewNodeID(), log: cfg.Logger,
		procs: map[ids.WorkerID]*proc{}, connWkr: map[*rpc.Conn]ids.WorkerID{}, leaseOwn: map[uint64]*rpc.Conn{},
		jobs: map[ids.JobID]*job{}, drivers: map[ids.WorkerID]string{}, driverOf: map[*rpc.Conn]ids.JobID{}, driverJobs: map[ids.WorkerID]ids.JobID{},
		peers: map[string]*rpc.Conn{}, pulls: map[ids.ObjectID]*pull{}, holders: map[ids.ObjectID][]string{},
		stop: make(chan struct{})}
	if cfg.System == (SystemConfig{}) {
		cfg.System = DefaultSystemConfig()
		n.cfg.System = cfg.System
	}
	if cfg.StoreDir == "" {
		base := "/dev/shm"
		if st, err := os.Stat(base); err != nil || !st.IsDir() {
			base = os.TempDir()
		}
		sweepStaleStores(base)
		cfg.StoreDir = filepath.Join(base, fmt.Sprintf("goray-%s-%d", n.id.String()[:12], os.Getpid()))
		n.cfg.StoreDir = cfg.StoreDir
	}
	for _, d := range []string{filepath.Join(cfg.SessionDir, "logs"), session.SocketDir(cfg.SessionDir)} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return nil, fmt.Errorf("node: %w", err)
		}
	}
	st, err := objstore.Open(objstore.Config{Dir: cfg.StoreDir, Capacity: cfg.ObjectStoreMemory, FullGracePeriod: cfg.StoreGrace})
	if err != nil {
		return nil, fmt.Errorf("node: object store: %w", err)
	}
	n.store = st
	n.sched = NewScheduler(cfg.Resources, ids.NewWorkerID)
	n.gcs = gcs.New(n)
	ln, err := rpc.Listen("unix:"+filepath.Join(session.SocketDir(cfg.SessionDir), "node-"+n.id.String()[:12]), cfg.Token)
	if err != nil {
		st.Close()
		return nil, err
	}
	n.ln = ln
	go ln.Serve(func(c *rpc.Conn) rpc.Handler {
		go func() { <-c.Done(); n.connClosed(c) }()
		return n
	})
	if cfg.Executable != "" {
		// Embedded: the driver's job is known from the start.
		n.addJob(proto.JobInfo{JobID: cfg.JobID, RegistryHash: cfg.RegistryHash, Namespace: cfg.Namespace, Platform: platform()}, cfg.Executable)
	}
	if cfg.ListenAddr != "" {
		if err := n.startCluster(); err != nil {
			ln.Close()
			st.Close()
			return nil, err
		}
	}
	n.wg.Add(1)
	go n.reapLoop()
	return n, nil
}

// Done is closed once the node has stopped (Close, or fail-stop after the
// head declared it dead), so the process hosting it can exit.
func (n *Node) Done() <-chan struct{} { return n.stop }

// ID is the node's ID; Addr its rpc address; StoreDir its store directory.
func (n *Node) ID() ids.NodeID         { return n.id }
func (n *Node) Addr() string           { return n.ln.Addr() }
func (n *Node) StoreDir() string       { return n.cfg.StoreDir }
func (n *Node) GCS() *gcs.GCS          { return n.gcs }
func (n *Node) Store() *objstore.Store { return n.store }

// Status reports the node's resources and queues.
func (n *Node) Status() proto.NodeStatusReply {
	n.mu.Lock()
	defer n.mu.Unlock()
	w, idle, pending := n.sched.Counts()
	var inf []map[string]float64
	for _, r := range n.sched.Infeasible() {
		inf = append(inf, r.Floats())
	}
	st := n.store.Stats()
	return proto.NodeStatusReply{NodeID: n.id, Total: n.sched.Total().Floats(), Available: n.sched.Available().Floats(),
		Workers: w, IdleWorkers: idle, PendingLeases: pending, Infeasible: inf,
		StoreUsed: st.Used, StoreCapacity: st.Capacity, StoreObjects: st.NumObjects}
}

// Close kills every worker, removes the store and stops serving.
func (n *Node) Close() error {
	n.mu.Lock()
	if n.stopping {
		n.mu.Unlock()
		return nil
	}
	n.stopping = true
	n.quiet.Store(true)
	procs := make([]*proc, 0, len(n.procs))
	for _, p := range n.procs {
		procs = append(procs, p)
	}
	n.mu.Unlock()
	close(n.stop)
	n.ln.Close()
	if n.tcp != nil {
		n.tcp.Close()
	}
	if n.head != nil {
		n.head.Close()
	}
	n.mu.Lock()
	for _, c := range n.peers {
		c.Close()
	}
	n.mu.Unlock()
	if os.Getenv(EnvWorkerCPUProfile) != "" {
		// Profiling workers write their profile when their node
		// connection closes; give them a moment before the kill.
		n.mu.Lock()
		for c := range n.connWkr {
			c.Close()
		}
		n.mu.Unlock()
		deadline := time.After(2 * time.Second)
	wait:
		for _, p := range procs {
			select {
			case <-p.exited:
			case <-deadline:
				break wait
			}
		}
	}
	for _, p := range procs {
		if p.cmd.Process != nil {
			p.cmd.Process.Signal(syscall.SIGKILL)
		}
	}
	for _, p := range procs {
		select {
		case <-p.exited:
		case <-time.After(5 * time.Second):
		}
	}
	n.wg.Wait()
	return n.store.Close()
}

func (n *Node) reapLoop() {
	defer n.wg.Done()
	t := time.NewTicker(250 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-n.stop:
			return
		case now := <-t.C:
			n.mu.Lock()
			acts := n.sched.Reap(now)
			n.mu.Unlock()
			for _, a := range acts {
				go n.reap(a.Worker, a.Job)
			}
		}
	}
}

// reap asks an idle worker to exit; one that still owns objects refuses and
// goes back to the pool.
func (n *Node) reap(w ids.WorkerID, job ids.JobID) {
	n.mu.Lock()
	var conn *rpc.Conn
	for c, id := range n.connWkr {
		if id == w {
			conn = c
		}
	}
	n.mu.Unlock()
	if conn == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if _, err := conn.Call(ctx, proto.WorkerExit, nil); err != nil {
		n.mu.Lock()
		acts := n.sched.Readd(w, job, time.Now())
		n.mu.Unlock()
		n.do(acts)
	}
}

// do carries out scheduler actions. Called without n.mu.
func (n *Node) do(acts []Action) {
	n.mu.Lock()
	stopping := n.stopping
	n.mu.Unlock()
	if stopping {
		return
	}
	for _, a := range acts {
		switch a.Kind {
		case ActStartWorker:
			// Close waits for starts in progress; the Add is ordered
			// before its Wait by n.mu and the stopping flag.
			n.mu.Lock()
			if n.stopping {
				n.mu.Unlock()
				continue
			}
			n.wg.Add(1)
			n.mu.Unlock()
			go func() {
				defer n.wg.Done()
				n.startWorkerFor(a.Worker, a.Job)
			}()
		case ActGrant:
			n.mu.Lock()
			p := n.procs[a.Worker]
			n.mu.Unlock()
			reply := a.Req.Reply.(replyFunc)
			if p == nil {
				reply(gcs.Grant{}, fmt.Errorf("node: worker vanished"))
				continue
			}
			reply(gcs.Grant{LeaseID: a.Lease, WorkerID: a.Worker, Addr: p.localAddr, PID: p.pid, NodeID: n.id}, nil)
		case ActKillWorker:
			n.kill(a.Worker)
		}
	}
}

// startWorkerFor starts a worker for job once its binary is ready.
func (n *Node) startWorkerFor(w ids.WorkerID, jobID ids.JobID) {
	j := n.jobFor(jobID)
	<-j.ready
	err := j.err
	if err == nil {
		err = n.startWorker(w, j)
	}
	if err != nil {
		{
			n.mu.Lock()
			stopping := n.stopping
			n.sched.WorkerExited(w, time.Now())
			// Retrying would fail the same way: fail the job's waiting requests.
			var failed []*LeaseReq
			if !stopping {
				failed = n.sched.TakeQueued(func(r *LeaseReq) bool { return r.Job != jobID })
			}
			n.mu.Unlock()
			if !stopping {
				n.log.Error("starting worker", "err", err)
			}
			for _, r := range failed {
				r.Reply.(replyFunc)(gcs.Grant{}, err)
			}
		}
	}
}

func (n *Node) kill(w ids.WorkerID) {
	n.mu.Lock()
	p := n.procs[w]
	n.mu.Unlock()
	if p != nil && p.cmd.Process != nil {
		p.cmd.Process.Signal(syscall.SIGKILL)
	}
}

func (n *Node) startWorker(id ids.WorkerID, j *job) error {
	n.mu.Lock()
	if n.stopping {
		n.mu.Unlock()
		return errors.New("node: stopping")
	}
	n.mu.Unlock()
	cmd := exec.Command(j.exe)
	cmd.Env = append(os.Environ(),
		EnvWorker+"=1", EnvWorkerID+"="+id.String(), EnvNodeAddr+"="+n.ln.Addr(),
		EnvToken+"="+n.cfg.Token, EnvSessionDir+"="+n.cfg.SessionDir, EnvNamespace+"="+j.info.Namespace)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Setpgid: true}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return err
	}
	// Pdeathsig is tied to the thread that forks; keep it alive.
	runtime.LockOSThread()
	err = cmd.Start()
	runtime.UnlockOSThread()
	if err != nil {
		return fmt.Errorf("node: start worker %s: %w", j.exe, err)
	}
	p := &proc{id: id, job: j.info.JobID, cmd: cmd, pid: cmd.Process.Pid, exited: make(chan struct{})}
	n.mu.Lock()
	n.procs[id] = p
	n.mu.Unlock()
	logDir := filepath.Join(n.cfg.SessionDir, "logs")
	base := fmt.Sprintf("worker-%s-%d", id.String()[:12], p.pid)
	var pipes sync.WaitGroup
	pipes.Add(2)
	go n.copyLog(&pipes, stdout, filepath.Join(logDir, base+".out"), n.cfg.Stdout, p.pid)
	go n.copyLog(&pipes, stderr, filepath.Join(logDir, base+".err"), n.cfg.Stderr, p.pid)
	n.wg.Add(1)
	go func() {
		defer n.wg.Done()
		pipes.Wait()
		err := cmd.Wait()
		close(p.exited)
		n.workerExited(id, err)
	}()
	return nil
}

// copyLog writes a worker's output to its log file and, prefixed like
// Ray's "(pid=1234) ", to the driver's terminal.
func (n *Node) copyLog(wg *sync.WaitGroup, r io.Reader, path string, term io.Writer, pid int) {
	defer wg.Done()
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		f = nil
	}
	prefix := fmt.Sprintf("(pid=%d) ", pid)
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Bytes()
		if f != nil {
			f.Write(line)
			f.Write([]byte{'\n'})
		}
		if !n.quiet.Load() {
			term.Write([]byte(prefix + string(line) + "\n"))
		}
	}
	if f != nil {
		f.Close()
	}
}

func (n *Node) workerExited(id ids.WorkerID, err error) {
	n.mu.Lock()
	delete(n.procs, id)
	for c, w := range n.connWkr {
		if w == id {
			delete(n.connWkr, c)
		}
	}
	lost, acts := n.sched.WorkerExited(id, time.Now())
	if lost != nil {
		delete(n.leaseOwn, lost.ID)
	}
	stopping := n.stopping
	n.mu.Unlock()
	reason := "exited"
	if err != nil {
		reason = err.Error()
	}
	if !stopping {
		n.gcs.WorkerDied(id, reason)
		n.do(acts)
	}
}

// connClosed cleans up after a peer: a worker's node connection closing
// means the worker is gone; an owner's means its leases and queued
// requests are void.
func (n *Node) connClosed(c *rpc.Conn) {
	n.mu.Lock()
	w, isWorker := n.connWkr[c]
	delete(n.connWkr, c)
	job, isDriver := n.driverOf[c]
	delete(n.driverOf, c)
	if isDriver {
		for id, j := range n.driverJobs {
			if j == job {
				delete(n.drivers, id)
				delete(n.driverJobs, id)
			}
		}
	}
	// Its queued requests are void, and its granted leases come back.
	n.sched.TakeQueued(func(r *LeaseReq) bool { return r.From == nil || r.From != c })
	var leases []uint64
	for id, owner := range n.leaseOwn {
		if owner == c {
			leases = append(leases, id)
			delete(n.leaseOwn, id)
		}
	}
	var acts []Action
	now := time.Now()
	for _, l := range leases {
		acts = append(acts, n.sched.ReturnLease(l, true, now)...)
	}
	stopping := n.stopping
	n.mu.Unlock()
	if stopping {
		return
	}
	if isWorker {
		n.kill(w)
	}
	if isDriver {
		// The driver is gone: its job's non-detached actors end (Ray).
		go n.gcsCall(context.Background(), proto.GCSJobFinished, proto.MustMarshal(&proto.GetJob{JobID: job}))
	}
	n.do(acts)
}

// Handle serves the node service (rpc.Handler).
func (n *Node) Handle(c *rpc.Conn, kind, method byte, reqID uint64, payload []byte) {
	fail := func(err error) {
		if kind == rpc.KindRequest {
			c.ReplyError(reqID, err)
		}
	}
	switch method {
	case proto.NodeRegisterWorker:
		var m proto.RegisterWorker
		if err := proto.Unmarshal(payload, &m); err != nil {
			fail(err)
			return
		}
		n.register(c, reqID, &m)
	case proto.NodeRequestLease:
		var m proto.LeaseRequest
		if err := proto.Unmarshal(payload, &m); err != nil {
			fail(err)
			return
		}
		n.requestLease(&m, c, func(g gcs.Grant, err error) {
			if err != nil {
				c.ReplyError(reqID, err)
				return
			}
			if g.SpillTo == "" && c.Err() != nil {
				// The requester left while the request waited.
				n.mu.Lock()
				acts := n.sched.ReturnLease(g.LeaseID, false, time.Now())
				n.mu.Unlock()
				n.do(acts)
				return
			}
			if g.SpillTo != "" {
				c.Reply(reqID, proto.MustMarshal(&proto.LeaseGrant{SpillTo: g.SpillTo}))
				return
			}
			n.mu.Lock()
			n.leaseOwn[g.LeaseID] = c
			n.mu.Unlock()
			addr := g.Addr
			if !isLocal(c) {
				addr = n.publicAddr(g.WorkerID, g.Addr)
			}
			c.Reply(reqID, proto.MustMarshal(&proto.LeaseGrant{LeaseID: g.LeaseID, WorkerID: g.WorkerID, WorkerAddr: addr, WorkerPID: g.PID, NodeID: g.NodeID}))
		})
	case proto.NodeReturnLease:
		var m proto.ReturnLease
		if proto.Unmarshal(payload, &m) != nil {
			return
		}
		n.mu.Lock()
		delete(n.leaseOwn, m.LeaseID)
		acts := n.sched.ReturnLease(m.LeaseID, m.Kill, time.Now())
		n.mu.Unlock()
		n.do(acts)
	case proto.NodeCancelLease:
		var m proto.CancelLease
		if proto.Unmarshal(payload, &m) != nil {
			return
		}
		n.mu.Lock()
		// Owner IDs are per connection here; cancel by request ID.
		var r *LeaseReq
		for _, q := range n.sched.queue {
			if q.OwnerReq == m.RequestID {
				r = n.sched.Cancel(q.Owner, q.OwnerReq)
				break
			}
		}
		n.mu.Unlock()
		if r != nil {
			r.Reply.(func(gcs.Grant, error))(gcs.Grant{}, errors.New("lease request cancelled"))
		}
	case proto.NodeWorkerBlocked, proto.NodeWorkerUnblocked:
		n.mu.Lock()
		var acts []Action
		if w, ok := n.connWkr[c]; ok {
			if method == proto.NodeWorkerBlocked {
				acts = n.sched.Blocked(w, time.Now())
			} else {
				acts = n.sched.Unblocked(w, time.Now())
			}
		}
		n.mu.Unlock()
		n.do(acts)
	case proto.NodeStoreCreate:
		var m proto.StoreCreate
		if err := proto.Unmarshal(payload, &m); err != nil {
			fail(err)
			return
		}
		go func() {
			path, err := n.store.Create(context.Background(), m.ID, m.Size)
			if err != nil {
				c.ReplyError(reqID, err)
				return
			}
			c.Reply(reqID, proto.MustMarshal(&proto.StorePath{Path: path}))
		}()
	case proto.NodeStoreDelete:
		var m proto.ObjectIDs
		if err := proto.Unmarshal(payload, &m); err != nil {
			fail(err)
			return
		}
		n.deleteObjects(&m)
		if kind == rpc.KindRequest {
			c.Reply(reqID, nil)
		}
	case proto.NodeStoreSeal, proto.NodeStoreAbort:
		var m proto.ObjectIDs
		if err := proto.Unmarshal(payload, &m); err != nil {
			fail(err)
			return
		}
		var firstErr error
		for _, id := range m.IDs {
			var err error
			switch method {
			case proto.NodeStoreSeal:
				err = n.store.Seal(id)
			case proto.NodeStoreAbort:
				err = n.store.Abort(id)
			}
			if err != nil && firstErr == nil {
				firstErr = err
			}
		}
		if kind == rpc.KindRequest {
			if firstErr != nil && method == proto.NodeStoreSeal {
				c.ReplyError(reqID, firstErr)
			} else {
				c.Reply(reqID, nil)
			}
		}
	case proto.NodeKillWorker:
		var m proto.KillWorker
		if proto.Unmarshal(payload, &m) == nil {
			n.kill(m.WorkerID)
		}
		if kind == rpc.KindRequest {
			c.Reply(reqID, nil)
		}
	case proto.NodeFetchBinary:
		var m proto.FetchBinary
		if err := proto.Unmarshal(payload, &m); err != nil {
			fail(err)
			return
		}
		b, err := n.serveBinary(&m)
		if err != nil {
			fail(err)
			return
		}
		c.Reply(reqID, b)
	case proto.NodeReadObject:
		var m proto.ReadObject
		if err := proto.Unmarshal(payload, &m); err != nil {
			fail(err)
			return
		}
		go func() {
			b, err := n.readObject(&m)
			if err != nil {
				c.ReplyError(reqID, err)
				return
			}
			c.Reply(reqID, b)
		}()
	case proto.NodePullObject:
		var m proto.PullObject
		if err := proto.Unmarshal(payload, &m); err != nil {
			fail(err)
			return
		}
		go func() {
			if err := n.pullObject(context.Background(), &m); err != nil {
				c.ReplyError(reqID, err)
				return
			}
			c.Reply(reqID, nil)
		}()
	case proto.NodeActorCreated:
		var m proto.ReturnLease
		if proto.Unmarshal(payload, &m) == nil {
			n.ActorCreated(n.id, m.LeaseID, m.ActorHold)
		}
	case proto.NodeStatus:
		st := n.Status()
		c.Reply(reqID, proto.MustMarshal(&st))
	default:
		if isGCSMethod(method) {
			n.serveGCS(c, kind, method, reqID, payload)
			return
		}
		fail(fmt.Errorf("node: unknown method %d", method))
	}
}

// serveGCS answers a GCS method: on the head in process, elsewhere by
// forwarding to the head.
func (n *Node) serveGCS(c *rpc.Conn, kind, method byte, reqID uint64, payload []byte) {
	reply := func(b []byte, err error) {
		if kind != rpc.KindRequest {
			return
		}
		if err != nil {
			c.ReplyError(reqID, err)
			return
		}
		c.Reply(reqID, b)
	}
	if n.head == nil {
		n.handleGCS(method, payload, reply)
		return
	}
	p := append([]byte(nil), payload...)
	go func() { reply(n.head.Call(context.Background(), method, p)) }()
}

// requestLease places a lease request and, if it stays here, queues it.
func (n *Node) requestLease(m *proto.LeaseRequest, c *rpc.Conn, reply replyFunc) {
	res, err := resources.FromFloats(m.Resources)
	if err != nil {
		reply(gcs.Grant{}, err)
		return
	}
	n.mu.Lock()
	p, err := place(m, res, n.selfInfoLocked(), n.view, &n.rr)
	if err != nil || !p.local {
		n.mu.Unlock()
		reply(gcs.Grant{SpillTo: p.spillTo}, err)
		return
	}
	req := &LeaseReq{Job: m.JobID, Resources: res, ForActor: m.ForActor, Owner: m.Owner, OwnerReq: m.RequestID, Reply: reply}
	if c != nil {
		req.From = c
	}
	acts := n.sched.Request(req, time.Now())
	n.mu.Unlock()
	n.do(acts)
}

// publicAddr is how processes on other nodes reach a worker: through this
// node's port, or directly when the node is embedded.
func (n *Node) publicAddr(w ids.WorkerID, local string) string {
	if n.tcpAddr == "" {
		return local
	}
	return rpc.RoutedAddr(n.TCPAddr(), "w/"+w.String())
}

func isLocal(c *rpc.Conn) bool { return c != nil && c.IsUnix() }

func (n *Node) register(c *rpc.Conn, reqID uint64, m *proto.RegisterWorker) {
	base := proto.RegisterWorkerReply{NodeID: n.id, SessionDir: n.cfg.SessionDir, StoreDir: n.cfg.StoreDir,
		StoreCapacity: n.cfg.ObjectStoreMemory, NodeAddr: n.TCPAddr(), SocketDir: session.SocketDir(n.cfg.SessionDir)}
	if m.IsDriver {
		base.JobID = n.cfg.JobID
		if m.Job != nil {
			// A driver joins with its job: cache its binary, tell the GCS.
			info := *m.Job
			info.HomeNode = n.TCPAddr()
			if info.Platform != platform() {
				c.ReplyError(reqID, fmt.Errorf("node: driver built for %s, node runs %s", info.Platform, platform()))
				return
			}
			if _, err := n.addJob(info, info.BinaryPath); err != nil {
				c.ReplyError(reqID, err)
				return
			}
			if _, err := n.gcsCall(context.Background(), proto.GCSRegisterJob, proto.MustMarshal(&info)); err != nil {
				c.ReplyError(reqID, fmt.Errorf("node: register job: %w", err))
				return
			}
			base.JobID = info.JobID
			n.mu.Lock()
			n.driverOf[c] = info.JobID
			n.driverJobs[m.WorkerID] = info.JobID
			n.mu.Unlock()
		}
		n.mu.Lock()
		n.drivers[m.WorkerID] = m.Addr
		n.mu.Unlock()
		c.Reply(reqID, proto.MustMarshal(&base))
		return
	}
	n.mu.Lock()
	p, ok := n.procs[m.WorkerID]
	var j *job
	if ok {
		j = n.jobs[p.job]
	}
	n.mu.Unlock()
	if !ok || j == nil {
		c.ReplyError(reqID, fmt.Errorf("node: unknown worker %s", m.WorkerID))
		return
	}
	var refuse error
	if want := platform(); m.Platform != want {
		refuse = fmt.Errorf("node: worker built for %s, node runs %s", m.Platform, want)
	} else if j.info.RegistryHash != "" && m.RegistryHash != j.info.RegistryHash {
		refuse = fmt.Errorf("%w (worker %s, driver %s)", ErrRegistryMismatch, m.RegistryHash, j.info.RegistryHash)
	}
	if refuse != nil {
		// Every worker from this binary would be refused the same way: fail
		// the job's waiting requests rather than start workers forever.
		c.ReplyError(reqID, refuse)
		n.kill(m.WorkerID)
		n.mu.Lock()
		n.sched.WorkerExited(m.WorkerID, time.Now())
		failed := n.sched.TakeQueued(func(r *LeaseReq) bool { return r.Job != p.job })
		n.mu.Unlock()
		n.log.Error("refused worker", "err", refuse)
		for _, r := range failed {
			r.Reply.(replyFunc)(gcs.Grant{}, refuse)
		}
		return
	}
	n.mu.Lock()
	p.localAddr = m.Addr
	n.connWkr[c] = m.WorkerID
	acts := n.sched.WorkerRegistered(m.WorkerID, time.Now())
	n.mu.Unlock()
	base.JobID = p.job
	c.Reply(reqID, proto.MustMarshal(&base))
	n.do(acts)
}

// Dial implements gcs.NodeAPI.
func (n *Node) Dial(ctx context.Context, addr string) (*rpc.Conn, error) {
	return rpc.Dial(ctx, addr, n.cfg.Token, nil)
}

// WorkerEnv reports whether this process was started as a worker, and its
// settings.
func WorkerEnv() (isWorker bool, id ids.WorkerID, nodeAddr, token, sessionDir, namespace string) {
	if os.Getenv(EnvWorker) != "1" {
		return false, id, "", "", "", ""
	}
	u, err := ids.ParseNodeID(os.Getenv(EnvWorkerID)) // same size as a worker ID
	if err == nil {
		id = ids.WorkerID(u)
	}
	return true, id, os.Getenv(EnvNodeAddr), os.Getenv(EnvToken), os.Getenv(EnvSessionDir), strings.TrimSpace(os.Getenv(EnvNamespace))
}

// sweepStaleStores removes store directories (goray-<node>-<pid>) that this
// user's dead processes left behind: a driver killed by a signal, or ended
// by os.Exit, never runs Shutdown, and tmpfs memory is not freed by itself.
func sweepStaleStores(base string) {
	des, err := os.ReadDir(base)
	if err != nil {
		return
	}
	uid := uint32(os.Getuid())
	for _, de := range des {
		name := de.Name()
		if !de.IsDir() || !strings.HasPrefix(name, "goray-") {
			continue
		}
		i := strings.LastIndexByte(name, '-')
		pid, err := strconv.Atoi(name[i+1:])
		if err != nil || pid <= 0 || pid == os.Getpid() {
			continue
		}
		var st syscall.Stat_t
		path := filepath.Join(base, name)
		if syscall.Lstat(path, &st) != nil || st.Uid != uid {
			continue
		}
		if err := syscall.Kill(pid, 0); errors.Is(err, syscall.ESRCH) {
			os.RemoveAll(path)
		}
	}
}

func platform() string { return runtime.GOOS + "/" + runtime.GOARCH }
