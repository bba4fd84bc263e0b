// Package ids defines the identifiers goray passes between processes: jobs,
// nodes, workers, tasks, actors and objects.
//
// An ObjectID is the ID of the task (or put context) that created it followed
// by a 4-byte index, as in Ray: return i of task T is T‖i, and the n-th Put
// made while running task T is T‖(0x80000000|n). IDs are fixed-size arrays so
// they are comparable map keys and cost no allocation.
package ids

import (
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"sync/atomic"
)

// Unique is a 16-byte random or sequenced identifier.
type Unique [16]byte

// NodeID names a node; WorkerID a worker or driver process; ActorID an actor;
// JobID a driver's job.
type (
	NodeID   Unique
	WorkerID Unique
	ActorID  Unique
	JobID    [4]byte
)

// TaskID names one task or actor call. Its first 8 bytes identify the
// submitting process, the last 8 are that process's sequence number.
type TaskID [16]byte

// ObjectID names one object: the creating task's ID and an index.
type ObjectID [20]byte

// NewUnique returns a random identifier.
func NewUnique() Unique {
	var u Unique
	if _, err := rand.Read(u[:]); err != nil {
		panic("ids: crypto/rand failed: " + err.Error())
	}
	return u
}

// NewNodeID, NewWorkerID and NewActorID return random IDs.
func NewNodeID() NodeID     { return NodeID(NewUnique()) }
func NewWorkerID() WorkerID { return WorkerID(NewUnique()) }
func NewActorID() ActorID   { return ActorID(NewUnique()) }

// TaskIDGen hands out task IDs unique to one process.
type TaskIDGen struct {
	prefix [8]byte
	seq    atomic.Uint64
}

// NewTaskIDGen returns a generator with a random 8-byte prefix.
func NewTaskIDGen() *TaskIDGen {
	g := &TaskIDGen{}
	u := NewUnique()
	copy(g.prefix[:], u[:8])
	return g
}

// Next returns a fresh task ID.
func (g *TaskIDGen) Next() TaskID {
	var t TaskID
	copy(t[:8], g.prefix[:])
	binary.BigEndian.PutUint64(t[8:], g.seq.Add(1))
	return t
}

// putIndexFlag marks object indexes made by Put rather than task returns.
const putIndexFlag = 0x80000000

// ReturnID is the ObjectID of return index i (0-based) of task t.
func ReturnID(t TaskID, i int) ObjectID {
	var o ObjectID
	copy(o[:16], t[:])
	binary.BigEndian.PutUint32(o[16:], uint32(i))
	return o
}

// PutID is the ObjectID of the n-th Put made in the context of task t.
func PutID(t TaskID, n uint32) ObjectID {
	var o ObjectID
	copy(o[:16], t[:])
	binary.BigEndian.PutUint32(o[16:], putIndexFlag|n)
	return o
}

// Task returns the ID of the task that created o.
func (o ObjectID) Task() TaskID {
	var t TaskID
	copy(t[:], o[:16])
	return t
}

// Index is o's return index, or the put counter for put objects.
func (o ObjectID) Index() uint32 { return binary.BigEndian.Uint32(o[16:]) &^ putIndexFlag }

// IsPut reports whether o was created by Put.
func (o ObjectID) IsPut() bool { return binary.BigEndian.Uint32(o[16:])&putIndexFlag != 0 }

func (o ObjectID) String() string { return hex.EncodeToString(o[:]) }
func (t TaskID) String() string   { return hex.EncodeToString(t[:]) }
func (u Unique) String() string   { return hex.EncodeToString(u[:]) }
func (n NodeID) String() string   { return hex.EncodeToString(n[:]) }
func (w WorkerID) String() string { return hex.EncodeToString(w[:]) }
func (a ActorID) String() string  { return hex.EncodeToString(a[:]) }
func (j JobID) String() string    { return hex.EncodeToString(j[:]) }

// IsZero reports whether the ID is unset.
func (n NodeID) IsZero() bool   { return n == NodeID{} }
func (w WorkerID) IsZero() bool { return w == WorkerID{} }
func (a ActorID) IsZero() bool  { return a == ActorID{} }
func (o ObjectID) IsZero() bool { return o == ObjectID{} }

// ParseObjectID parses the hex form made by ObjectID.String.
func ParseObjectID(s string) (ObjectID, error) {
	var o ObjectID
	if err := parseHex(s, o[:]); err != nil {
		return o, fmt.Errorf("ids: object ID %q: %w", s, err)
	}
	return o, nil
}

// ParseNodeID parses the hex form made by NodeID.String.
func ParseNodeID(s string) (NodeID, error) {
	var n NodeID
	if err := parseHex(s, n[:]); err != nil {
		return n, fmt.Errorf("ids: node ID %q: %w", s, err)
	}
	return n, nil
}

// ParseActorID parses the hex form made by ActorID.String.
func ParseActorID(s string) (ActorID, error) {
	var a ActorID
	if err := parseHex(s, a[:]); err != nil {
		return a, fmt.Errorf("ids: actor ID %q: %w", s, err)
	}
	return a, nil
}

func parseHex(s string, dst []byte) error {
	if len(s) != 2*len(dst) {
		return fmt.Errorf("want %d hex digits, have %d", 2*len(dst), len(s))
	}
	_, err := hex.Decode(dst, []byte(s))
	return err
}
