package ray

import "github.com/goray/ray/internal/proto"

// NodeStatus exposes the embedded node's status to tests.
func NodeStatus() proto.NodeStatusReply {
	state.Lock()
	defer state.Unlock()
	return state.node.Status()
}

// StoreDir is the embedded node's shared-memory directory.
func StoreDir() string {
	state.Lock()
	defer state.Unlock()
	return state.node.StoreDir()
}
