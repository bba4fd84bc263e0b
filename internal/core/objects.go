package core

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"runtime"
	"strings"
	"sync/atomic"
	"time"

	"github.com/goray/ray/internal/codec"
	"github.com/goray/ray/internal/ids"
	"github.com/goray/ray/internal/objstore"
	"github.com/goray/ray/internal/proto"
	"github.com/goray/ray/internal/rpc"
)

// object is this process's record of an object it owns (from creation to
// free) or has fetched as a borrower (while it holds refs).
type object struct {
	done bool
	// ready is made only when someone must block on the object (most
	// objects are done before anyone asks), and closed when it is done.
	// Guarded by rt.mu.
	ready     chan struct{}
	data      []byte // inline encoding
	inStore   bool
	size      int64
	node      ids.NodeID
	err       *proto.ErrorInfo
	contained []proto.ObjRef
	owned     bool
	// task is the pending task that returns this object (owner side).
	task *task
	// onDone run (outside the lock) once the object is done.
	onDone []func()
}

func newObject(owned bool) *object { return &object{owned: owned} }

// readyChan is closed once o is done; the caller holds rt.mu.
func (o *object) readyChan() <-chan struct{} {
	if o.ready == nil {
		o.ready = make(chan struct{})
		if o.done {
			close(o.ready)
		}
	}
	return o.ready
}

// complete marks o done; the caller holds mu and runs the returned
// callbacks after unlocking.
func (o *object) complete() []func() {
	if o.done {
		return nil
	}
	o.done = true
	if o.ready != nil {
		close(o.ready)
		o.ready = nil // the waiters hold it; later ones see done
	}
	cbs := o.onDone
	o.onDone = nil
	return cbs
}

func (o *object) reply() *proto.ObjectReply {
	return &proto.ObjectReply{Data: o.data, InStore: o.inStore, Size: o.size, NodeID: o.node, Err: o.err, Contained: o.contained}
}

func runAll(fs []func()) {
	for _, f := range fs {
		f()
	}
}

// Handle is a process-local handle on one object reference. ray.Ref[T]
// wraps a *Handle; when the Go GC finds a Handle unreachable, the process's
// reference is dropped.
type Handle struct {
	ref proto.ObjRef
	rt  *Runtime     // that counts this handle (nil if untracked)
	x   *handleExtra // rare parts, kept out of line: one Handle per object
}

type handleExtra struct {
	// multi holds the handles of a multi-return task (NumReturns > 1).
	multi []*Handle
	// err is set on handles made for a call that failed before submission.
	err error
}

// ID is the object's ID.
func (h *Handle) ID() ids.ObjectID { return h.ref.ID }

// Ref is the wire form.
func (h *Handle) Ref() proto.ObjRef { return h.ref }

// Multi returns the per-return handles of a multi-return call.
func (h *Handle) Multi() []*Handle {
	if h.x == nil {
		return nil
	}
	return h.x.multi
}

// Err is the error a call failed with before it could be submitted.
func (h *Handle) Err() error {
	if h.x == nil {
		return nil
	}
	return h.x.err
}

// Refs lists the wire refs the handle stands for.
func (h *Handle) Refs() []proto.ObjRef {
	if h.Multi() != nil {
		out := make([]proto.ObjRef, len(h.Multi()))
		for i, m := range h.Multi() {
			out[i] = m.ref
		}
		return out
	}
	if h.ref.ID.IsZero() {
		return nil
	}
	return []proto.ObjRef{h.ref}
}

// FailedHandle is a handle whose Get returns err (a call rejected at the
// caller, e.g. a wrong argument type).
func FailedHandle(err error) *Handle { return &Handle{x: &handleExtra{err: err}} }

// MultiHandle bundles the handles of a multi-return call.
func MultiHandle(hs []*Handle) *Handle { return &Handle{x: &handleExtra{multi: hs}} }

var current atomic.Pointer[Runtime]

// SetCurrent makes rt the process's runtime (used to decode refs).
func SetCurrent(rt *Runtime) { current.Store(rt) }

