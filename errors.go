package ray

import (
	"github.com/goray/ray/internal/core"
	"github.com/goray/ray/internal/node"
)

// Errors returned by goray. Test for them with errors.Is.
var (
	// ErrNotInitialized: a call needs ray.Init first.
	ErrNotInitialized = core.ErrNotInitialized
	// ErrTaskCancelled: Get of a task cancelled with Cancel.
	ErrTaskCancelled = core.ErrTaskCancelled
	// ErrWorkerCrashed: the worker running a task died and the task's
	// retries (MaxRetries) are used up.
	ErrWorkerCrashed = core.ErrWorkerCrashed
	// ErrActorDied: the actor is dead (killed, crashed without restarts
	// left, or its constructor failed).
	ErrActorDied = core.ErrActorDied
	// ErrActorNotFound: GetActor found no live actor of that name.
	ErrActorNotFound = core.ErrActorNotFound
	// ErrNameTaken: another live actor has that name in the namespace.
	ErrNameTaken = core.ErrNameTaken
	// ErrObjectLost: the object's value is gone (freed, or its node died).
	ErrObjectLost = core.ErrObjectLost
	// ErrOwnerDied: the process that owned the object is gone.
	ErrOwnerDied = core.ErrOwnerDied
	// ErrObjectStoreFull: the node's store stayed full for the grace period.
	ErrObjectStoreFull = core.ErrObjectStoreFull
	// ErrTimeout: a Get's context deadline passed (errors.Is also matches
	// context.DeadlineExceeded).
	ErrTimeout = core.ErrTimeout
	// ErrUnknownFunction: the function, actor type or method is not
	// registered in the binary running the task.
	ErrUnknownFunction = core.ErrUnknownFunction
	// ErrInvalidArgument: a call's argument has the wrong type or count, or
	// an option is invalid.
	ErrInvalidArgument = core.ErrInvalidArgument
	// ErrEncode: a value cannot be encoded (channels, functions, ...).
	ErrEncode = core.ErrEncode
	// ErrDecode: a value cannot be decoded as the requested type.
	ErrDecode = core.ErrDecode
	// ErrUnschedulable: a hard NodeAffinity names a node that is not alive.
	ErrUnschedulable = node.ErrUnschedulable
)

// TaskError is a task's error or panic as Get reports it: the remote
// message and stack trace, the function's name and the worker's process and
// node. errors.Is and errors.As reach the remote error value when its type
// (or, for sentinels, the value) was registered with RegisterError.
type TaskError = core.TaskError

// RegisterError lets an error survive a trip through a task: register
// sentinel values (errors.New) and error types (pointers to structs with
// exported fields) at package init.
func RegisterError(err error) { core.RegisterError(err) }
