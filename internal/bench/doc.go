// Package bench is goray's performance instrument: Ray's microbenchmark
// suite (`ray microbenchmark`, ray/_private/ray_perf.py) with Ray's metric
// names and method, plus the scalability checks of Ray's single-node
// envelope (release/benchmarks/single_node/test_single_node.py). The
// `goray microbenchmark` command runs it.
//
// # Method
//
// As in Ray's timeit (ray/_private/ray_microbenchmark_helpers.py): each
// metric has a setup (untimed: actors, objects) and an operation. The
// operation runs repeatedly for a warm-up period; from the warm-up's call
// count comes a step (the calls that fit in about 100 ms, plus one). Then
// each of N trials runs the operation in whole steps until the trial's
// duration has passed, and its rate is the operations counted (the
// operation's multiplier, e.g. 1000 for a batch of 1000 tasks, or
// gigabytes for the *_gigabytes metrics) over the trial's elapsed time.
// The result is the mean and the standard deviation (population, like
// numpy.std) of the trial rates.
//
// Differences from Ray's method, all knobs of Options:
//   - N trials (default 5) of Options.Duration (default 1 s) each; Ray runs
//     4 trials of 2 s. Warm-up 1 s as in Ray.
//   - Ray sleeps 10 s before each metric to settle noisy neighbours; we
//     don't, but collect garbage between metrics (untimed).
//
// # Metrics
//
// The operations follow ray_perf.py. Where Ray's "clients" are Ray tasks
// or actors that submit work themselves, ours are goray tasks and actors
// doing the same from their worker processes; Ray's `Actor` and `Client`
// take no CPU (NumCPUs(0)), as in Ray. Deviations:
//   - multi_client_put_gigabytes: 10 tasks each putting 2 (Ray: 10) arrays
//     of 10 Mi int64 (80 MiB), so that one operation takes about a second
//     on a small machine rather than ten.
//   - multi_client_tasks_async: 4 actors each submitting 2,500 (Ray:
//     10,000) tasks and getting them.
//   - 1_n and n_n actor metrics use n = max(2, NumCPU/2) actors; Ray uses
//     NumCPU/2, which is 1 on a 2-core machine.
//   - *_gigabytes count bytes/1e9 exactly; Ray counts 0.8 "GB" per put of
//     100 Mi int64 (838,860,800 bytes).
//   - single_client_wait_1k_refs is Ray's: 1,000 tasks, then 1,000 Wait
//     calls for one ready ref each (Wait, as Ray's, returns at most
//     numReturns ready refs). Each operation includes the 1,000 tasks.
//   - Ours: single_client_get_gigabytes (Get of a 1 GiB []byte already in
//     the store: a zero-copy view, so the rate is bytes over a map or a
//     cache hit, not a copy) and cross_node_get_gigabytes (Get of a 1 GiB
//     []byte made by a task pinned to another node; only the Get is timed,
//     which pulls it across; skipped on a one-node cluster).
//
// Ray's "multi client" metrics use several client processes (Ray worker
// processes); so do ours: the clients are goray tasks and actors in worker
// processes, not goroutines in the driver.
//
// # Scalability checks
//
// RunScale runs Ray's single-node envelope, scaled by a factor: many
// arguments (one task with 10,000 Ref arguments, each a []int64 of 10,000),
// many returns (one task with 3,000 returns of a []int64 of 10,000), a Get
// of 10,000 refs (each a []int64 of 10,000; put, then GetAll) and 1,000,000
// tasks queued behind tasks that hold every CPU, then drained. Each is timed
// from its first submission to its last value, and reports the driver's
// peak RSS (VmHWM, reset before each check where the kernel allows).
//
// # Workers
//
// Functions and actors are registered at package level, so any binary that
// imports this package can run them; like every goray program, it must call
// ray.Init first thing in main when GORAY_WORKER=1.
package bench