// Current is the process's runtime, or nil.
func Current() *Runtime { return current.Load() }

// track creates a handle for ref under mu (the caller unlocks and applies
// the effects it returns).
func (rt *Runtime) trackLocked(ref proto.ObjRef, owned bool) (*Handle, RefAction) {
	h := &Handle{ref: ref, rt: rt}
	act := rt.refs.AddLocal(ref, owned)
	// A finalizer, not runtime.AddCleanup: a cleanup allocates a closure
	// and its argument (two allocations, 48 bytes, per handle), a
	// finalizer with a top-level function none. A Handle points at nothing
	// of the user's, so it is never in a cycle, and the extra GC cycle a
	// finalizer keeps it for costs less than the cleanup's allocations.
	runtime.SetFinalizer(h, finalizeHandle)
	return h, act
}

func finalizeHandle(h *Handle) { h.rt.dropHandle(h.ref.ID) }

func (rt *Runtime) dropHandle(id ids.ObjectID) {
	rt.mu.Lock()
	if rt.closed {
		rt.mu.Unlock()
		return
	}
	eff := rt.refEffectsLocked(rt.refs.RemoveLocal(id))
	rt.mu.Unlock()
	eff.apply(rt)
}

// HandleFromWire makes a handle for a ref decoded from a value. A new
// borrow is registered with the owner before it returns, so the owner
// cannot free the object while this process holds it.
func (rt *Runtime) HandleFromWire(ref proto.ObjRef) (*Handle, error) {
	owned := ref.Owner.WorkerID == rt.self.WorkerID
	rt.mu.Lock()
	if owned && !rt.refs.Owned(ref.ID) {
		rt.mu.Unlock()
		return FailedHandle(fmt.Errorf("%w: %s was freed by its owner", ErrObjectLost, ref.ID)), nil
	}
	h, act := rt.trackLocked(ref, owned)
	rt.mu.Unlock()
	if act.Register != nil {
		c, err := rt.conn(context.Background(), ref.Owner.Addr)
		if err == nil {
			_, err = c.Call(context.Background(), proto.WorkerAddRef,
				proto.MustMarshal(&proto.RefUpdate{IDs: []ids.ObjectID{ref.ID}, Holder: rt.self.WorkerID}))
		}
		if err != nil {
			return FailedHandle(fmt.Errorf("%w: registering with owner %s: %v", ErrOwnerDied, ref.Owner.Addr, err)), nil
		}
	}
	return h, nil
}

// refEffects are what remains to do after a count change, outside mu.
type refEffects struct {
	storeDeletes []storeDel
	releases     []proto.ObjRef // send RemoveRef for these (holder = self)
}

// storeDel is an object to delete from the store of a node.
type storeDel struct {
	id   ids.ObjectID
	node ids.NodeID
}

func (rt *Runtime) refEffectsLocked(acts ...RefAction) refEffects {
	var eff refEffects
	rt.collectLocked(&eff, acts)
	return eff
}

func (rt *Runtime) collectLocked(eff *refEffects, acts []RefAction) {
	for _, a := range acts {
		if !a.Free.IsZero() {
			if o, ok := rt.objects[a.Free]; ok {
				delete(rt.objects, a.Free)
				rt.objects = shrinkAfterDelete(&rt.objectsPeak, rt.objects)
				if o.inStore {
					eff.storeDeletes = append(eff.storeDeletes, storeDel{a.Free, o.node})
				}
				a.Contained = append(a.Contained, o.contained...)
			}
			for _, c := range a.Contained {
				if c.Owner.WorkerID == rt.self.WorkerID {
					rt.collectLocked(eff, []RefAction{rt.refs.RemoveRemote(c.ID, rt.self.WorkerID)})
				} else {
					eff.releases = append(eff.releases, c)
				}
			}
		}
		if a.Release != nil {
			delete(rt.objects, a.Release.ID)
			rt.objects = shrinkAfterDelete(&rt.objectsPeak, rt.objects)
			eff.releases = append(eff.releases, *a.Release)
		}
	}
}

