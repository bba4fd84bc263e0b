// Package ray is goray: Ray's distributed computing model in Go. Functions
// become tasks, structs become actors, and values live in a shared-memory
// object store as Refs.
//
// # Model
//
// A program calls Init; with no address this starts an embedded local
// cluster inside the process (a node with an object store and a worker pool,
// plus the control service). Workers are OS processes running this same
// binary: Init in a worker serves tasks and never returns, so Init goes at
// the top of main.
//
// Functions, actor types and methods are registered at package level, so
// the driver and its workers (the same binary) hold the same registry:
//
//	var Square = ray.Func1(func(x int) int { return x * x })
//
//	type Counter struct{ n int }
//	func (c *Counter) Incr(k int) { c.n += k }
//	func (c *Counter) Get() int   { return c.n }
//
//	var (
//		NewCounter = ray.Actor0(func() *Counter { return &Counter{} })
//		CounterIncr = ray.Method1Void((*Counter).Incr)
//		CounterGet  = ray.Method0((*Counter).Get)
//	)
//
//	func main() {
//		ctx := context.Background()
//		if err := ray.Init(ctx); err != nil { log.Fatal(err) }
//		defer ray.Shutdown()
//		ref := Square.Remote(7)             // Ref[int], returned at once
//		v, err := ray.Get(ctx, ref)         // 49
//		c, err := NewCounter.Remote()
//		CounterIncr.Remote(c, 1)
//		n, err := ray.Get(ctx, CounterGet.Remote(c))
//	}
//
// A Ref[T] is accepted wherever a T argument goes; the task receives the
// value. Refs nested inside values stay refs. Objects are freed when no Ref
// to them remains in any process (dropped Refs are found by the Go GC).
//
// # Constraints
//
//   - Register at package level (var declarations), never conditionally.
//   - Code in main before Init also runs in every worker.
//   - Values cross processes as CBOR (exported struct fields only); []byte
//     and numeric slices take a raw path and, above 100 KiB, come back from
//     Get as read-only views of shared memory: writing to them crashes.
//   - Linux only (shared memory, process management).
package ray
