package ray

import (
	"context"

	"github.com/goray/ray/internal/core"
)

// RuntimeContext tells code where it runs (Ray's runtime context).
type RuntimeContext struct {
	JobID    string
	NodeID   string
	WorkerID string
	// TaskID and ActorID are empty in the driver; ActorID is set inside
	// actor methods.
	TaskID  string
	ActorID string
	// Attempt counts retries of the current task (0 for the first run).
	Attempt int
	// IsWorker is false in the driver.
	IsWorker bool
}

// GetRuntimeContext returns the runtime context. Pass the context a task or
// method received (functions registered with a *Ctx constructor get one) to
// learn the task's and actor's IDs; any context works for the rest.
func GetRuntimeContext(ctx context.Context) RuntimeContext {
	rt := core.Current()
	if rt == nil {
		return RuntimeContext{}
	}
	rc := RuntimeContext{JobID: rt.JobID().String(), NodeID: rt.NodeID().String(), WorkerID: rt.WorkerID().String(), IsWorker: rt.IsWorker()}
	if tc, ok := core.TaskContextFrom(ctx); ok {
		rc.TaskID = tc.TaskID.String()
		if !tc.ActorID.IsZero() {
			rc.ActorID = tc.ActorID.String()
		}
		rc.Attempt = tc.Attempt
	}
	return rc
}
