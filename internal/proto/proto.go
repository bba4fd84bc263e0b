package proto

import (
	"errors"
	"fmt"

	"github.com/fxamacker/cbor/v2"

	"github.com/goray/ray/internal/ids"
)

// Node service methods.
const (
	NodeRegisterWorker byte = iota + 1
	NodeRequestLease
	NodeReturnLease
	NodeWorkerBlocked
	NodeWorkerUnblocked
	NodeStoreCreate
	NodeStoreSeal
	NodeStoreAbort
	NodeStoreDelete
	NodeKillWorker
	NodeCancelLease
	GCSCreateActor
	GCSGetActor
	GCSGetNamedActor
	GCSKillActor
	NodeStatus
)

// Core worker service methods.
const (
	WorkerPushTask byte = iota + 64
	WorkerCancelTask
	WorkerGetObject
	WorkerAddRef
	WorkerRemoveRef
	WorkerExit
)

// ErrMalformed wraps every decoding failure.
var ErrMalformed = errors.New("proto: malformed message")

var (
	encMode cbor.EncMode
	decMode cbor.DecMode
)

func init() {
	var err error
	encMode, err = cbor.EncOptions{}.EncMode()
	if err != nil {
		panic(err)
	}
	decMode, err = cbor.DecOptions{
		MaxNestedLevels:   32,
		MaxArrayElements:  1 << 20,
		MaxMapPairs:       1 << 16,
		DupMapKey:         cbor.DupMapKeyEnforcedAPF,
		ExtraReturnErrors: cbor.ExtraDecErrorUnknownField,
	}.DecMode()
	if err != nil {
		panic(err)
	}
}

// Marshal encodes a message.
func Marshal(v any) ([]byte, error) {
	switch m := v.(type) {
	case *TaskSpec:
		return appendTaskSpec(make(wbuf, 0, 256), m), nil
	case *TaskReply:
		return appendTaskReply(make(wbuf, 0, 64), m), nil
	case *ObjectReply:
		return append(AppendObjectReplyHead(make([]byte, 0, 64+len(m.Data)), m), m.Data...), nil
	}
	b, err := encMode.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("proto: encode %T: %w", v, err)
	}
	return b, nil
}

