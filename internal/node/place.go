package node

import (
	"errors"
	"fmt"
	"slices"

	"github.com/goray/ray/internal/ids"
	"github.com/goray/ray/internal/proto"
	"github.com/goray/ray/internal/resources"
)

// ErrUnschedulable: a hard node-affinity request names a node that is not
// alive.
var ErrUnschedulable = errors.New("ray: task unschedulable")

// Strategies (LeaseRequest.Strategy).
const (
	StrategyDefault  = ""
	StrategySpread   = "SPREAD"
	StrategyAffinity = "NODE_AFFINITY"
)

// placement is where a lease request should go: here (local), or spilled
// to the node at spillTo.
type placement struct {
	local   bool
	spillTo string
}

// place decides a lease request's node from the cluster view, without I/O.
// self is this node (its Total/Available current); view holds the others'
// last reported state. rr is the SPREAD round-robin counter.
//
// Default (Ray's hybrid policy, simplified): here if it fits now; else the
// alive node where it fits now with the most free CPU; else here if it can
// ever fit here (queue); else a node where it can ever fit; else here, as
// infeasible, until a node that fits joins.
func place(req *proto.LeaseRequest, res resources.Set, self proto.NodeInfo, view []proto.NodeInfo, rr *int) (placement, error) {
	fits := func(m map[string]float64) bool {
		s, err := resources.FromFloats(m)
		return err == nil && s.Fits(res)
	}
	selfTotal, selfNow := fits(self.Total), fits(self.Available)
	others := make([]proto.NodeInfo, 0, len(view))
	for _, n := range view {
		if n.Alive && n.NodeID != self.NodeID && n.Addr != "" {
			others = append(others, n)
		}
	}
	slices.SortFunc(others, func(a, b proto.NodeInfo) int { return compareIDs(a.NodeID, b.NodeID) })
	if req.NoSpill {
		return placement{local: true}, nil
	}
	switch req.Strategy {
	case StrategyAffinity:
		if req.AffinityNode == self.NodeID {
			return placement{local: true}, nil
		}
		for _, n := range others {
			if n.NodeID == req.AffinityNode {
				return placement{spillTo: n.Addr}, nil
			}
		}
		if !req.AffinitySoft {
			return placement{}, fmt.Errorf("%w: node affinity to %s, which is not alive", ErrUnschedulable, req.AffinityNode)
		}
	case StrategySpread:
		cands := []proto.NodeInfo{}
		if selfTotal {
			cands = append(cands, self)
		}
		for _, n := range others {
			if fits(n.Total) {
				cands = append(cands, n)
			}
		}
		if len(cands) > 0 {
			*rr++
			c := cands[*rr%len(cands)]
			if c.NodeID == self.NodeID {
				return placement{local: true}, nil
			}
			return placement{spillTo: c.Addr}, nil
		}
	}
	if selfNow {
		return placement{local: true}, nil
	}
	best, bestCPU := "", -1.0
	for _, n := range others {
		if fits(n.Available) && n.Available["CPU"] > bestCPU {
			best, bestCPU = n.Addr, n.Available["CPU"]
		}
	}
	if best != "" {
		return placement{spillTo: best}, nil
	}
	if selfTotal {
		return placement{local: true}, nil
	}
	for _, n := range others {
		if fits(n.Total) {
			return placement{spillTo: n.Addr}, nil
		}
	}
	return placement{local: true}, nil // infeasible for now: waits here
}

func compareIDs(a, b ids.NodeID) int {
	for i := range a {
		if a[i] != b[i] {
			return int(a[i]) - int(b[i])
		}
	}
	return 0
}
