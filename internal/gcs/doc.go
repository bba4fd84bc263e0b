// Package gcs is goray's global control service: the actor directory
// (creation, names and namespaces, restarts, death) and, with the cluster
// work, the node table, jobs and a small KV. It runs on the head node and is
// never on a task's hot path: only actor creation, lookup and failure
// handling go through it.
//
// The actor state machine follows Ray: PENDING → ALIVE → (RESTARTING →
// ALIVE)* → DEAD. An actor's worker dying moves it to RESTARTING while it has
// restarts left (MaxRestarts, -1 for unlimited), else to DEAD; ray.Kill with
// no_restart moves it to DEAD directly. A constructor that fails makes the
// actor DEAD with the error as the cause. A DEAD actor's name is free again.
//
// The GCS reaches its node through the small NodeAPI interface, so tests can
// drive it with a fake node.
package gcs
