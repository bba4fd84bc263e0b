package node

import (
	"errors"
	"testing"

	"github.com/goray/ray/internal/ids"
	"github.com/goray/ray/internal/proto"
	"github.com/goray/ray/internal/resources"
)

func nodeInfo(id byte, addr string, total, avail map[string]float64) proto.NodeInfo {
	var n ids.NodeID
	n[0] = id
	return proto.NodeInfo{NodeID: n, Addr: addr, Alive: true, Total: total, Available: avail}
}

func TestPlace(t *testing.T) {
	// The seed's cluster: head {CPU 5, bob 5}, alice {CPU 2, alice 2},
	// ming {CPU 2, ming1 1, ming2 1}.
	head := nodeInfo(1, "h:1", map[string]float64{"CPU": 5, "bob": 5}, map[string]float64{"CPU": 5, "bob": 5})
	alice := nodeInfo(2, "a:1", map[string]float64{"CPU": 2, "alice": 2}, map[string]float64{"CPU": 2, "alice": 2})
	ming := nodeInfo(3, "m:1", map[string]float64{"CPU": 2, "ming1": 1, "ming2": 1}, map[string]float64{"CPU": 1, "ming1": 1, "ming2": 1})
	busyHead := head
	busyHead.Available = map[string]float64{"CPU": 0, "bob": 5}
	deadAlice := alice
	deadAlice.Alive = false
	view := []proto.NodeInfo{head, alice, ming}
	cases := []struct {
		name    string
		self    proto.NodeInfo
		view    []proto.NodeInfo
		req     proto.LeaseRequest
		res     map[string]float64
		want    placement
		wantErr error
	}{
		{"fits here", head, view, proto.LeaseRequest{}, map[string]float64{"CPU": 1}, placement{local: true}, nil},
		{"custom resource elsewhere", head, view, proto.LeaseRequest{}, map[string]float64{"CPU": 1, "alice": 1}, placement{spillTo: "a:1"}, nil},
		{"busy here: most free CPU", busyHead, view, proto.LeaseRequest{}, map[string]float64{"CPU": 1}, placement{spillTo: "a:1"}, nil},
		{"busy everywhere: queue here", busyHead, []proto.NodeInfo{busyHead}, proto.LeaseRequest{}, map[string]float64{"CPU": 1}, placement{local: true}, nil},
		{"infeasible: waits here", head, view, proto.LeaseRequest{}, map[string]float64{"GPU": 1}, placement{local: true}, nil},
		{"dead node skipped", head, []proto.NodeInfo{head, deadAlice}, proto.LeaseRequest{}, map[string]float64{"alice": 1}, placement{local: true}, nil},
		{"already spilled", head, view, proto.LeaseRequest{NoSpill: true}, map[string]float64{"alice": 1}, placement{local: true}, nil},
		{"affinity", head, view, proto.LeaseRequest{Strategy: StrategyAffinity, AffinityNode: ming.NodeID}, map[string]float64{"CPU": 1}, placement{spillTo: "m:1"}, nil},
		{"affinity self", head, view, proto.LeaseRequest{Strategy: StrategyAffinity, AffinityNode: head.NodeID}, map[string]float64{"CPU": 1}, placement{local: true}, nil},
		{"hard affinity to dead node", head, []proto.NodeInfo{head, deadAlice}, proto.LeaseRequest{Strategy: StrategyAffinity, AffinityNode: alice.NodeID}, map[string]float64{"CPU": 1}, placement{}, ErrUnschedulable},
		{"soft affinity to dead node", head, []proto.NodeInfo{head, deadAlice}, proto.LeaseRequest{Strategy: StrategyAffinity, AffinityNode: alice.NodeID, AffinitySoft: true}, map[string]float64{"CPU": 1}, placement{local: true}, nil},
	}
	for _, c := range cases {
		res, _ := resources.FromFloats(c.res)
		rr := 0
		got, err := place(&c.req, res, c.self, c.view, &rr)
		if !errors.Is(err, c.wantErr) || got != c.want {
			t.Errorf("%s: got %+v, %v; want %+v, %v", c.name, got, err, c.want, c.wantErr)
		}
	}
	// SPREAD cycles over every node that can fit.
	seen := map[string]int{}
	rr := 0
	res, _ := resources.FromFloats(map[string]float64{"CPU": 1})
	for range 6 {
		p, _ := place(&proto.LeaseRequest{Strategy: StrategySpread}, res, head, view, &rr)
		key := p.spillTo
		if p.local {
			key = "local"
		}
		seen[key]++
	}
	if seen["local"] != 2 || seen["a:1"] != 2 || seen["m:1"] != 2 {
		t.Fatalf("SPREAD placements: %v", seen)
	}
}
