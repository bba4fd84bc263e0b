package ray

import (
	"context"
)

// NodeInfo describes one node of the cluster (Ray's ray.nodes()).
type NodeInfo struct {
	NodeID    string
	Address   string // host:port of the node's port ("" for the embedded node)
	IsHead    bool
	Alive     bool
	Resources map[string]float64 // totals
	Available map[string]float64
	Labels    map[string]string
}

// Nodes lists the cluster's nodes, dead ones included.
func Nodes(ctx context.Context) ([]NodeInfo, error) {
	state.Lock()
	rt, n := state.rt, state.node
	state.Unlock()
	if rt == nil {
		return nil, ErrNotInitialized
	}
	if n != nil {
		st := n.Status()
		return []NodeInfo{{NodeID: st.NodeID.String(), IsHead: true, Alive: true, Resources: st.Total, Available: st.Available}}, nil
	}
	infos, err := rt.Nodes(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]NodeInfo, len(infos))
	for i, ni := range infos {
		out[i] = NodeInfo{NodeID: ni.NodeID.String(), Address: ni.Addr, IsHead: ni.IsHead, Alive: ni.Alive,
			Resources: ni.Total, Available: ni.Available, Labels: ni.Labels}
	}
	return out, nil
}
