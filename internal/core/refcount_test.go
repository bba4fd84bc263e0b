package core

import (
	"testing"

	"github.com/goray/ray/internal/ids"
	"github.com/goray/ray/internal/proto"
)

func TestRefCounterOwnedLifecycle(t *testing.T) {
	g := ids.NewTaskIDGen()
	me := proto.Address{WorkerID: ids.NewWorkerID(), Addr: "unix:/me"}
	obj := proto.ObjRef{ID: ids.ReturnID(g.Next(), 0), Owner: me}
	borrower := ids.NewWorkerID()
	r := NewRefCounter()
	r.Own(obj)

	steps := []struct {
		name     string
		do       func() []RefAction
		wantFree bool
	}{
		{"handle made", func() []RefAction { return []RefAction{r.AddLocal(obj, true)} }, false},
		{"passed to a task", func() []RefAction { r.AddSubmitted([]proto.ObjRef{obj}); return nil }, false},
		{"borrowed by a worker", func() []RefAction { r.AddRemote(obj.ID, borrower); return nil }, false},
		{"handle dropped", func() []RefAction { return []RefAction{r.RemoveLocal(obj.ID)} }, false},
		{"stray remove from a peer is ignored", func() []RefAction { return []RefAction{r.RemoveRemote(obj.ID, ids.NewWorkerID())} }, false},
		{"task done", func() []RefAction { return r.RemoveSubmitted([]proto.ObjRef{obj}) }, false},
		{"borrower releases", func() []RefAction { return []RefAction{r.RemoveRemote(obj.ID, borrower)} }, true},
		{"double release is ignored", func() []RefAction { return []RefAction{r.RemoveRemote(obj.ID, borrower)} }, false},
	}
	for _, st := range steps {
		acts := st.do()
		freed := false
		for _, a := range acts {
			if a.Free == obj.ID {
				freed = true
			}
			if a.Release != nil || a.Register != nil {
				t.Fatalf("%s: owned object produced %+v", st.name, a)
			}
		}
		if freed != st.wantFree {
			t.Fatalf("%s: freed = %v, want %v", st.name, freed, st.wantFree)
		}
	}
	if r.Len() != 0 {
		t.Fatalf("freed object still tracked")
	}
}

func TestRefCounterBorrowed(t *testing.T) {
	g := ids.NewTaskIDGen()
	owner := proto.Address{WorkerID: ids.NewWorkerID(), Addr: "unix:/owner"}
	obj := proto.ObjRef{ID: ids.ReturnID(g.Next(), 0), Owner: owner}
	r := NewRefCounter()
	a := r.AddLocal(obj, false)
	if a.Register == nil || a.Register.Owner.Addr != "unix:/owner" {
		t.Fatalf("first borrow must register: %+v", a)
	}
	if a := r.AddLocal(obj, false); a.Register != nil {
		t.Fatalf("second handle must not register again")
	}
	if a := r.RemoveLocal(obj.ID); a.Release != nil {
		t.Fatalf("released with a handle left")
	}
	a = r.RemoveLocal(obj.ID)
	if a.Release == nil || a.Release.ID != obj.ID || !a.Free.IsZero() {
		t.Fatalf("last handle must release to owner, not free: %+v", a)
	}
}

func TestRefCounterContainedAndHolderDeath(t *testing.T) {
	g := ids.NewTaskIDGen()
	me := proto.Address{WorkerID: ids.NewWorkerID()}
	outer := proto.ObjRef{ID: ids.ReturnID(g.Next(), 0), Owner: me}
	inner := proto.ObjRef{ID: ids.ReturnID(g.Next(), 0), Owner: me}
	r := NewRefCounter()
	r.Own(outer)
	r.Own(inner)
	r.AddLocal(outer, true)
	r.AddRemote(inner.ID, me.WorkerID) // held by outer
	r.SetContains(outer.ID, []proto.ObjRef{inner})
	dead := ids.NewWorkerID()
	r.AddRemote(outer.ID, dead)
	a := r.RemoveLocal(outer.ID)
	if !a.Free.IsZero() {
		t.Fatal("outer freed while a remote holder lives")
	}
	acts := r.HolderDied(dead)
	if len(acts) != 1 || acts[0].Free != outer.ID || len(acts[0].Contained) != 1 || acts[0].Contained[0].ID != inner.ID {
		t.Fatalf("holder death must free outer and hand back inner: %+v", acts)
	}
	if a := r.RemoveRemote(inner.ID, me.WorkerID); a.Free != inner.ID {
		t.Fatalf("inner must be freed once outer is: %+v", a)
	}
}
