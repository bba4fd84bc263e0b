// Package proto defines the messages goray processes exchange over
// internal/rpc connections, their method numbers, and their encoding.
//
// Messages are Go structs encoded as CBOR arrays (struct field order is the
// wire order: append fields, never reorder), except TaskSpec and TaskReply,
// which ride every task and have a hand-written binary encoding
// (binary.go: a format byte, uvarint lengths, fields in order). Decoding applies strict limits
// (nesting, element counts, sizes), so a malformed or hostile frame from an
// authenticated peer yields an error, never a panic or a huge allocation.
//
// Two services exist:
//   - the node service (node manager, object store and, on the head, the GCS),
//     served on the node's socket; methods Node*;
//   - the core worker service, served by every driver and worker on its own
//     socket; methods Worker*. Owners push tasks to leased workers and
//     borrowers ask owners for objects through it.
//
// Example:
//
//	b, _ := proto.Marshal(&proto.LeaseRequest{Resources: map[string]float64{"CPU": 1}})
//	var req proto.LeaseRequest
//	err := proto.Unmarshal(b, &req)
package proto
