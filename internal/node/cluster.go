package node

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/goray/ray/internal/gcs"
	"github.com/goray/ray/internal/ids"
	"github.com/goray/ray/internal/objstore"
	"github.com/goray/ray/internal/proto"
	"github.com/goray/ray/internal/rpc"
)

// objectChunk is the size of one object read during a pull.
const objectChunk = 8 << 20

// TCPAddr is the node's cluster address (host:port), "" when embedded.
func (n *Node) TCPAddr() string { return strings.TrimPrefix(n.tcpAddr, "tcp:") }

// startCluster opens the node's one TCP port and joins (or, on the head,
// starts) the cluster.
func (n *Node) startCluster() error {
	ln, err := rpc.Listen("tcp:"+n.cfg.ListenAddr, n.cfg.Token)
	if err != nil {
		return err
	}
	ln.Route = n.route
	n.tcp = ln
	n.tcpAddr = ln.Addr()
	go ln.Serve(func(c *rpc.Conn) rpc.Handler {
		go func() { <-c.Done(); n.connClosed(c) }()
		return n
	})
	info := n.selfInfo()
	if n.cfg.IsHead {
		n.gcs.RegisterNode(info, time.Now())
		n.setView(n.gcs.View())
	} else {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		head, err := rpc.Dial(ctx, "tcp:"+n.cfg.HeadAddr, n.cfg.Token, n)
		if err != nil {
			ln.Close()
			return fmt.Errorf("node: join the head at %s: %w", n.cfg.HeadAddr, err)
		}
		n.head = head
		b, err := head.Call(ctx, proto.GCSRegisterNode, proto.MustMarshal(&proto.Heartbeat{Node: info}))
		if err != nil {
			ln.Close()
			head.Close()
			return fmt.Errorf("node: register with the head: %w", err)
		}
		var v proto.ClusterView
		if err := proto.Unmarshal(b, &v); err != nil {
			return err
		}
		n.setView(v)
	}
	n.wg.Add(1)
	go n.heartbeatLoop()
	return nil
}

// route resolves a routed connection's target ("w/<worker id>") to the
// process's local socket.
func (n *Node) route(target string) (string, bool) {
	hexID, ok := strings.CutPrefix(target, "w/")
	if !ok {
		return "", false
	}
	u, err := ids.ParseNodeID(hexID)
	if err != nil {
		return "", false
	}
	w := ids.WorkerID(u)
	n.mu.Lock()
	defer n.mu.Unlock()
	if p, ok := n.procs[w]; ok && p.localAddr != "" {
		return p.localAddr, true
	}
	if a, ok := n.drivers[w]; ok {
		return a, true
	}
	return "", false
}

// selfInfo is this node's report for the GCS.
func (n *Node) selfInfo() proto.NodeInfo {
	n.mu.Lock()
	w, _, _ := n.sched.Counts()
	var pending []map[string]float64
	for _, r := range n.sched.Pending() {
		pending = append(pending, r.Floats())
	}
	info := proto.NodeInfo{NodeID: n.id, Addr: n.TCPAddr(), IsHead: n.cfg.IsHead, Alive: true, Labels: n.cfg.Labels,
		Total: n.sched.Total().Floats(), Available: n.sched.Available().Floats(), Workers: w, PID: os.Getpid(), Pending: pending}
	n.mu.Unlock()
	st := n.store.Stats()
	info.StoreUsed, info.StoreCapacity = st.Used, st.Capacity
	return info
}

func (n *Node) setView(v proto.ClusterView) {
	n.mu.Lock()
	n.view = v.Nodes
	n.mu.Unlock()
}

