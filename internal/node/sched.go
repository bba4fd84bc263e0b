package node

import (
	"time"

	"github.com/goray/ray/internal/ids"
	"github.com/goray/ray/internal/resources"
)

// The local scheduler is a plain state machine: each event method updates
// state and returns the actions the node must carry out (start a worker,
// grant a lease, kill a worker). It does no I/O and reads no clock; callers
// pass the time. Node serializes all calls under its mutex.

// ActionKind says what a scheduler Action asks for.
type ActionKind int

const (
	// ActStartWorker: start one worker process with ID Worker.
	ActStartWorker ActionKind = iota + 1
	// ActGrant: answer request Req with lease Lease on worker Worker.
	ActGrant
	// ActKillWorker: end worker Worker's process.
	ActKillWorker
)

// Action is one thing the node must do.
type Action struct {
	Kind   ActionKind
	Worker ids.WorkerID
	Job    ids.JobID // ActStartWorker: whose binary to run
	Req    *LeaseReq
	Lease  uint64
}

// LeaseReq is a pending request for a worker.
type LeaseReq struct {
	ID        uint64 // scheduler-assigned
	Job       ids.JobID
	Resources resources.Set
	ForActor  bool
	Owner     ids.WorkerID
	OwnerReq  uint64 // the owner's request ID, for cancellation
	// Reply and From are opaque to the scheduler: the I/O layer's way to
	// answer, and the connection the request came on.
	Reply any
	From  any
}

type workerPhase int

const (
	phaseStarting workerPhase = iota
	phaseIdle
	phaseLeased
	phaseActor
)

type schedWorker struct {
	id        ids.WorkerID
	job       ids.JobID
	phase     workerPhase
	lease     uint64
	idleSince time.Time
}

// Lease is a granted lease.
type Lease struct {
	ID       uint64
	Worker   ids.WorkerID
	Held     resources.Set // resources this lease holds now
	Req      resources.Set
	Owner    ids.WorkerID
	ForActor bool
	// cpuLent is the CPU given back while the worker is blocked in Get.
	cpuLent int64
	blocked int
}

// Scheduler is the node's resource accounting, worker pool state and lease
// queue.
type Scheduler struct {
	total, avail resources.Set
	workers      map[ids.WorkerID]*schedWorker
	leases       map[uint64]*Lease
	queue        []*LeaseReq
	starting     int
	// MaxStarting bounds concurrent worker start-ups (Ray's
	// maximum_startup_concurrency; default: the CPU count).
	MaxStarting int
	// SoftLimit is how many idle workers are kept; more are reaped after
	// IdleTimeout (Ray's num_workers_soft_limit and
	// idle_worker_killing_time_threshold_ms).
	SoftLimit   int
	IdleTimeout time.Duration
	nextID      uint64
	newWorkerID func() ids.WorkerID
}

// NewScheduler returns a scheduler for a node with the given resources.
func NewScheduler(total resources.Set, newWorkerID func() ids.WorkerID) *Scheduler {
	cpus := int(total[resources.CPU] / 10000)
	if cpus < 1 {
		cpus = 1
	}
	return &Scheduler{
		total: total.Clone(), avail: total.Clone(),
		workers: make(map[ids.WorkerID]*schedWorker), leases: make(map[uint64]*Lease),
		MaxStarting: cpus, SoftLimit: cpus, IdleTimeout: time.Second,
		newWorkerID: newWorkerID,
	}
}

// Total and Available report resources (copies).
func (s *Scheduler) Total() resources.Set     { return s.total.Clone() }
func (s *Scheduler) Available() resources.Set { return s.avail.Clone() }

// Counts reports workers (all, idle) and pending requests.
func (s *Scheduler) Counts() (workers, idle, pending int) {
	for _, w := range s.workers {
		if w.phase == phaseIdle {
			idle++
		}
	}
	return len(s.workers), idle, len(s.queue)
}

// Infeasible lists pending requests that can never fit this node.
func (s *Scheduler) Infeasible() []resources.Set {
	var out []resources.Set
	for _, r := range s.queue {
		if !s.total.Fits(r.Resources) {
			out = append(out, r.Resources)
		}
	}
	return out
}

// Pending lists every pending request's resources.
func (s *Scheduler) Pending() []resources.Set {
	out := make([]resources.Set, len(s.queue))
	for i, r := range s.queue {
		out[i] = r.Resources
	}
	return out
}

