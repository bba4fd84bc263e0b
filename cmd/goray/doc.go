// Command goray starts, inspects and stops goray clusters, in the manner of
// Ray's `ray` command line.
//
//	go install ./cmd/goray
//
// # Commands
//
// goray start starts a node on this machine: with --head the head of a new
// cluster (it runs the control service), with --address HOST:PORT a node
// joining the cluster whose head is there. Flags, with Ray's names:
//
//	--head                    start a new cluster
//	--address HOST:PORT       join the cluster at HOST:PORT
//	--port N                  the node's one TCP port (head 6379, others 0 = any free one)
//	--node-ip-address IP      the address it listens on and is reached at (127.0.0.1)
//	--num-cpus N              CPUs offered (the machine's cores)
//	--num-gpus N              GPUs offered (0)
//	--resources JSON          custom resources, e.g. '{"bob": 5}'
//	--object-store-memory B   object store capacity in bytes (30% of RAM)
//	--memory B                the "memory" resource in bytes (70% of RAM)
//	--temp-dir DIR            sessions, cluster files and node records (/tmp/goray)
//	--system-config JSON      Ray-named system settings, e.g. '{"health_check_period_ms": 1000}'
//	--token T                 the cluster token (also $GORAY_TOKEN)
//	--labels JSON             node labels, e.g. '{"zone": "a"}' (or zone=a,rack=b)
//	--block                   stay in the foreground until SIGINT/SIGTERM
//
// Every flag is checked before anything starts: malformed JSON, negative
// quantities, CPU/GPU/memory inside --resources, unknown system-config keys,
// a port in use or a head that does not answer are errors, and the command
// exits non-zero.
//
// The head makes a random token unless one is given; a joining node without
// --token or $GORAY_TOKEN reads it from the cluster file the head wrote on
// this machine. Each node gets a session directory
// <temp-dir>/session_<time>_<pid> (logs/, the token, 0600), and
// <temp-dir>/session_latest points at the newest. The head records the
// cluster (address, token) under <temp-dir>/clusters, and every node
// records itself (pid, ID, address, store) under <temp-dir>/nodes.
//
// Without --block, start runs `goray start --block` with the same flags as
// a detached process (own session, output in
// <temp-dir>/logs/goray-start-<pid>.log, token passed by environment so it
// does not show in ps), waits until the node answers, and prints how to use
// it: the address, where the token is, GORAY_ADDRESS, ray.Address.
//
// goray status [--address HOST:PORT] [--token T] [--temp-dir DIR] prints
// the nodes, resource usage per node and for the cluster, pending demands
// (marking those no node can ever fit) and actors. The address defaults to
// $GORAY_ADDRESS, then to the latest cluster on this machine whose head is
// alive; the token to $GORAY_TOKEN, then to that cluster's file.
//
// goray stop [--force] [--grace D] [--temp-dir DIR] stops every node
// recorded on this machine (SIGTERM, SIGKILL after --grace or at once with
// --force), removes leftover object stores and records, and forgets
// clusters whose head is gone. It succeeds when nothing is running.
//
// goray version prints the version, VCS commit, Go version and platform.
package main