func (n *Node) heartbeatLoop() {
	defer n.wg.Done()
	period := min(n.cfg.System.HealthCheckPeriod, 200*time.Millisecond)
	if period <= 0 {
		period = 200 * time.Millisecond
	}
	t := time.NewTicker(period)
	defer t.Stop()
	for {
		select {
		case <-n.stop:
			return
		case now := <-t.C:
			info := n.selfInfo()
			if n.cfg.IsHead {
				n.gcs.Heartbeat(info, now)
				dead := n.gcs.CheckHealth(now, n.cfg.System.HealthCheckPeriod, n.cfg.System.HealthCheckFailureThreshold)
				// The view must show the deaths before anything is placed
				// again (restarting the dead nodes' actors, say).
				n.setView(n.gcs.View())
				for _, d := range dead {
					n.log.Warn("node declared dead", "node", d.String()[:12])
					go n.gcs.NodeDied(d)
				}
			} else {
				ctx, cancel := context.WithTimeout(context.Background(), n.cfg.System.HealthCheckTimeout)
				b, err := n.head.Call(ctx, proto.GCSHeartbeat, proto.MustMarshal(&proto.Heartbeat{Node: info}))
				cancel()
				var v proto.ClusterView
				if err == nil && proto.Unmarshal(b, &v) == nil {
					n.setView(v)
				}
				if re, ok := err.(*rpc.RemoteError); ok && strings.Contains(re.Msg, "declared dead") {
					// Fail-stop, as Ray's raylet does: the cluster has
					// given up on this node and moved its work elsewhere.
					n.log.Error("the head declared this node dead; stopping", "err", err)
					go n.Close()
					return
				}
			}
			n.respill()
		}
	}
}

// respill moves queued requests that can never fit here to a node where
// they now can (infeasible work runs once a fitting node joins).
func (n *Node) respill() {
	n.mu.Lock()
	self := n.selfInfoLocked()
	view := n.view
	var moved []struct {
		r  *LeaseReq
		to string
	}
	n.sched.TakeQueued(func(r *LeaseReq) bool {
		if total, _ := n.sched.Fits(r.Resources); total {
			return true
		}
		p, err := place(&proto.LeaseRequest{}, r.Resources, self, view, &n.rr)
		if err != nil || p.local {
			return true
		}
		moved = append(moved, struct {
			r  *LeaseReq
			to string
		}{r, p.spillTo})
		return false
	})
	n.mu.Unlock()
	for _, m := range moved {
		m.r.Reply.(replyFunc)(gcs.Grant{SpillTo: m.to}, nil)
	}
}

func (n *Node) selfInfoLocked() proto.NodeInfo {
	return proto.NodeInfo{NodeID: n.id, Addr: n.TCPAddr(), Alive: true,
		Total: n.sched.Total().Floats(), Available: n.sched.Available().Floats()}
}

// peer returns a connection to another node's service, dialing once.
func (n *Node) peer(ctx context.Context, addr string) (*rpc.Conn, error) {
	n.mu.Lock()
	c, ok := n.peers[addr]
	n.mu.Unlock()
	if ok && c.Err() == nil {
		return c, nil
	}
	c, err := rpc.Dial(ctx, "tcp:"+addr, n.cfg.Token, n)
	if err != nil {
		return nil, err
	}
	n.mu.Lock()
	if old, ok := n.peers[addr]; ok && old.Err() == nil {
		n.mu.Unlock()
		c.Close()
		return old, nil
	}
	n.peers[addr] = c
	n.mu.Unlock()
	return c, nil
}

// peerOf finds a node's address in the view.
func (n *Node) peerAddr(id ids.NodeID) (string, bool) {
	n.mu.Lock()
	defer n.mu.Unlock()
	for _, v := range n.view {
		if v.NodeID == id && v.Alive {
			return v.Addr, true
		}
	}
	return "", false
}