func (eff refEffects) apply(rt *Runtime) {
	if len(eff.storeDeletes) > 0 {
		// Our node deletes its own objects and forwards the others.
		byNode := map[ids.NodeID][]ids.ObjectID{}
		for _, d := range eff.storeDeletes {
			byNode[d.node] = append(byNode[d.node], d.id)
		}
		for node, objs := range byNode {
			rt.node.Send(proto.NodeStoreDelete, proto.MustMarshal(&proto.ObjectIDs{IDs: objs, NodeID: node}))
		}
	}
	for _, r := range eff.releases {
		r := r
		go func() {
			c, err := rt.conn(context.Background(), r.Owner.Addr)
			if err != nil {
				return // the owner is gone, and its objects with it
			}
			c.Send(proto.WorkerRemoveRef, proto.MustMarshal(&proto.RefUpdate{IDs: []ids.ObjectID{r.ID}, Holder: rt.self.WorkerID}))
		}()
	}
}

func (rt *Runtime) addRemoteRefs(objs []ids.ObjectID, holder ids.WorkerID) *ids.ObjectID {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	for i, id := range objs {
		if !rt.refs.AddRemote(id, holder) {
			return &objs[i]
		}
	}
	return nil
}

func (rt *Runtime) removeRemoteRefs(objs []ids.ObjectID, holder ids.WorkerID) {
	rt.mu.Lock()
	var eff refEffects
	for _, id := range objs {
		rt.collectLocked(&eff, []RefAction{rt.refs.RemoveRemote(id, holder)})
	}
	rt.mu.Unlock()
	eff.apply(rt)
}

// holdContained makes holder a holder of each ref in refs (nested in an
// object holder owns): local count for refs this process owns, an AddRef
// call to the owner otherwise.
func (rt *Runtime) holdContained(ctx context.Context, refs []proto.ObjRef, holder ids.WorkerID) error {
	for _, r := range refs {
		if r.Owner.WorkerID == rt.self.WorkerID {
			rt.mu.Lock()
			ok := rt.refs.AddRemote(r.ID, holder)
			rt.mu.Unlock()
			if !ok {
				return fmt.Errorf("%w: nested ref %s was already freed", ErrObjectLost, r.ID)
			}
			continue
		}
		c, err := rt.conn(ctx, r.Owner.Addr)
		if err == nil {
			_, err = c.Call(ctx, proto.WorkerAddRef, proto.MustMarshal(&proto.RefUpdate{IDs: []ids.ObjectID{r.ID}, Holder: holder}))
		}
		if err != nil {
			return fmt.Errorf("%w: nested ref %s: %v", ErrOwnerDied, r.ID, err)
		}
	}
	return nil
}

// encodeValue encodes v, into the node's store when it is larger than the
// inline limit. Large raw slices are encoded straight into shared memory.
// With toStore, even a small value goes to the store (a reply's inline
// budget is spent).
func (rt *Runtime) encodeValue(ctx context.Context, id ids.ObjectID, v any, toStore bool) (o *object, err error) {
	o, w, err := rt.encodeDeferred(id, v, toStore)
	if err != nil || w == nil {
		return o, err
	}
	if err := rt.writeStore(ctx, id, w.size, w.parts...); err != nil {
		return nil, err
	}
	return o, nil
}

// storeWrite is an encoded value still to be written to the store.
type storeWrite struct {
	id    ids.ObjectID
	size  int64
	parts [][]byte
}

// encodeDeferred is encodeValue without the store write: a value bound for
// the store comes back as an object already marked as stored and the write
// to do (writeStoreMany does several in a few round trips).
func (rt *Runtime) encodeDeferred(id ids.ObjectID, v any, toStore bool) (*object, *storeWrite, error) {
	o := newObject(true)
	if hdr, payload, ok := codec.RawParts(v); ok && (len(hdr)+len(payload) > rt.inline || toStore) {
		n := int64(len(hdr) + len(payload))
		o.inStore, o.size, o.node = true, n, rt.nodeID
		return o, &storeWrite{id: id, size: n, parts: [][]byte{hdr[:], payload}}, nil
	}
	b, err := codec.Marshal(v)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %w", ErrEncode, err)
	}
	if len(b) > rt.inline || toStore {
		o.inStore, o.size, o.node = true, int64(len(b)), rt.nodeID
		return o, &storeWrite{id: id, size: int64(len(b)), parts: [][]byte{b}}, nil
	}
	o.data, o.size = b, int64(len(b))
	return o, nil, nil
}

