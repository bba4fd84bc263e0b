// Package node is goray's node manager: one per node, inside the driver for
// the embedded local cluster. It owns the node's resources, its worker
// processes, its shared-memory object store and, on the head, the GCS.
//
// # Model
//
// Scheduler (sched.go) is a state machine: lease requests, worker start-ups
// and exits, returned leases and blocked workers go in; actions (start a
// worker, grant a lease, kill a worker) come out. It reads no clock and does
// no I/O, so it is tested with scripted event sequences. Node (node.go) is
// the I/O around it: it starts workers as copies of the driver's binary
// (os.Executable with GORAY_WORKER=1), copies their output to per-worker
// log files and, prefixed "(pid=N) ", to the driver's terminal, serves the
// node RPCs (leases, store, GCS) and reports worker deaths to the GCS.
//
// Example:
//
//	n, err := node.Start(node.Config{SessionDir: dir, Resources: res, ObjectStoreMemory: 1 << 30,
//		Token: token, Executable: exe})
//	defer n.Close() // kills workers, removes the store
//
// # Constraints
//
// Linux: workers get SIGKILL when the node's thread that started them dies
// (Pdeathsig), and the store lives in /dev/shm. Lock order: Node.mu alone;
// processes are started, signalled and answered outside it.
package node
