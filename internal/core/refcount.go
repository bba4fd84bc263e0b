package core

import (
	"github.com/goray/ray/internal/ids"
	"github.com/goray/ray/internal/proto"
)

// RefCounter is one process's reference counts, as a state machine without
// I/O: each method updates counts and returns what the process must do.
//
// For an object this process owns, the object stays alive while any of these
// is non-zero: live Ref handles here (local), pending tasks that take it as
// an argument (submitted), holders in other processes that registered with
// AddRef (remote), and objects that contain it (contained, counted as
// remote holders with this process's own ID).
//
// For a borrowed object (owned elsewhere) the process counts its local
// handles and submitted tasks; when both reach zero it tells the owner with
// RemoveRef.
//
// Contract: every Add has one matching Remove; counts never go negative (a
// Remove without an Add is ignored, so a late or duplicated message from a
// peer cannot free an object early). Lock: the caller serializes calls.
type RefCounter struct {
	refs    map[ids.ObjectID]*refState
	peak    shrinker
	ranging bool
}

type refState struct {
	owned bool
	// owner is a borrowed object's owner (nil for owned objects: most
	// states are, and an Address is 48 bytes).
	owner     *proto.Address
	local     int
	submitted int
	remote    map[ids.WorkerID]int
	// contains lists refs nested in this object's value: released when this
	// object is freed.
	contains []proto.ObjRef
	// registered: a borrowed ref this process announced to its owner.
	registered bool
}

// RefAction is what the process must do after a count change.
type RefAction struct {
	// Free: an owned object is unreferenced; delete its value and copies.
	Free ids.ObjectID
	// Release: tell Owner this process holds no more refs to ID.
	Release *proto.ObjRef
	// Register: tell Owner this process now holds ID (a new borrow).
	Register *proto.ObjRef
	// Contained: refs the freed object contained, each to be released
	// (RemoveLocalNested).
	Contained []proto.ObjRef
}

// NewRefCounter returns an empty counter.
func NewRefCounter() *RefCounter { return &RefCounter{refs: make(map[ids.ObjectID]*refState)} }

func (r *RefCounter) state(ref proto.ObjRef, owned bool) *refState {
	s, ok := r.refs[ref.ID]
	if !ok {
		s = &refState{owned: owned}
		if !owned {
			owner := ref.Owner
			s.owner = &owner
		}
		r.refs[ref.ID] = s
	}
	return s
}

// Own records a new object owned by this process (a task return or a put).
// It starts with no references: the caller adds the handle it returns.
func (r *RefCounter) Own(ref proto.ObjRef) { r.state(ref, true) }

// Owned reports whether id is known and owned here.
func (r *RefCounter) Owned(id ids.ObjectID) bool {
	s, ok := r.refs[id]
	return ok && s.owned
}

// Len is the number of tracked objects.
func (r *RefCounter) Len() int { return len(r.refs) }

// NumOwned counts live owned objects.
func (r *RefCounter) NumOwned() int {
	n := 0
	for _, s := range r.refs {
		if s.owned {
			n++
		}
	}
	return n
}

// AddLocal counts a new handle. For a borrowed object seen for the first
// time, the action asks to register with the owner.
func (r *RefCounter) AddLocal(ref proto.ObjRef, owned bool) RefAction {
	s := r.state(ref, owned)
	s.local++
	if !s.owned && !s.registered {
		s.registered = true
		return RefAction{Register: &proto.ObjRef{ID: ref.ID, Owner: *s.owner}}
	}
	return RefAction{}
}

// RemoveLocal drops a handle.
func (r *RefCounter) RemoveLocal(id ids.ObjectID) RefAction {
	s, ok := r.refs[id]
	if !ok || s.local == 0 {
		return RefAction{}
	}
	s.local--
	return r.check(id, s)
}

// AddSubmitted pins args of a task being submitted.
func (r *RefCounter) AddSubmitted(refs []proto.ObjRef) {
	for _, ref := range refs {
		r.state(ref, false).submitted++
	}
}

// RemoveSubmitted unpins a finished task's args.
func (r *RefCounter) RemoveSubmitted(refs []proto.ObjRef) []RefAction {
	var acts []RefAction
	for _, ref := range refs {
		s, ok := r.refs[ref.ID]
		if !ok || s.submitted == 0 {
			continue
		}
		s.submitted--
		if a := r.check(ref.ID, s); !a.empty() {
			acts = append(acts, a)
		}
	}
	return acts
}

// AddRemote counts a holder in another process (or an object containing
// this one, with holder = this process's ID).
func (r *RefCounter) AddRemote(id ids.ObjectID, holder ids.WorkerID) bool {
	s, ok := r.refs[id]
	if !ok || !s.owned {
		return false
	}
	if s.remote == nil {
		s.remote = make(map[ids.WorkerID]int)
	}
	s.remote[holder]++
	return true
}

// RemoveRemote drops one holder count.
func (r *RefCounter) RemoveRemote(id ids.ObjectID, holder ids.WorkerID) RefAction {
	s, ok := r.refs[id]
	if !ok || s.remote[holder] == 0 {
		return RefAction{}
	}
	s.remote[holder]--
	if s.remote[holder] == 0 {
		delete(s.remote, holder)
	}
	return r.check(id, s)
}

// HolderDied drops every count held by a dead process.
func (r *RefCounter) HolderDied(holder ids.WorkerID) []RefAction {
	var acts []RefAction
	r.ranging = true // no rebuild of the map while ranging over it
	for id, s := range r.refs {
		if s.remote[holder] == 0 {
			continue
		}
		delete(s.remote, holder)
		if a := r.check(id, s); !a.empty() {
			acts = append(acts, a)
		}
	}
	r.ranging = false
	r.refs = shrinkAfterDelete(&r.peak, r.refs)
	return acts
}

// SetContains records that owned object id's value contains refs; they are
// released (Contained in the Free action) when id is freed.
func (r *RefCounter) SetContains(id ids.ObjectID, refs []proto.ObjRef) {
	if s, ok := r.refs[id]; ok {
		s.contains = append(s.contains, refs...)
	}
}

// Forget drops an object whatever its counts (its owner died, shutdown).
func (r *RefCounter) Forget(id ids.ObjectID) { delete(r.refs, id) }

// Counts reports an object's local, submitted and remote counts, for tests
// and debugging.
func (r *RefCounter) Counts(id ids.ObjectID) (local, submitted, remote int, ok bool) {
	s, ok := r.refs[id]
	if !ok {
		return 0, 0, 0, false
	}
	for _, n := range s.remote {
		remote += n
	}
	return s.local, s.submitted, remote, true
}

func (r *RefCounter) check(id ids.ObjectID, s *refState) RefAction {
	if s.local > 0 || s.submitted > 0 || len(s.remote) > 0 {
		return RefAction{}
	}
	delete(r.refs, id)
	if !r.ranging {
		r.refs = shrinkAfterDelete(&r.peak, r.refs)
	}
	if s.owned {
		return RefAction{Free: id, Contained: s.contains}
	}
	if s.registered {
		return RefAction{Release: &proto.ObjRef{ID: id, Owner: *s.owner}}
	}
	return RefAction{}
}

func (a RefAction) empty() bool {
	return a.Free.IsZero() && a.Release == nil && a.Register == nil && len(a.Contained) == 0
}

// Tracked reports whether the process counts references to id.
func (r *RefCounter) Tracked(id ids.ObjectID) bool { _, ok := r.refs[id]; return ok }