// gcsCall calls the GCS: in process on the head, through the head's
// connection elsewhere.
func (n *Node) gcsCall(ctx context.Context, method byte, payload []byte) ([]byte, error) {
	if n.head != nil {
		return n.head.Call(ctx, method, payload)
	}
	done := make(chan struct{})
	var out []byte
	var err error
	n.handleGCS(method, payload, func(b []byte, e error) { out, err = b, e; close(done) })
	select {
	case <-done:
		return out, err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// handleGCS serves a GCS method on the head. reply is called once.
func (n *Node) handleGCS(method byte, payload []byte, reply func([]byte, error)) {
	now := time.Now()
	switch method {
	case proto.GCSRegisterNode, proto.GCSHeartbeat:
		var m proto.Heartbeat
		if err := proto.Unmarshal(payload, &m); err != nil {
			reply(nil, err)
			return
		}
		if method == proto.GCSRegisterNode {
			n.gcs.RegisterNode(m.Node, now)
			reply(proto.MustMarshal(ptr(n.gcs.View())), nil)
			return
		}
		v, err := n.gcs.Heartbeat(m.Node, now)
		if err != nil {
			reply(nil, err)
			return
		}
		reply(proto.MustMarshal(&v), nil)
	case proto.GCSGetNodes:
		reply(proto.MustMarshal(ptr(n.gcs.View())), nil)
	case proto.GCSClusterStatus:
		reply(proto.MustMarshal(ptr(n.gcs.Status())), nil)
	case proto.GCSRegisterJob:
		var m proto.JobInfo
		if err := proto.Unmarshal(payload, &m); err != nil {
			reply(nil, err)
			return
		}
		n.gcs.RegisterJob(m)
		reply(nil, nil)
	case proto.GCSGetJob:
		var m proto.GetJob
		if err := proto.Unmarshal(payload, &m); err != nil {
			reply(nil, err)
			return
		}
		j, err := n.gcs.Job(m.JobID)
		if err != nil {
			reply(nil, err)
			return
		}
		reply(proto.MustMarshal(&j), nil)
	case proto.GCSJobFinished:
		var m proto.GetJob
		if err := proto.Unmarshal(payload, &m); err == nil {
			go n.gcs.JobFinished(m.JobID)
		}
		reply(nil, nil)
	case proto.GCSCreateActor:
		var m proto.ActorSpec
		if err := proto.Unmarshal(payload, &m); err != nil {
			reply(nil, err)
			return
		}
		reply(nil, n.gcs.CreateActor(m))
	case proto.GCSGetActor:
		var m proto.GetActor
		if err := proto.Unmarshal(payload, &m); err != nil {
			reply(nil, err)
			return
		}
		n.gcs.GetActor(m, func(info proto.ActorInfo, err error) {
			if err != nil {
				reply(nil, err)
				return
			}
			reply(proto.MustMarshal(&info), nil)
		})
	case proto.GCSGetNamedActor:
		var m proto.GetNamedActor
		if err := proto.Unmarshal(payload, &m); err != nil {
			reply(nil, err)
			return
		}
		info, err := n.gcs.GetNamedActor(m.Name, m.Namespace)
		if err != nil {
			reply(nil, err)
			return
		}
		reply(proto.MustMarshal(&info), nil)
	case proto.GCSKillActor:
		var m proto.KillActor
		if err := proto.Unmarshal(payload, &m); err != nil {
			reply(nil, err)
			return
		}
		reply(nil, n.gcs.KillActor(m.ActorID, m.NoRestart))
	case proto.GCSKVPut, proto.GCSKVGet, proto.GCSKVDel, proto.GCSKVKeys:
		var m proto.KVRequest
		if err := proto.Unmarshal(payload, &m); err != nil {
			reply(nil, err)
			return
		}
		out := n.gcs.KV(method, m)
		reply(proto.MustMarshal(&out), nil)
	default:
		reply(nil, fmt.Errorf("gcs: unknown method %d", method))
	}
}

func ptr[T any](v T) *T { return &v }

func isGCSMethod(m byte) bool {
	switch m {
	case proto.GCSCreateActor, proto.GCSGetActor, proto.GCSGetNamedActor, proto.GCSKillActor,
		proto.GCSRegisterNode, proto.GCSHeartbeat, proto.GCSClusterStatus, proto.GCSRegisterJob,
		proto.GCSGetJob, proto.GCSGetNodes, proto.GCSJobFinished,
		proto.GCSKVPut, proto.GCSKVGet, proto.GCSKVDel, proto.GCSKVKeys:
		return true
	}
	return false
}

// The GCS's view of the cluster (gcs.NodeAPI).

type replyFunc = func(gcs.Grant, error)

// LeaseForActor implements gcs.NodeAPI: place the actor's lease on a node
// of the cluster and lease a worker there.
func (n *Node) LeaseForActor(req proto.LeaseRequest, done func(gcs.Grant, error)) {
	n.leaseForActor(req, 0, done)
}

// leaseForActor places the actor's lease; a spill target that turns out
// unreachable (dead, not yet out of the view) is retried from the top.
func (n *Node) leaseForActor(r proto.LeaseRequest, try int, done func(gcs.Grant, error)) {
	req := &r
	n.requestLease(req, nil, func(g gcs.Grant, err error) {
		if err != nil || g.SpillTo == "" {
			if err == nil {
				g.Addr = n.publicAddr(g.WorkerID, g.Addr)
			}
			done(g, err)
			return
		}
		go func() {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			var lg proto.LeaseGrant
			c, err := n.peer(ctx, g.SpillTo)
			if err == nil {
				req.NoSpill = true
				var b []byte
				b, err = c.Call(context.Background(), proto.NodeRequestLease, proto.MustMarshal(req))
				if err == nil {
					err = proto.Unmarshal(b, &lg)
				}
			}
			if err != nil {
				if _, remote := err.(*rpc.RemoteError); !remote && try < maxActorSpillTries {
					time.Sleep(100 * time.Millisecond)
					r.NoSpill = false
					n.leaseForActor(r, try+1, done)
					return
				}
				done(gcs.Grant{}, err)
				return
			}
			done(gcs.Grant{LeaseID: lg.LeaseID, WorkerID: lg.WorkerID, Addr: lg.WorkerAddr, PID: lg.WorkerPID, NodeID: lg.NodeID}, nil)
		}()
	})
}

// maxActorSpillTries bounds retries of an actor lease whose target node is
// unreachable.
const maxActorSpillTries = 50

// ActorCreated implements gcs.NodeAPI.
func (n *Node) ActorCreated(node ids.NodeID, leaseID uint64, hold bool) {
	if node == n.id || node.IsZero() {
		n.mu.Lock()
		acts := n.sched.ActorCreated(leaseID, hold, time.Now())
		n.mu.Unlock()
		n.do(acts)
		return
	}
	if addr, ok := n.peerAddr(node); ok {
		if c, err := n.peer(context.Background(), addr); err == nil {
			c.Send(proto.NodeActorCreated, proto.MustMarshal(&proto.ReturnLease{LeaseID: leaseID, ActorHold: hold}))
		}
	}
}

// KillActorWorker implements gcs.NodeAPI.
func (n *Node) KillActorWorker(node ids.NodeID, leaseID uint64, w ids.WorkerID) {
	if node == n.id || node.IsZero() {
		n.kill(w)
		return
	}
	if addr, ok := n.peerAddr(node); ok {
		if c, err := n.peer(context.Background(), addr); err == nil {
			c.Send(proto.NodeKillWorker, proto.MustMarshal(&proto.KillWorker{WorkerID: w, Reason: "actor killed"}))
		}
	}
}

// pullObject copies an object from the node that has it into this node's
// store, once however many readers ask.
func (n *Node) pullObject(ctx context.Context, m *proto.PullObject) error {
	if _, _, sealed, ok := n.store.Lookup(m.ID); ok && sealed {
		return nil
	}
	n.mu.Lock()
	p, ok := n.pulls[m.ID]
	if !ok {
		p = &pull{done: make(chan struct{})}
		n.pulls[m.ID] = p
		go func() {
			p.err = n.doPull(m)
			if p.err == nil {
				n.pullsDone.Add(1)
			}
			n.mu.Lock()
			delete(n.pulls, m.ID)
			n.mu.Unlock()
			close(p.done)
		}()
	}
	n.mu.Unlock()
	select {
	case <-p.done:
		return p.err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// PullsDone counts objects this node has copied from other nodes.
func (n *Node) PullsDone() int64 { return n.pullsDone.Load() }

type pull struct {
	done chan struct{}
	err  error
}

func (n *Node) doPull(m *proto.PullObject) error {
	addr, ok := n.peerAddr(m.NodeID)
	if !ok {
		return fmt.Errorf("node: object %s is on node %s, which is not alive", m.ID, m.NodeID)
	}
	ctx := context.Background()
	c, err := n.peer(ctx, addr)
	if err != nil {
		return err
	}
	path, err := n.store.Create(ctx, m.ID, m.Size)
	if err != nil {
		if errors.Is(err, objstore.ErrObjectExists) {
			_, _, err = n.store.Wait(ctx, m.ID)
		}
		return err
	}
	// OpenFile holds the file's lock while we write: the store must not
	// recycle it under us (it may itself be a recycled file).
	f, err := objstore.OpenFile(path, os.O_WRONLY)
	if err != nil {
		n.store.Abort(m.ID)
		return err
	}
	// Pipeline the chunk reads: several in flight, written in order.
	type chunk struct {
		ch  chan struct{}
		b   []byte
		err error
	}
	const window = 4
	var off int64
	var queue []*chunk
	issue := func() {
		ln := int(min(int64(objectChunk), m.Size-off))
		ck := &chunk{ch: make(chan struct{})}
		first := off == 0
		req := proto.MustMarshal(&proto.ReadObject{ID: m.ID, Offset: off, Length: ln, Holder: map[bool]string{true: n.TCPAddr()}[first]})
		c.CallAsync(proto.NodeReadObject, req, func(b []byte, err error) { ck.b, ck.err = b, err; close(ck.ch) })
		queue = append(queue, ck)
		off += int64(ln)
	}
	var written int64
	for written < m.Size && err == nil {
		for len(queue) < window && off < m.Size {
			issue()
		}
		ck := queue[0]
		queue = queue[1:]
		<-ck.ch
		if ck.err != nil {
			err = ck.err
			break
		}
		if _, err = f.WriteAt(ck.b, written); err != nil {
			break
		}
		written += int64(len(ck.b))
		if len(ck.b) == 0 {
			err = io.ErrUnexpectedEOF
		}
	}
	for _, ck := range queue {
		<-ck.ch
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = n.store.Seal(m.ID)
	}
	if err != nil {
		n.store.Abort(m.ID)
		return fmt.Errorf("node: pulling %s from %s: %w", m.ID, addr, err)
	}
	return nil
}

// readObject serves one chunk of a sealed object to a pulling node and
// remembers the puller, so its copy is deleted with the primary.
func (n *Node) readObject(m *proto.ReadObject) ([]byte, error) {
	if m.Length <= 0 || m.Length > objectChunk || m.Offset < 0 {
		return nil, fmt.Errorf("node: bad object read")
	}
	path, size, sealed, ok := n.store.Lookup(m.ID)
	if !ok || !sealed {
		return nil, fmt.Errorf("node: object %s is not here", m.ID)
	}
	if m.Holder != "" {
		n.mu.Lock()
		hs := n.holders[m.ID]
		if !contains(hs, m.Holder) {
			n.holders[m.ID] = append(hs, m.Holder)
		}
		n.mu.Unlock()
	}
	// OpenFile holds the file's lock while we read, so that a Delete
	// meanwhile cannot recycle the file and change the bytes.
	f, err := objstore.OpenFile(path, os.O_RDONLY)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	ln := min(int64(m.Length), size-m.Offset)
	if ln <= 0 {
		return nil, nil
	}
	buf := make([]byte, ln)
	k, err := f.ReadAt(buf, m.Offset)
	if err != nil && err != io.EOF {
		return nil, err
	}
	return buf[:k], nil
}

func contains(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}

// deleteObjects deletes objects here (and their copies on nodes that
// pulled them), or forwards the delete to the node that has them.
func (n *Node) deleteObjects(m *proto.ObjectIDs) {
	if !m.NodeID.IsZero() && m.NodeID != n.id {
		if addr, ok := n.peerAddr(m.NodeID); ok {
			if c, err := n.peer(context.Background(), addr); err == nil {
				fwd := *m
				c.Send(proto.NodeStoreDelete, proto.MustMarshal(&fwd))
			}
		}
		return
	}
	copies := map[string][]ids.ObjectID{}
	n.mu.Lock()
	for _, id := range m.IDs {
		for _, h := range n.holders[id] {
			copies[h] = append(copies[h], id)
		}
		delete(n.holders, id)
	}
	n.mu.Unlock()
	for _, id := range m.IDs {
		n.store.Delete(id)
	}
	for addr, objs := range copies {
		if c, err := n.peer(context.Background(), addr); err == nil {
			c.Send(proto.NodeStoreDelete, proto.MustMarshal(&proto.ObjectIDs{IDs: objs}))
		}
	}
}
