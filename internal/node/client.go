package node

import (
	"context"
	"fmt"

	"github.com/goray/ray/internal/proto"
	"github.com/goray/ray/internal/rpc"
)

// QueryStatus asks the cluster whose head listens at addr (host:port) for
// its status: nodes, resources, pending and infeasible demands, actors.
func QueryStatus(ctx context.Context, addr, token string) (*proto.ClusterStatus, error) {
	c, err := rpc.Dial(ctx, "tcp:"+addr, token, nil)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	b, err := c.Call(ctx, proto.GCSClusterStatus, nil)
	if err != nil {
		return nil, fmt.Errorf("goray: status from %s: %w", addr, err)
	}
	var st proto.ClusterStatus
	if err := proto.Unmarshal(b, &st); err != nil {
		return nil, err
	}
	return &st, nil
}

// GetNodes asks the cluster whose head listens at addr for its nodes.
func GetNodes(ctx context.Context, addr, token string) ([]proto.NodeInfo, error) {
	c, err := rpc.Dial(ctx, "tcp:"+addr, token, nil)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	b, err := c.Call(ctx, proto.GCSGetNodes, nil)
	if err != nil {
		return nil, fmt.Errorf("goray: nodes from %s: %w", addr, err)
	}
	var v proto.ClusterView
	if err := proto.Unmarshal(b, &v); err != nil {
		return nil, err
	}
	return v.Nodes, nil
}
