// Package core is goray's core worker: the part of every driver and worker
// process that owns objects, submits tasks, executes them, and calls actors.
//
// # Model
//
// Ownership: the process that creates a ref (by Submit or Put) owns it. The
// owner keeps the object's value (inline) or location (node store), its
// reference counts (RefCounter, a state machine without I/O) and, for task
// returns, the task spec for retries. Borrowers (other processes holding a
// ref) register with the owner before using it and release it when their
// last handle is collected.
//
// Submission (submit.go): a task waits for the arguments it owns, inlines
// the small ones, then joins the queue of its scheduling class (resource
// shape). The owner leases workers from its node for a class, pushes tasks
// to them directly, reuses leases while work remains and returns them after
// a short idle time. A broken connection to a worker means the worker died:
// the task is retried up to MaxRetries, then fails with ErrWorkerCrashed.
//
// Execution (execute.go): a worker resolves a task's ref arguments (fetching
// them from their owners, or mapping them from the node's store), calls the
// registered function, and replies with inline results or the store
// location of large ones. An actor's worker runs its calls in arrival order
// (one goroutine) or, with MaxConcurrency > 1, concurrently.
//
// Actor calls (actorclient.go) go straight to the actor's worker over one
// connection per caller, pushed in submission order; the GCS is asked only
// for the actor's address and, after a failure, for its next incarnation.
//
// # Constraints
//
// One Runtime per process (Current). Runtime.mu is the only lock; nothing
// that blocks runs under it, and rpc callbacks never run on the caller's
// goroutine.
package core