// Request queues a lease request.
func (s *Scheduler) Request(r *LeaseReq, now time.Time) []Action {
	s.nextID++
	r.ID = s.nextID
	s.queue = append(s.queue, r)
	return s.dispatch(now)
}

// Cancel withdraws the owner's pending request ownerReq. It returns the
// request if it was still queued.
func (s *Scheduler) Cancel(owner ids.WorkerID, ownerReq uint64) *LeaseReq {
	for i, r := range s.queue {
		if r.Owner == owner && r.OwnerReq == ownerReq {
			s.queue = append(s.queue[:i], s.queue[i+1:]...)
			return r
		}
	}
	return nil
}

// CancelOwner withdraws every queued request of a departed owner.
func (s *Scheduler) CancelOwner(owner ids.WorkerID) []*LeaseReq {
	var gone []*LeaseReq
	kept := s.queue[:0]
	for _, r := range s.queue {
		if r.Owner == owner {
			gone = append(gone, r)
		} else {
			kept = append(kept, r)
		}
	}
	s.queue = kept
	return gone
}

// WorkerRegistered: a started worker is ready.
func (s *Scheduler) WorkerRegistered(id ids.WorkerID, now time.Time) []Action {
	w, ok := s.workers[id]
	if !ok || w.phase != phaseStarting {
		return nil
	}
	s.starting--
	w.phase = phaseIdle
	w.idleSince = now
	return s.dispatch(now)
}

// WorkerExited: a worker process ended. It returns the lease it held, if
// any, so the node can tell that lease's owner.
func (s *Scheduler) WorkerExited(id ids.WorkerID, now time.Time) (*Lease, []Action) {
	w, ok := s.workers[id]
	if !ok {
		return nil, nil
	}
	delete(s.workers, id)
	if w.phase == phaseStarting {
		s.starting--
	}
	var lost *Lease
	if w.lease != 0 {
		lost = s.leases[w.lease]
		s.release(w.lease)
	}
	return lost, s.dispatch(now)
}

func (s *Scheduler) release(leaseID uint64) {
	l, ok := s.leases[leaseID]
	if !ok {
		return
	}
	delete(s.leases, leaseID)
	s.avail.Add(l.Held)
	if l.cpuLent > 0 {
		// The lent CPU was already given back.
		s.avail[resources.CPU] -= l.cpuLent
	}
}

// ReturnLease: the owner is done with a lease. With kill the worker is
// ended instead of going back to the pool.
func (s *Scheduler) ReturnLease(leaseID uint64, kill bool, now time.Time) []Action {
	l, ok := s.leases[leaseID]
	if !ok {
		return nil
	}
	s.release(leaseID)
	var acts []Action
	if w, ok := s.workers[l.Worker]; ok {
		w.lease = 0
		if kill || w.phase == phaseActor {
			delete(s.workers, l.Worker)
			acts = append(acts, Action{Kind: ActKillWorker, Worker: l.Worker})
		} else {
			w.phase = phaseIdle
			w.idleSince = now
		}
	}
	return append(acts, s.dispatch(now)...)
}

// ActorCreated turns an actor lease into a dedicated actor worker. Unless
// hold is set, the lease's resources go back to the pool (Ray: 1 CPU to
// schedule an actor, 0 to run it).
func (s *Scheduler) ActorCreated(leaseID uint64, hold bool, now time.Time) []Action {
	l, ok := s.leases[leaseID]
	if !ok {
		return nil
	}
	if w, ok := s.workers[l.Worker]; ok {
		w.phase = phaseActor
	}
	if !hold {
		s.avail.Add(l.Held)
		l.Held = resources.Set{}
		if l.cpuLent > 0 {
			s.avail[resources.CPU] -= l.cpuLent
			l.cpuLent = 0
		}
	}
	return s.dispatch(now)
}

// Blocked: the leased worker is waiting in Get; its CPU is lent to the node
// so nested tasks can run. Calls nest (a worker may block from several
// goroutines); the CPU is lent once.
func (s *Scheduler) Blocked(id ids.WorkerID, now time.Time) []Action {
	l := s.leaseOf(id)
	if l == nil {
		return nil
	}
	l.blocked++
	if l.blocked > 1 {
		return nil
	}
	if cpu := l.Held[resources.CPU]; cpu > 0 {
		l.cpuLent = cpu
		s.avail[resources.CPU] += cpu
	}
	return s.dispatch(now)
}