// writeStoreMany does the writes of a task with many returns: the creates
// go out together and one message seals them all, instead of two round
// trips to the node per object. Small batches take writeStore's path.
func (rt *Runtime) writeStoreMany(ctx context.Context, ws []*storeWrite) error {
	if len(ws) < 4 {
		for _, w := range ws {
			if err := rt.writeStore(ctx, w.id, w.size, w.parts...); err != nil {
				return err
			}
		}
		return nil
	}
	type createResult struct {
		payload []byte
		err     error
	}
	// Every create is sent before the first answer is awaited; each file
	// is written as its answer comes.
	calls := make([]chan createResult, len(ws))
	for i, w := range ws {
		ch := make(chan createResult, 1)
		calls[i] = ch
		rt.node.CallInline(proto.NodeStoreCreate, proto.MustMarshal(&proto.StoreCreate{ID: w.id, Size: w.size}),
			func(b []byte, err error) { ch <- createResult{b, err} })
	}
	var firstErr error
	created := make([]ids.ObjectID, 0, len(ws))
	for i, ch := range calls {
		r := <-ch // a call ends with an answer or with the connection
		err := r.err
		if err == nil {
			created = append(created, ws[i].id)
			if firstErr == nil {
				var sp proto.StorePath
				if err = proto.Unmarshal(r.payload, &sp); err == nil {
					err = objstore.WriteFile(sp.Path, ws[i].parts...)
				}
			}
		}
		if err != nil && firstErr == nil {
			firstErr = err
		}
	}
	if firstErr != nil {
		if len(created) > 0 {
			rt.node.Send(proto.NodeStoreAbort, proto.MustMarshal(&proto.ObjectIDs{IDs: created}))
		}
		return storeError(firstErr)
	}
	if _, err := rt.node.Call(ctx, proto.NodeStoreSeal, proto.MustMarshal(&proto.ObjectIDs{IDs: created})); err != nil {
		return fmt.Errorf("ray: object store seal: %w", err)
	}
	return nil
}

// writeStore creates object id of size bytes in the node's store and fills
// it with parts (one copy: see objstore.WriteFile).
func (rt *Runtime) writeStore(ctx context.Context, id ids.ObjectID, size int64, parts ...[]byte) error {
	if rt.storeCap > 0 && rt.storedSinceGC.Add(size) > rt.storeCap/4 {
		rt.storedSinceGC.Store(0)
		// Unreachable Refs release their objects from finalizers that run
		// after the collection, in another goroutine. Their deletes should
		// reach the node before this Create, so that the store can recycle
		// their files for it rather than make a new one (for a big object,
		// a copy into a recycled file is several times faster). There is
		// no way to wait for finalizers, so wait, at most 5 ms, for the
		// finalizer of a sentinel that dies in the same collection, and a
		// little more for the others queued with it.
		// Without the wait, about every other run of the 800 MiB put
		// benchmark made one more new file than needed.
		ran := make(chan struct{})
		sentinel := &struct{ _ [32]byte }{}
		runtime.SetFinalizer(sentinel, func(*struct{ _ [32]byte }) { close(ran) })
		sentinel = nil
		runtime.GC()
		select {
		case <-ran:
			time.Sleep(200 * time.Microsecond)
		case <-time.After(5 * time.Millisecond):
		}
	}
	req := proto.MustMarshal(&proto.StoreCreate{ID: id, Size: size})
	b, err := rt.node.Call(ctx, proto.NodeStoreCreate, req)
	if err != nil && isFullErr(err) {
		// Last resort before failing: collect, let the releases land, retry.
		runtime.GC()
		time.Sleep(10 * time.Millisecond)
		b, err = rt.node.Call(ctx, proto.NodeStoreCreate, req)
	}
	if err != nil {
		return storeError(err)
	}
	var sp proto.StorePath
	if err := proto.Unmarshal(b, &sp); err != nil {
		return err
	}
	err = objstore.WriteFile(sp.Path, parts...)
	ids := proto.MustMarshal(&proto.ObjectIDs{IDs: []ids.ObjectID{id}})
	if err != nil {
		rt.node.Send(proto.NodeStoreAbort, ids)
		if errors.Is(err, objstore.ErrObjectStoreFull) {
			return fmt.Errorf("%w: %v", ErrObjectStoreFull, err)
		}
		return fmt.Errorf("ray: writing object %s: %w", id, err)
	}
	if _, err := rt.node.Call(ctx, proto.NodeStoreSeal, ids); err != nil {
		return fmt.Errorf("ray: object store seal: %w", err)
	}
	return nil
}

