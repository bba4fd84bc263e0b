package gcs

import (
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/goray/ray/internal/ids"
	"github.com/goray/ray/internal/proto"
	"github.com/goray/ray/internal/resources"
)

// nodeEntry is a node in the GCS's node table.
type nodeEntry struct {
	info     proto.NodeInfo
	lastSeen time.Time
}

// RegisterNode adds or refreshes a node.
func (g *GCS) RegisterNode(info proto.NodeInfo, now time.Time) {
	g.mu.Lock()
	defer g.mu.Unlock()
	info.Alive = true
	g.nodes[info.NodeID] = &nodeEntry{info: info, lastSeen: now}
}

// Heartbeat records a node's report and returns the cluster view. A node
// already declared dead stays dead (its processes are gone or will be).
func (g *GCS) Heartbeat(info proto.NodeInfo, now time.Time) (proto.ClusterView, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	e, ok := g.nodes[info.NodeID]
	if ok && !e.info.Alive {
		return proto.ClusterView{}, fmt.Errorf("gcs: node %s was declared dead: %s", info.NodeID, e.info.DeathReason)
	}
	info.Alive = true
	g.nodes[info.NodeID] = &nodeEntry{info: info, lastSeen: now}
	return g.viewLocked(), nil
}

func (g *GCS) viewLocked() proto.ClusterView {
	v := proto.ClusterView{Nodes: make([]proto.NodeInfo, 0, len(g.nodes))}
	for _, e := range g.nodes {
		v.Nodes = append(v.Nodes, e.info)
	}
	slices.SortFunc(v.Nodes, func(a, b proto.NodeInfo) int {
		if a.IsHead != b.IsHead {
			if a.IsHead {
				return -1
			}
			return 1
		}
		return compare(a.Addr, b.Addr)
	})
	return v
}

func compare(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// View is the current cluster view.
func (g *GCS) View() proto.ClusterView {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.viewLocked()
}

// CheckHealth declares dead every alive node not heard from within
// period*threshold, and returns them. The caller then calls NodeDied.
func (g *GCS) CheckHealth(now time.Time, period time.Duration, threshold int) []ids.NodeID {
	g.mu.Lock()
	defer g.mu.Unlock()
	var dead []ids.NodeID
	limit := period * time.Duration(threshold)
	for id, e := range g.nodes {
		if e.info.Alive && !e.info.IsHead && now.Sub(e.lastSeen) > limit {
			e.info.Alive = false
			e.info.DeathReason = fmt.Sprintf("missed health checks for %v", now.Sub(e.lastSeen).Round(time.Millisecond))
			dead = append(dead, id)
		}
	}
	return dead
}

// NodeDied handles a dead node: its actors restart elsewhere (if they may)
// or die.
func (g *GCS) NodeDied(id ids.NodeID) {
	g.mu.Lock()
	var victims []*actor
	for _, a := range g.actors {
		if a.node == id && a.info.State != proto.ActorDead {
			victims = append(victims, a)
		}
	}
	g.mu.Unlock()
	for _, a := range victims {
		g.died(a, "its node "+id.String()[:12]+" died", false)
	}
}

// RegisterJob records a driver's job.
func (g *GCS) RegisterJob(j proto.JobInfo) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.jobs[j.JobID] = j
}

// Job looks a job up.
func (g *GCS) Job(id ids.JobID) (proto.JobInfo, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	j, ok := g.jobs[id]
	if !ok {
		return j, fmt.Errorf("gcs: unknown job %s", id)
	}
	return j, nil
}

// JobFinished ends a job's non-detached actors (as Ray does when a driver
// exits).
func (g *GCS) JobFinished(id ids.JobID) {
	g.mu.Lock()
	var kill []ids.ActorID
	for aid, a := range g.actors {
		if a.spec.Creation.JobID == id && !a.spec.Detached && a.info.State != proto.ActorDead {
			kill = append(kill, aid)
		}
	}
	g.mu.Unlock()
	for _, aid := range kill {
		g.KillActor(aid, true)
	}
}

// Status summarizes the cluster for `goray status`: nodes, pending demands
// (infeasible when no alive node could ever fit them), actors.
func (g *GCS) Status() proto.ClusterStatus {
	g.mu.Lock()
	view := g.viewLocked()
	g.mu.Unlock()
	st := proto.ClusterStatus{Nodes: view.Nodes}
	type agg struct {
		res   map[string]float64
		count int
	}
	byKey := map[string]*agg{}
	var order []string
	for _, n := range view.Nodes {
		if !n.Alive {
			continue
		}
		for _, p := range n.Pending {
			set, err := resources.FromFloats(p)
			if err != nil {
				continue
			}
			k := set.Key()
			if byKey[k] == nil {
				byKey[k] = &agg{res: p}
				order = append(order, k)
			}
			byKey[k].count++
		}
	}
	for _, k := range order {
		a := byKey[k]
		set, _ := resources.FromFloats(a.res)
		feasible := false
		for _, n := range view.Nodes {
			if t, err := resources.FromFloats(n.Total); err == nil && n.Alive && t.Fits(set) {
				feasible = true
			}
		}
		st.Demands = append(st.Demands, proto.Demand{Resources: maps.Clone(a.res), Count: a.count, Infeasible: !feasible})
	}
	st.Actors = g.Actors()
	return st
}
