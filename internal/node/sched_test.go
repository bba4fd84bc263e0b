package node

import (
	"fmt"
	"testing"
	"time"

	"github.com/goray/ray/internal/ids"
	"github.com/goray/ray/internal/resources"
)

// schedHarness drives a Scheduler with readable worker names.
type schedHarness struct {
	t      *testing.T
	s      *Scheduler
	names  map[ids.WorkerID]string
	byName map[string]ids.WorkerID
	now    time.Time
}

func newHarness(t *testing.T, total map[string]float64) *schedHarness {
	h := &schedHarness{t: t, names: map[ids.WorkerID]string{}, byName: map[string]ids.WorkerID{}, now: time.Unix(1000, 0)}
	set, err := resources.FromFloats(total)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	h.s = NewScheduler(set, func() ids.WorkerID {
		n++
		id := ids.NewWorkerID()
		name := fmt.Sprintf("w%d", n)
		h.names[id], h.byName[name] = name, id
		return id
	})
	return h
}

// render turns actions into strings like "start w1", "grant r1 w1".
func (h *schedHarness) render(acts []Action) []string {
	var out []string
	for _, a := range acts {
		switch a.Kind {
		case ActStartWorker:
			out = append(out, "start "+h.names[a.Worker])
		case ActGrant:
			out = append(out, fmt.Sprintf("grant %v %s", a.Req.Reply, h.names[a.Worker]))
		case ActKillWorker:
			out = append(out, "kill "+h.names[a.Worker])
		}
	}
	return out
}

func (h *schedHarness) expect(step string, acts []Action, want ...string) {
	h.t.Helper()
	got := h.render(acts)
	if fmt.Sprint(got) != fmt.Sprint(want) {
		h.t.Fatalf("%s: actions = %v, want %v", step, got, want)
	}
}

func (h *schedHarness) req(name string, res map[string]float64) []Action {
	set, err := resources.FromFloats(res)
	if err != nil {
		h.t.Fatal(err)
	}
	return h.s.Request(&LeaseReq{Resources: set, Reply: name, OwnerReq: uint64(len(name))}, h.now)
}

func cpu(n float64) map[string]float64 { return map[string]float64{"CPU": n} }

func TestSchedulerStartsWorkersAndGrants(t *testing.T) {
	h := newHarness(t, cpu(2))
	h.expect("r1", h.req("r1", cpu(1)), "start w1")
	h.expect("r2", h.req("r2", cpu(1)), "start w2")
	h.expect("r3 waits for CPU", h.req("r3", cpu(1)))
	h.expect("w1 up", h.s.WorkerRegistered(h.byName["w1"], h.now), "grant r1 w1")
	h.expect("w2 up", h.s.WorkerRegistered(h.byName["w2"], h.now), "grant r2 w2")
	if got := h.s.Available().Get("CPU"); got != 0 {
		t.Fatalf("available CPU = %v", got)
	}
	l, _ := h.s.leaseOfName(h, "w1")
	h.expect("return r1's lease", h.s.ReturnLease(l, false, h.now), "grant r3 w1")
}

func (s *Scheduler) leaseOfName(h *schedHarness, name string) (uint64, bool) {
	w, ok := s.workers[h.byName[name]]
	if !ok {
		return 0, false
	}
	return w.lease, w.lease != 0
}

func TestSchedulerBlockedWorkerLendsCPU(t *testing.T) {
	h := newHarness(t, cpu(1))
	h.expect("parent", h.req("parent", cpu(1)), "start w1")
	h.expect("w1 up", h.s.WorkerRegistered(h.byName["w1"], h.now), "grant parent w1")
	h.expect("child queued", h.req("child", cpu(1)))
	// The parent blocks in Get: its CPU is lent, so the child gets a worker.
	h.expect("parent blocks", h.s.Blocked(h.byName["w1"], h.now), "start w2")
	h.expect("w2 up", h.s.WorkerRegistered(h.byName["w2"], h.now), "grant child w2")
	h.expect("parent unblocks", h.s.Unblocked(h.byName["w1"], h.now))
	if got := h.s.Available().Get("CPU"); got != -1 {
		t.Fatalf("oversubscribed CPU = %v, want -1", got)
	}
	l, _ := h.s.leaseOfName(h, "w2")
	h.expect("child done", h.s.ReturnLease(l, false, h.now))
	l, _ = h.s.leaseOfName(h, "w1")
	h.expect("parent done", h.s.ReturnLease(l, false, h.now))
	if got := h.s.Available().Get("CPU"); got != 1 {
		t.Fatalf("CPU after all returned = %v, want 1", got)
	}
}

func TestSchedulerWorkerDeathFreesLease(t *testing.T) {
	h := newHarness(t, cpu(1))
	h.req("r1", cpu(1))
	h.s.WorkerRegistered(h.byName["w1"], h.now)
	h.req("r2", cpu(1))
	lost, acts := h.s.WorkerExited(h.byName["w1"], h.now)
	if lost == nil || lost.Worker != h.byName["w1"] {
		t.Fatalf("lost lease = %+v", lost)
	}
	h.expect("w1 died", acts, "start w2")
}

func TestSchedulerInfeasibleAndCustom(t *testing.T) {
	h := newHarness(t, map[string]float64{"CPU": 2, "alice": 1})
	h.expect("bob", h.req("bob", map[string]float64{"CPU": 1, "bob": 1}))
	if inf := h.s.Infeasible(); len(inf) != 1 || inf[0].Get("bob") != 1 {
		t.Fatalf("infeasible = %v", inf)
	}
	h.expect("alice", h.req("alice", map[string]float64{"CPU": 1, "alice": 1}), "start w1")
	h.expect("alice2 waits for alice", h.req("alice2", map[string]float64{"alice": 1}))
	h.expect("w1 up", h.s.WorkerRegistered(h.byName["w1"], h.now), "grant alice w1")
	if r := h.s.Cancel(ids.WorkerID{}, 3); r == nil || r.Reply != "bob" {
		t.Fatalf("cancel bob = %+v", r)
	}
}

func TestSchedulerActorReleasesCPU(t *testing.T) {
	h := newHarness(t, cpu(1))
	h.req("actor", cpu(1))
	h.expect("w1 up", h.s.WorkerRegistered(h.byName["w1"], h.now), "grant actor w1")
	l, _ := h.s.leaseOfName(h, "w1")
	h.expect("actor created", h.s.ActorCreated(l, false, h.now))
	if got := h.s.Available().Get("CPU"); got != 1 {
		t.Fatalf("CPU after actor creation = %v, want 1", got)
	}
	h.expect("task", h.req("task", cpu(1)), "start w2")
	h.expect("actor killed", h.s.ReturnLease(l, false, h.now), "kill w1")
}

func TestSchedulerReapsIdle(t *testing.T) {
	h := newHarness(t, cpu(1))
	h.s.SoftLimit = 0
	h.req("r", cpu(1))
	h.s.WorkerRegistered(h.byName["w1"], h.now)
	l, _ := h.s.leaseOfName(h, "w1")
	h.s.ReturnLease(l, false, h.now)
	h.expect("too soon", h.s.Reap(h.now.Add(time.Millisecond)))
	h.expect("idle long", h.s.Reap(h.now.Add(2*time.Second)), "kill w1")
}