// MustMarshal encodes a message whose encoding cannot fail (our own structs).
func MustMarshal(v any) []byte {
	b, err := Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

// UnmarshalTaskReply is Unmarshal for a TaskReply, without the interface
// conversion that would move the caller's reply to the heap.
func UnmarshalTaskReply(b []byte, m *TaskReply) error {
	if err := decodeTaskReply(b, m); err != nil {
		return fmt.Errorf("%w: *proto.TaskReply: %v", ErrMalformed, err) // not %T: m would escape
	}
	return nil
}

// Unmarshal decodes a message, wrapping failures in ErrMalformed.
func Unmarshal(b []byte, v any) error {
	var err error
	switch m := v.(type) {
	case *TaskSpec:
		err = decodeTaskSpec(b, m)
	case *TaskReply:
		err = decodeTaskReply(b, m)
	case *ObjectReply:
		err = decodeObjectReply(b, m)
	default:
		err = decMode.Unmarshal(b, v)
	}
	if err != nil {
		return fmt.Errorf("%w: %T: %v", ErrMalformed, v, err)
	}
	return nil
}

// Address locates a driver or worker process.
type Address struct {
	_        struct{} `cbor:",toarray"`
	WorkerID ids.WorkerID
	NodeID   ids.NodeID
	Addr     string // rpc address of its core worker service
}

// ObjRef is a reference as it travels: the object and its owner.
type ObjRef struct {
	_     struct{} `cbor:",toarray"`
	ID    ids.ObjectID
	Owner Address
}

// Arg is one task argument: an inline encoded value, or a reference the
// executor resolves before the call. Contained lists refs nested in Data.
type Arg struct {
	_         struct{} `cbor:",toarray"`
	Data      []byte
	Ref       *ObjRef
	Contained []ObjRef
}

// TaskSpec is everything a worker needs to run a task or actor call.
type TaskSpec struct {
	_               struct{} `cbor:",toarray"`
	TaskID          ids.TaskID
	JobID           ids.JobID
	Func            string // registered function, actor type (creation) or method
	Args            []Arg
	NumReturns      int
	Resources       map[string]float64
	MaxRetries      int
	RetryExceptions bool
	Owner           Address
	ActorID         ids.ActorID
	ActorCreation   bool
	MaxConcurrency  int
	SeqNo           uint64
	Attempt         int
	// ReturnsAsSlice: the function returns a slice whose elements become
	// NumReturns separate objects.
	ReturnsAsSlice bool
}

// Error kinds carried in ErrorInfo.
const (
	ErrKindApp       uint8 = iota + 1 // the function returned an error
	ErrKindPanic                      // the function panicked
	ErrKindCancelled                  // ray.Cancel
	ErrKindActorDied                  // the actor is dead
	ErrKindWorkerCrashed
	ErrKindSystem // goray itself failed (bad args, unknown function, ...)
	ErrKindObjectLost
	ErrKindOwnerDied
	ErrKindStoreFull
)

// ErrorInfo is a task failure as it travels.
type ErrorInfo struct {
	_         struct{} `cbor:",toarray"`
	Kind      uint8
	Func      string
	Msg       string
	Stack     string
	PID       int
	NodeID    ids.NodeID
	CauseType string // registered error type name, if any
	CauseData []byte // its encoding
}

// ReturnObj is one result of a task.
type ReturnObj struct {
	_         struct{} `cbor:",toarray"`
	ID        ids.ObjectID
	Data      []byte // inline value, if not InStore
	InStore   bool
	Size      int64
	NodeID    ids.NodeID
	Contained []ObjRef
}

// TaskReply is a worker's answer to PushTask.
type TaskReply struct {
	_       struct{} `cbor:",toarray"`
	Returns []ReturnObj
	Err     *ErrorInfo
	// ActorAddr is set when an actor creation task succeeds.
	WorkerPID int
}

// RegisterWorker is a worker's first message to its node.
type RegisterWorker struct {
	_            struct{} `cbor:",toarray"`
	WorkerID     ids.WorkerID
	PID          int
	Addr         string
	RegistryHash string
	Platform     string // GOOS/GOARCH
	IsDriver     bool
	// Job: a driver registers its job with its node.
	Job *JobInfo
}

// RegisterWorkerReply tells a worker about its node and job.
type RegisterWorkerReply struct {
	_          struct{} `cbor:",toarray"`
	NodeID     ids.NodeID
	JobID      ids.JobID
	SessionDir string
	StoreDir   string
	// StoreCapacity lets owners collect garbage before the store fills.
	StoreCapacity int64
	// NodeAddr is the node's cluster address (host:port), "" if embedded.
	NodeAddr string
	// SocketDir is where the node's local Unix sockets live.
	SocketDir string
}

// LeaseRequest asks the node for a worker with these resources.
type LeaseRequest struct {
	_         struct{} `cbor:",toarray"`
	RequestID uint64   // owner-chosen, for CancelLease
	Resources map[string]float64
	ForActor  bool
	Owner     ids.WorkerID
	JobID     ids.JobID
	// Strategy: "" (default hybrid), "SPREAD", or "NODE_AFFINITY" with
	// AffinityNode and AffinitySoft.
	Strategy     string
	AffinityNode ids.NodeID
	AffinitySoft bool
	// NoSpill: the request was already spilled here; queue it locally.
	NoSpill bool
}

// LeaseGrant is the node's answer.
type LeaseGrant struct {
	_          struct{} `cbor:",toarray"`
	LeaseID    uint64
	WorkerID   ids.WorkerID
	WorkerAddr string
	WorkerPID  int
	NodeID     ids.NodeID
	// SpillTo: no lease here; ask the node at this address instead.
	SpillTo string
}

// ReturnLease gives a lease back. Kill asks the node to end the worker
// (e.g. it is in an unknown state).
type ReturnLease struct {
	_       struct{} `cbor:",toarray"`
	LeaseID uint64
	Kill    bool
	// ActorHold (with NodeActorCreated): keep the lease's resources.
	ActorHold bool
}

// CancelLease withdraws a pending lease request.
type CancelLease struct {
	_         struct{} `cbor:",toarray"`
	RequestID uint64
}

// StoreCreate reserves space for an object in the node's store.
type StoreCreate struct {
	_    struct{} `cbor:",toarray"`
	ID   ids.ObjectID
	Size int64
}

// StorePath answers StoreCreate.
type StorePath struct {
	_    struct{} `cbor:",toarray"`
	Path string
}

// ObjectIDs is a list of objects (seal, abort, delete).
type ObjectIDs struct {
	_   struct{} `cbor:",toarray"`
	IDs []ids.ObjectID
	// NodeID: the node whose store holds them (zero: the receiver's).
	NodeID ids.NodeID
}

// KillWorker asks the node to kill a worker process.
type KillWorker struct {
	_        struct{} `cbor:",toarray"`
	WorkerID ids.WorkerID
	Reason   string
}

// GetObject asks an owner for an object's value or location, waiting until
// it is ready.
type GetObject struct {
	_  struct{} `cbor:",toarray"`
	ID ids.ObjectID
}

// ObjectReply describes a ready object.
type ObjectReply struct {
	_         struct{} `cbor:",toarray"`
	Data      []byte
	InStore   bool
	Size      int64
	NodeID    ids.NodeID
	Err       *ErrorInfo
	Contained []ObjRef
}

// RefUpdate adds or removes a holder's reference to objects the receiver
// owns.
type RefUpdate struct {
	_      struct{} `cbor:",toarray"`
	IDs    []ids.ObjectID
	Holder ids.WorkerID
}

// CancelTask asks a worker to cancel a running or queued task.
type CancelTask struct {
	_      struct{} `cbor:",toarray"`
	TaskID ids.TaskID
	Force  bool
}

// Actor states, as in Ray.
const (
	ActorPending uint8 = iota + 1
	ActorAlive
	ActorRestarting
	ActorDead
)

// ActorSpec is what the GCS needs to create (and re-create) an actor.
type ActorSpec struct {
	_           struct{} `cbor:",toarray"`
	ActorID     ids.ActorID
	Name        string
	Namespace   string
	Detached    bool
	MaxRestarts int
	Creation    TaskSpec
	// HoldResources: keep the creation resources for the actor's life (the
	// user set them); otherwise the actor holds none once created (Ray's
	// default of 1 CPU to schedule, 0 to run).
	HoldResources  bool
	MaxTaskRetries int
	// Placement, as for tasks.
	Strategy     string
	AffinityNode ids.NodeID
	AffinitySoft bool
}

// ActorInfo is the GCS's view of an actor.
type ActorInfo struct {
	_              struct{} `cbor:",toarray"`
	ActorID        ids.ActorID
	State          uint8
	Addr           Address
	PID            int
	NumRestarts    int
	DeathCause     string
	Name           string
	Namespace      string
	TypeName       string
	MaxTaskRetries int
}

// GetActor asks the GCS for an actor's info; with WaitReady it waits until
// the actor is alive or dead (not pending or restarting), or until the
// known incarnation (NumRestarts) changes.
type GetActor struct {
	_             struct{} `cbor:",toarray"`
	ActorID       ids.ActorID
	WaitReady     bool
	AfterRestarts int
}

// GetNamedActor looks an actor up by name.
type GetNamedActor struct {
	_         struct{} `cbor:",toarray"`
	Name      string
	Namespace string
}

// KillActor ends an actor; NoRestart forbids restarting it.
type KillActor struct {
	_         struct{} `cbor:",toarray"`
	ActorID   ids.ActorID
	NoRestart bool
}

// NodeStatusReply is the node's resource view, for status and tests.
type NodeStatusReply struct {
	_             struct{} `cbor:",toarray"`
	NodeID        ids.NodeID
	Total         map[string]float64
	Available     map[string]float64
	Workers       int
	IdleWorkers   int
	PendingLeases int
	Infeasible    []map[string]float64
	StoreUsed     int64
	StoreCapacity int64
	StoreObjects  int
}

// Cluster service methods (served by every node; GCS* ones by the head).
const (
	GCSRegisterNode byte = iota + 100
	GCSHeartbeat
	GCSClusterStatus
	GCSRegisterJob
	GCSGetJob
	NodeFetchBinary
	NodePullObject
	NodeReadObject
	GCSGetNodes
	NodeActorCreated
	GCSJobFinished
)

// NodeInfo is a node as the GCS sees it.
type NodeInfo struct {
	_             struct{} `cbor:",toarray"`
	NodeID        ids.NodeID
	Addr          string // host:port of the node's one port
	IsHead        bool
	Alive         bool
	Labels        map[string]string
	Total         map[string]float64
	Available     map[string]float64
	StoreUsed     int64
	StoreCapacity int64
	Workers       int
	PID           int
	DeathReason   string
	Pending       []map[string]float64 // queued lease requests' shapes
}

// Heartbeat is a node's periodic report; the reply carries every node, so
// each node has the cluster view it needs to spill work back.
type Heartbeat struct {
	_    struct{} `cbor:",toarray"`
	Node NodeInfo
}

// ClusterView answers Heartbeat and GetNodes.
type ClusterView struct {
	_     struct{} `cbor:",toarray"`
	Nodes []NodeInfo
}

// Demand is a pending resource request shape, for status.
type Demand struct {
	_          struct{} `cbor:",toarray"`
	Resources  map[string]float64
	Count      int
	Infeasible bool
}

// ClusterStatus is what `goray status` prints.
type ClusterStatus struct {
	_       struct{} `cbor:",toarray"`
	Nodes   []NodeInfo
	Demands []Demand
	Actors  []ActorInfo
}

// JobInfo describes a driver's job: its binary (content-addressed), its
// registry hash, where to fetch the binary, and its namespace.
type JobInfo struct {
	_            struct{} `cbor:",toarray"`
	JobID        ids.JobID
	BinarySHA256 string
	BinarySize   int64
	Platform     string
	RegistryHash string
	HomeNode     string // host:port of a node that has the binary
	Namespace    string
	DriverPID    int
	// BinaryPath is the binary's path on the driver's machine.
	BinaryPath string
}

// GetJob asks the GCS for a job.
type GetJob struct {
	_     struct{} `cbor:",toarray"`
	JobID ids.JobID
}

// FetchBinary reads part of a cached binary.
type FetchBinary struct {
	_      struct{} `cbor:",toarray"`
	SHA256 string
	Offset int64
	Length int
}

// ReadObject reads part of a sealed object from a node's store.
type ReadObject struct {
	_      struct{} `cbor:",toarray"`
	ID     ids.ObjectID
	Offset int64
	Length int
	// Holder asks the node to tell Holder (a node address) when the
	// object is deleted, so secondary copies go too.
	Holder string
}

// PullObject asks a node to copy an object from another node into its own
// store (once, however many local readers ask).
type PullObject struct {
	_      struct{} `cbor:",toarray"`
	ID     ids.ObjectID
	Size   int64
	NodeID ids.NodeID
}

// KV methods of the GCS (Ray's internal KV).
const (
	GCSKVPut byte = iota + 120
	GCSKVGet
	GCSKVDel
	GCSKVKeys
)

// KVRequest is a KV operation: Put (Value, Overwrite), Get, Del, or Keys
// (Key is then a prefix).
type KVRequest struct {
	_         struct{} `cbor:",toarray"`
	Namespace string
	Key       string
	Value     []byte
	Overwrite bool
}

// KVReply answers a KV operation.
type KVReply struct {
	_     struct{} `cbor:",toarray"`
	Found bool     // Get: present; Put: written; Del: deleted
	Value []byte
	Keys  []string
}