// Unblocked: the worker's Get returned; it takes its CPU back even if that
// oversubscribes the node for a while (as Ray does).
func (s *Scheduler) Unblocked(id ids.WorkerID, now time.Time) []Action {
	l := s.leaseOf(id)
	if l == nil || l.blocked == 0 {
		return nil
	}
	l.blocked--
	if l.blocked > 0 {
		return nil
	}
	s.avail[resources.CPU] -= l.cpuLent
	l.cpuLent = 0
	return nil
}

func (s *Scheduler) leaseOf(id ids.WorkerID) *Lease {
	w, ok := s.workers[id]
	if !ok || w.lease == 0 {
		return nil
	}
	return s.leases[w.lease]
}

// Reap ends idle workers beyond the soft limit that have idled too long.
func (s *Scheduler) Reap(now time.Time) []Action {
	_, idle, _ := s.Counts()
	var acts []Action
	for id, w := range s.workers {
		if idle <= s.SoftLimit {
			break
		}
		if w.phase == phaseIdle && now.Sub(w.idleSince) >= s.IdleTimeout {
			delete(s.workers, id)
			idle--
			acts = append(acts, Action{Kind: ActKillWorker, Worker: id, Job: w.job})
		}
	}
	return acts
}

// dispatch grants every queued request that fits and has an idle worker of
// its job, and starts workers for requests that fit but have none.
func (s *Scheduler) dispatch(now time.Time) []Action {
	var acts []Action
	idle := map[ids.JobID][]*schedWorker{}
	starting := map[ids.JobID]int{}
	for _, w := range s.workers {
		switch w.phase {
		case phaseIdle:
			idle[w.job] = append(idle[w.job], w)
		case phaseStarting:
			starting[w.job]++
		}
	}
	need := map[ids.JobID]int{}
	var needOrder []ids.JobID
	var tentative resources.Set // avail after the requests still waiting for a worker
	kept := s.queue[:0]
	for _, r := range s.queue {
		if !s.avail.Fits(r.Resources) {
			kept = append(kept, r)
			continue
		}
		ws := idle[r.Job]
		if len(ws) == 0 {
			if tentative == nil {
				tentative = s.avail.Clone()
			}
			if tentative.Fits(r.Resources) {
				tentative.Sub(r.Resources)
				if need[r.Job] == 0 {
					needOrder = append(needOrder, r.Job)
				}
				need[r.Job]++
			}
			kept = append(kept, r)
			continue
		}
		w := ws[len(ws)-1]
		idle[r.Job] = ws[:len(ws)-1]
		s.nextID++
		l := &Lease{ID: s.nextID, Worker: w.id, Held: r.Resources.Clone(), Req: r.Resources, Owner: r.Owner, ForActor: r.ForActor}
		s.leases[l.ID] = l
		s.avail.Sub(r.Resources)
		w.phase = phaseLeased
		w.lease = l.ID
		acts = append(acts, Action{Kind: ActGrant, Req: r, Lease: l.ID, Worker: w.id})
	}
	s.queue = kept
	for _, job := range needOrder {
		for starting[job] < need[job] && s.starting < s.MaxStarting {
			id := s.newWorkerID()
			s.workers[id] = &schedWorker{id: id, job: job, phase: phaseStarting}
			s.starting++
			starting[job]++
			acts = append(acts, Action{Kind: ActStartWorker, Worker: id, Job: job})
		}
	}
	return acts
}

// TakeQueued removes and returns the queued requests for which keep says
// false (e.g. those the node now wants to spill elsewhere).
func (s *Scheduler) TakeQueued(keep func(*LeaseReq) bool) []*LeaseReq {
	var out []*LeaseReq
	kept := s.queue[:0]
	for _, r := range s.queue {
		if keep(r) {
			kept = append(kept, r)
		} else {
			out = append(out, r)
		}
	}
	s.queue = kept
	return out
}

// Fits reports whether a shape fits the node's total and its available
// resources now.
func (s *Scheduler) Fits(r resources.Set) (total, now bool) {
	return s.total.Fits(r), s.avail.Fits(r)
}

// Readd puts back a worker that refused to be reaped (it still owns
// objects that borrowers need).
func (s *Scheduler) Readd(id ids.WorkerID, job ids.JobID, now time.Time) []Action {
	if _, ok := s.workers[id]; ok {
		return nil
	}
	s.workers[id] = &schedWorker{id: id, job: job, phase: phaseIdle, idleSince: now}
	return s.dispatch(now)
}