// storeError is a failed create or write as the caller sees it: a full
// store, the node's or /dev/shm's, is ErrObjectStoreFull.
func storeError(err error) error {
	var re *rpc.RemoteError
	switch {
	case errors.As(err, &re) && isStoreFull(re.Msg):
		return fmt.Errorf("%w: %s", ErrObjectStoreFull, re.Msg)
	case errors.Is(err, objstore.ErrObjectStoreFull):
		return fmt.Errorf("%w: %v", ErrObjectStoreFull, err)
	}
	return fmt.Errorf("ray: object store: %w", err)
}

func isFullErr(err error) bool {
	var re *rpc.RemoteError
	return errors.As(err, &re) && isStoreFull(re.Msg)
}

func isStoreFull(msg string) bool {
	return (strings.Contains(msg, objstore.ErrObjectStoreFull.Error()) || strings.Contains(msg, objstore.ErrTooLarge.Error()))
}

// Put stores v as a new object owned by this process.
func (rt *Runtime) Put(ctx context.Context, v any) (*Handle, error) {
	id := ids.PutID(rt.tasks.Next(), 0)
	contained := collectRefs(v)
	o, err := rt.encodeValue(ctx, id, v, false)
	if err != nil {
		return nil, err
	}
	ref := proto.ObjRef{ID: id, Owner: rt.self}
	rt.mu.Lock()
	rt.refs.Own(ref)
	h, _ := rt.trackLocked(ref, true)
	rt.mu.Unlock()
	if len(contained) > 0 {
		if err := rt.holdContained(ctx, contained, rt.self.WorkerID); err != nil {
			return nil, err
		}
		o.contained = contained
	}
	rt.mu.Lock()
	rt.objects[id] = o
	o.complete()
	rt.completedLocked()
	rt.mu.Unlock()
	return h, nil
}

// Resolve waits for ref's value and returns its encoding: inline bytes, or
// a read-only view of shared memory.
func (rt *Runtime) Resolve(ctx context.Context, ref proto.ObjRef) (Arg, error) {
	o, err := rt.wait(ctx, ref, true)
	if err != nil {
		return Arg{}, err
	}
	return rt.argOf(ref.ID, o)
}

func (rt *Runtime) argOf(id ids.ObjectID, o *object) (Arg, error) {
	if o.err != nil {
		return Arg{}, errorFromInfo(o.err)
	}
	if o.inStore {
		if o.node != rt.nodeID && !o.node.IsZero() {
			// Another node has it: our node copies it into our store (once
			// for all local readers), then we map it like a local object.
			_, err := rt.node.Call(context.Background(), proto.NodePullObject,
				proto.MustMarshal(&proto.PullObject{ID: id, Size: o.size, NodeID: o.node}))
			if err != nil {
				return Arg{}, fmt.Errorf("%w: %s: %v", ErrObjectLost, id, err)
			}
		}
		view, err := objstore.MapReadOnly(filepath.Join(rt.store, id.String()), o.size)
		if err != nil {
			return Arg{}, fmt.Errorf("%w: %s: %v", ErrObjectLost, id, err)
		}
		return Arg{Data: view, View: true}, nil
	}
	return Arg{Data: o.data}, nil
}

