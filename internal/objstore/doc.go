// Package objstore is goray's per-node shared-memory object store, the
// counterpart of Ray's plasma store.
//
// # Model
//
// Objects are files in a per-node directory on tmpfs (/dev/shm), one file per
// object, named by the ObjectID in hex. A file holds exactly the object's
// encoded bytes, with no header, so wherever the file is mapped the payload
// starts on a page boundary.
//
// One process on the node owns the Store (Open). It decides which objects
// exist, keeps the capacity accounting and tracks sealing. Other processes
// (drivers, workers) learn an object's path and size from the owner by RPC
// and map the file themselves with OpenWriter or MapReadOnly; those two
// functions need no Store.
//
// An object's life:
//
//	Create  reserve size bytes of capacity, make the file (a new empty
//	        file, or a recycled one of exactly size bytes); the object
//	        is unsealed
//	WriteFile (or OpenWriter / Writer.Bytes / Writer.Close)
//	        the creator, in any process, fills the file with one copy
//	Seal    the object becomes immutable and visible; Wait returns
//	Delete  recycle or unlink the file and release the capacity
//	(Abort  drops an unsealed object whose creator failed)
//
// # Capacity
//
// Config.Capacity bounds the total size of the objects the store holds,
// sealed or not. The accounting is a small state machine with no I/O (type
// ledger in ledger.go): Create reserves, Delete and Abort release. When the
// bytes are not free, Create queues (first come, first served, so big objects
// are not starved) until enough is released, its context is done, or
// Config.FullGracePeriod (default 1s; Ray's analogous oom_grace_period_s is
// 2s) passes, and then fails with ErrObjectStoreFull, whose message gives the
// sizes. An object bigger than the whole capacity fails at once with
// ErrTooLarge. The store never evicts or spills objects by itself: freeing
// space is its owner's policy, by Delete. It does evict its own pool of
// recycled files (below): their bytes count against the capacity, but a
// Create that needs the room unlinks them instead of waiting.
//
// # Recycling
//
// Filling a new tmpfs file is bounded by the kernel allocating its pages
// (measured on the 2-vCPU development VM: 1-3 GB/s for 800 MiB with pwrite),
// while pwrite over pages that exist runs at about 8 GB/s and a copy
// through a mapping that already has them at about 19 GB/s. So, as plasma
// reuses its arena, the store keeps the files of deleted objects of 1 MiB
// and more in a pool (pool.go) instead of unlinking them, up to
// Config.MaxPooled bytes (default half the capacity), and Create gives a
// new object a pooled file of about its size: renamed to the object's name
// and truncated to exactly its size, old bytes and all. Pooled bytes count
// against the capacity (ledger.go); Create evicts pooled files, oldest
// first, when the new object needs their room. Close removes them with
// everything else.
//
// Recycling must not change bytes someone still reads. Each reader and
// writer of an object file holds a shared flock on it while it uses the
// bytes (lock.go): a MapReadOnly view of 1 MiB or more for its whole life
// (the descriptor is closed by the view's finalizer, after the unmap),
// readSmall while it copies, a Writer until Close, WriteFile while it
// writes, and OpenFile (for the node's transfers between nodes) until the
// file is closed. Delete recycles a file only if it can take an exclusive
// lock without waiting, and otherwise unlinks it as before, so a view
// taken before Delete keeps its bytes. A process that dies drops its
// locks. Since a file is opened by name and locked after, the opener checks
// once it holds the lock that the name still refers to the same file
// (device and inode); if Delete recycled the file in between, it treats
// the object as deleted.
//
// A writer process keeps a few writable mappings of the big files it filled
// (writecache.go), made in the background after the pwrite of a new file;
// when the store hands it one of them again, WriteFile copies through the
// mapping instead of calling pwrite. It does so only while it holds the
// file's lock and fstat shows the very file (same inode) at exactly the
// object's size with all its pages allocated, so the copy neither reaches
// past the end of the file nor allocates memory (it cannot fault on a
// full /dev/shm), and a fault all the same becomes an error, not a crash.
// Mappings of files that are no longer linked are dropped within a second,
// since they would keep the files' memory alive.
//
// Limits: Seal checks that an object's file has the object's size, which a
// recycled file has from the start, so it cannot catch a writer that wrote
// short into one: the object's tail would be a deleted object's bytes.
// (WriteFile writes every byte it is given.) And a reader that opened an
// object's name just before Delete, and locks it only after the very same
// file was recycled for a re-creation of the same ObjectID, sees the new
// incarnation's bytes; object IDs are not reused in practice.
//
// # Zero-copy read views and their lifetime
//
// MapReadOnly returns a sealed object as a plain []byte that aliases the
// file's pages: nothing is copied and no page is touched, so mapping costs
// the same for 1 MiB as for 1 GiB. The view must stay valid as long as Go
// code can reach it, through any sub-slice, and the mapping must go away
// after that. Go has no hook for "this non-heap memory is unreachable", so
// the view is made to be heap memory:
//
//  1. Allocate a Go byte buffer of the object's size rounded up to the page
//     size. Buffers of 64 KiB and more are large objects with a span of
//     their own, page-aligned.
//  2. mmap the file over the buffer with MAP_SHARED|MAP_FIXED and PROT_READ
//     (a raw mmap system call: unix.Mmap cannot take an address).
//  3. Set a finalizer on the buffer's first byte. The GC keeps the whole
//     buffer alive while any pointer into it exists, and runs the finalizer
//     once none does. runtime.SetFinalizer is used, not runtime.AddCleanup:
//     a finalizer resurrects the object until it has run, so the memory
//     cannot be handed to a new allocation while it still maps the file.
//     The finalizer maps private anonymous (zero, read-write) memory back
//     over the range, which drops the file mapping in the same system call,
//     and the runtime then frees the buffer as usual.
//  4. Keep a cache of live views keyed by the file's device and inode and
//     holding weak pointers (package weak), so mapping an object again
//     while its view is alive returns the same view. A weak pointer to an
//     object with a finalizer turns nil when the finalizer is queued; the
//     next map then makes a new view.
//
// Objects under 64 KiB are copied into ordinary Go memory instead (cheaper
// than a mapping, a finalizer and a VMA), as is any object in the unexpected
// case that the buffer is not page-aligned.
//
// Zeroing. A buffer from make([]byte, n) that reuses freed heap memory is
// zeroed by the runtime before make returns: n bytes written, and n bytes of
// anonymous memory faulted in, just before the mmap throws them away.
// BenchmarkMapReadOnly256MiBAfterGC measures it, mapping a 256 MiB object
// again and again with the previous view collected in between. On the
// development VM (2 vCPUs) the make variant took 190-200 ms per map and
// raised peak RSS by about 250 MiB per map; the buffer MapReadOnly uses
// instead took 0.3-0.4 ms and under 0.5 MiB. That buffer comes from strings.Builder.Grow on an
// empty builder, the one public API that allocates without zeroing (it uses
// the runtime's internal MakeNoZero); its first byte gives the buffer's
// address. If a later Go release zeroed that buffer too, views would get
// slower, not wrong.
//
// The remaining cost of a map is the runtime's bookkeeping for a large
// allocation (proportional to size/8 KiB), a few system calls, and possibly
// the start of a GC cycle (see Constraints): on the development VM a first
// map took 0.3-0.5 ms for 64 MiB and 0.25-0.8 ms for 1 GiB, against about
// 50 ms to write 64 MiB. A map of an object whose view is alive is a stat
// and a map lookup (about 2 us).
//
// # Example
//
// In the process that owns the store:
//
//	s, err := objstore.Open(objstore.Config{Dir: "/dev/shm/goray-" + nodeID, Capacity: 8 << 30})
//	...
//	path, err := s.Create(ctx, id, int64(len(payload)))  // or s.Put(ctx, id, payload)
//	// hand path and size to the creating worker, which does:
//	err = objstore.WriteFile(path, payload)
//	// and asks the owner to Seal:
//	err = s.Seal(id)
//
// In any process that needs the object:
//
//	path, size, err := s.Wait(ctx, id) // in the owner, answering an RPC
//	view, err := objstore.MapReadOnly(path, size)
//	decode(view) // view (and slices of it) stay valid while reachable
//
// # Constraints
//
//   - Linux only (tmpfs, fallocate, mmap with MAP_FIXED).
//   - Views are read-only. Writing to a mapped view faults and kills the
//     process with a fatal SIGSEGV error, not a recoverable panic. Map only
//     sealed objects: a view of an unsealed one shows the writer's bytes as
//     they land.
//   - Mappings survive Delete and Close. A locked file is not recycled, and
//     an unlinked file lives until its last mapping, in any process, is
//     gone, so views and Writers stay valid and unchanged; but its memory
//     is only returned to the system then, although the ledger counts the
//     capacity free at once.
//   - Each live mapped view of 1 MiB or more holds a file descriptor (its
//     lock) until its finalizer runs; Go raises the soft RLIMIT_NOFILE to
//     the hard limit at start-up.
//   - A view is released only after a GC cycle finds it unreachable and the
//     finalizer goroutine has run; until then the process keeps the file's
//     pages referenced. runtime.GC forces that.
//   - Views count as Go heap in use (runtime/metrics, GOGC pacing and
//     GOMEMLIMIT) although they use no anonymous memory: mapping a big
//     object can start a GC cycle, and big live views raise the heap goal
//     and count against a memory limit.
//   - Each live mapped view splits the heap's mapping, adding up to two
//     VMAs to the process (vm.max_map_count, 65530 by default).
//   - OpenWriter and MapReadOnly require the file to be at least size bytes
//     long, since touching a mapped page past the end of a file is SIGBUS.
package objstore