// Get waits for a handle's value.
func (rt *Runtime) Get(ctx context.Context, h *Handle) (Arg, error) {
	if h.Err() != nil {
		return Arg{}, h.Err()
	}
	a, err := rt.Resolve(ctx, h.ref)
	runtime.KeepAlive(h)
	return a, err
}

// wait returns ref's object once done. cache keeps a borrowed object's
// record for later Gets (only while the process holds handles to it).
func (rt *Runtime) wait(ctx context.Context, ref proto.ObjRef, cache bool) (*object, error) {
	o, _, err := rt.locate(ref, cache)
	if err != nil {
		return nil, err
	}
	return rt.awaitObject(ctx, o)
}

// locate returns ref's object record, done or not, and starts fetching it
// from its owner if this process has no record of it. private says the
// record is the caller's alone (fetched for it and not kept), so its
// inline bytes are the caller's too.
func (rt *Runtime) locate(ref proto.ObjRef, cache bool) (o *object, private bool, err error) {
	rt.mu.Lock()
	o, ok := rt.objects[ref.ID]
	if ok {
		rt.mu.Unlock()
		return o, false, nil
	}
	if ref.Owner.WorkerID == rt.self.WorkerID {
		rt.mu.Unlock()
		return nil, false, fmt.Errorf("%w: %s was freed (no references remained)", ErrObjectLost, ref.ID)
	}
	o = newObject(false)
	private = true
	if cache && rt.refs.Tracked(ref.ID) {
		rt.objects[ref.ID] = o
		private = false
	}
	rt.mu.Unlock()
	go rt.fetch(ref, o)
	return o, private, nil
}

// awaitObject blocks until o is done, lending this worker's CPU to the
// node while it waits.
func (rt *Runtime) awaitObject(ctx context.Context, o *object) (*object, error) {
	rt.mu.Lock()
	if o.done {
		rt.mu.Unlock()
		return o, nil
	}
	ready := o.readyChan()
	rt.mu.Unlock()
	rt.setBlocked(true)
	defer rt.setBlocked(false)
	// Tasks pipelined behind this one on this worker must not wait for it:
	// it may be waiting for them.
	if tc, ok := TaskContextFrom(ctx); ok && tc.queue != nil {
		tc.queue.block()
		defer tc.queue.unblock()
	} else {
		rt.exec.unstickQueues() // a context not derived from the task's
	}
	select {
	case <-ready:
		return o, nil
	case <-ctx.Done():
		return nil, ctxErr(ctx)
	}
}

func ctxErr(ctx context.Context) error {
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return fmt.Errorf("%w: %w", ErrTimeout, ctx.Err())
	}
	return ctx.Err()
}

// fetch asks a borrowed object's owner for it and completes o.
func (rt *Runtime) fetch(ref proto.ObjRef, o *object) {
	var reply proto.ObjectReply
	c, err := rt.conn(context.Background(), ref.Owner.Addr)
	if err == nil {
		var b []byte
		b, err = c.Call(context.Background(), proto.WorkerGetObject, proto.MustMarshal(&proto.GetObject{ID: ref.ID}))
		if err == nil {
			err = proto.Unmarshal(b, &reply)
		}
	}
	rt.mu.Lock()
	if err != nil {
		o.err = &proto.ErrorInfo{Kind: proto.ErrKindOwnerDied, Msg: fmt.Sprintf("object %s: owner %s unreachable: %v", ref.ID, ref.Owner.Addr, err)}
	} else {
		o.data, o.inStore, o.size, o.node, o.err, o.contained = reply.Data, reply.InStore, reply.Size, reply.NodeID, reply.Err, reply.Contained
	}
	cbs := o.complete()
	rt.completedLocked()
	rt.mu.Unlock()
	runAll(cbs)
}

// serveGetObject answers a borrower once the object is done.
func (rt *Runtime) serveGetObject(c *rpc.Conn, reqID uint64, id ids.ObjectID) {
	rt.mu.Lock()
	o, ok := rt.objects[id]
	if !ok || !o.owned {
		rt.mu.Unlock()
		c.Reply(reqID, proto.MustMarshal(&proto.ObjectReply{Err: &proto.ErrorInfo{Kind: proto.ErrKindObjectLost,
			Msg: fmt.Sprintf("object %s is not (or no longer) held by its owner", id)}}))
		return
	}
	send := func() {
		m := o.reply()
		c.ReplyParts(reqID, proto.AppendObjectReplyHead(nil, m), m.Data)
	}
	if o.done {
		rt.mu.Unlock()
		send()
		return
	}
	o.onDone = append(o.onDone, send)
	rt.mu.Unlock()
}

// completedLocked wakes the Wait calls in progress: some object is done.
// With no Wait in progress it costs nothing.
func (rt *Runtime) completedLocked() {
	if rt.waiters > 0 {
		close(rt.epoch)
		rt.epoch = make(chan struct{})
	}
}

// ReadyAmong scans n handles in order (handle(i) gives the i-th) and
// returns the indexes of the first num that are ready, or nil if fewer
// than num are. It never blocks, and stops at the num-th ready one, so
// when results come in order it looks at a few handles, not all n.
func (rt *Runtime) ReadyAmong(n, num int, handle func(i int) *Handle) []int {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	var ready []int
	for i := 0; i < n && len(ready) < num; i++ {
		if rt.isDoneLocked(handle(i)) {
			ready = append(ready, i)
		}
	}
	if len(ready) < num {
		return nil
	}
	return ready
}

// isDoneLocked: h's call failed before submission, or its object is done.
func (rt *Runtime) isDoneLocked(h *Handle) bool {
	if h.Err() != nil {
		return true
	}
	o, ok := rt.objects[h.ref.ID]
	return ok && o.done
}

// Wait returns which of refs are ready once num of them are, or when
// timeout (<0: none) passes, in input order: at most num, the first ready
// ones in that order (as Ray's ray.wait). It scans in order and stops at
// num, so waiting on a long list whose head is ready costs little.
func (rt *Runtime) Wait(ctx context.Context, hs []*Handle, num int, timeout time.Duration) (ready []int, err error) {
	if num > len(hs) || num < 0 {
		return nil, fmt.Errorf("%w: Wait for %d of %d refs", ErrInvalidArgument, num, len(hs))
	}
	isDone := rt.isDoneLocked
	scan := func() []int {
		out := make([]int, 0, num)
		rt.mu.Lock()
		defer rt.mu.Unlock()
		for i, h := range hs {
			if len(out) == num {
				break
			}
			if isDone(h) {
				out = append(out, i)
			}
		}
		return out
	}
	if ready = scan(); len(ready) == num {
		return ready, nil
	}
	if timeout >= 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
	}
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	// Wake on every completion among the refs not yet done: owned objects
	// by a callback, borrowed ones by a fetch.
	rt.mu.Lock()
	rt.waiters++
	for _, h := range hs {
		if isDone(h) {
			continue
		}
		if o, ok := rt.objects[h.ref.ID]; ok && o.owned {
			continue // its completion closes the epoch
		}
		go func() { rt.wait(wctx, h.ref, true) }() // fetch; completes a cached record
	}
	rt.mu.Unlock()
	defer func() {
		rt.mu.Lock()
		rt.waiters--
		rt.mu.Unlock()
	}()
	for {
		rt.mu.Lock()
		epoch := rt.epoch
		rt.mu.Unlock()
		if ready = scan(); len(ready) == num {
			return ready, nil
		}
		select {
		case <-epoch:
		case <-ctx.Done():
			if ctx.Err() != context.DeadlineExceeded || timeout < 0 {
				return nil, ctx.Err()
			}
			return scan(), nil // timed out: what is ready
		}
	}
}
