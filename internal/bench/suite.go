package bench

import (
	"context"
	"fmt"
	"runtime"
	"time"

	"github.com/goray/ray"
)

// The remote functions and actors of the suite, after ray_perf.py. They
// are registered at package level so that workers (this same binary) have
// them too.

// smallValue is Ray's small_value: a task returning b"ok".
var smallValue = ray.Func0(func() []byte { return []byte("ok") })

// doPutSmall is Ray's do_put_small: 100 puts of a small value in a worker.
var doPutSmall = ray.Func0Ctx(func(ctx context.Context) (int, error) {
	for range 100 {
		if _, err := ray.Put(ctx, 0); err != nil {
			return 0, err
		}
	}
	return 0, nil
})

// doPut is Ray's do_put: n puts of 10 Mi int64 (80 MiB) in a worker.
var doPut = ray.Func1Ctx(func(ctx context.Context, n int) (int, error) {
	for range n {
		if _, err := ray.Put(ctx, make([]int64, putMultiElems)); err != nil {
			return 0, err
		}
	}
	return 0, nil
})

// createObjectContainingRefs is Ray's create_object_containing_ref: a task
// that puts n small values and returns their refs.
var createObjectContainingRefs = ray.Func1Ctx(func(ctx context.Context, n int) ([]ray.Ref[int], error) {
	refs := make([]ray.Ref[int], n)
	for i := range refs {
		r, err := ray.Put(ctx, 1)
		if err != nil {
			return nil, err
		}
		refs[i] = r
	}
	return refs, nil
})

// makeBytes returns a []byte of n bytes (for cross-node transfers).
var makeBytes = ray.Func1(func(n int) []byte {
	b := make([]byte, n)
	for i := 0; i < n; i += 4096 {
		b[i] = byte(i >> 12)
	}
	return b
})

// Actor is Ray's Actor (num_cpus=0).
type Actor struct{}

var (
	newActor             = ray.Actor0(func() *Actor { return &Actor{} })
	actorSmallValue      = ray.Method0(func(*Actor) []byte { return []byte("ok") })
	actorSmallValueArg   = ray.Method1(func(_ *Actor, x int) []byte { return []byte("ok") })
	actorSmallValueBatch = ray.Method1Ctx(func(_ *Actor, ctx context.Context, n int) (int, error) {
		refs := make([]ray.Ref[[]byte], n)
		for i := range refs {
			refs[i] = smallValue.Remote()
		}
		_, err := ray.GetAll(ctx, refs...)
		return 0, err
	})
)

// Client is Ray's Client (num_cpus=0): it calls its servers.
type Client struct {
	Servers []*ray.ActorHandle[Actor]
}

var (
	newClient = ray.Actor1(func(servers []*ray.ActorHandle[Actor]) *Client { return &Client{Servers: servers} })
	// clientSmallValueBatch makes n small_value calls on each server.
	clientSmallValueBatch = ray.Method1Ctx(func(c *Client, ctx context.Context, n int) (int, error) {
		refs := make([]ray.Ref[[]byte], 0, n*len(c.Servers))
		for _, s := range c.Servers {
			for range n {
				refs = append(refs, actorSmallValue.Remote(s))
			}
		}
		_, err := ray.GetAll(ctx, refs...)
		return 0, err
	})
	// clientSmallValueBatchArg makes n small_value_arg calls on each server,
	// passing a Ref it put.
	clientSmallValueBatchArg = ray.Method1Ctx(func(c *Client, ctx context.Context, n int) (int, error) {
		x, err := ray.Put(ctx, 0)
		if err != nil {
			return 0, err
		}
		refs := make([]ray.Ref[[]byte], 0, n*len(c.Servers))
		for _, s := range c.Servers {
			for range n {
				refs = append(refs, actorSmallValueArg.Remote(s, x))
			}
		}
		_, err = ray.GetAll(ctx, refs...)
		return 0, err
	})
)

// work is Ray's work task of n:n actor calls: n calls spread over actors.
var work = ray.Func2Ctx(func(ctx context.Context, actors []*ray.ActorHandle[Actor], n int) (int, error) {
	refs := make([]ray.Ref[[]byte], n)
	for i := range refs {
		refs[i] = actorSmallValue.Remote(actors[i%len(actors)])
	}
	_, err := ray.GetAll(ctx, refs...)
	return 0, err
})

const (
	mib           = 1 << 20
	gib           = 1 << 30
	putMultiElems = 10 * mib // int64s per multi-client put: 80 MiB, as Ray's np.zeros(10Mi, int64)
)

// SuiteOptions size the suite. Zero values take the defaults.
type SuiteOptions struct {
	// NumCPUs sets n for the 1:n and n:n actor metrics: max(2, NumCPUs/2)
	// (default runtime.NumCPU()).
	NumCPUs int
	// PutBytes is single_client_put_gigabytes' object (default 800 MiB, as
	// Ray's 100 Mi int64 array).
	PutBytes int
	// GetBytes is single_client_get_gigabytes' object (default 1 GiB).
	GetBytes int
	// CrossNodeBytes is cross_node_get_gigabytes' object (default 1 GiB).
	CrossNodeBytes int
	// MultiPutsPerClient is how many 80 MiB puts each of the 10
	// multi_client_put_gigabytes tasks makes (default 2; Ray: 10).
	MultiPutsPerClient int
}

func (o SuiteOptions) withDefaults() SuiteOptions {
	if o.NumCPUs <= 0 {
		o.NumCPUs = runtime.NumCPU()
	}
	if o.PutBytes <= 0 {
		o.PutBytes = 800 * mib
	}
	if o.GetBytes <= 0 {
		o.GetBytes = gib
	}
	if o.CrossNodeBytes <= 0 {
		o.CrossNodeBytes = gib
	}
	if o.MultiPutsPerClient <= 0 {
		o.MultiPutsPerClient = 2
	}
	return o
}

// Names lists the suite's metric names, in order.
func Names() []string {
	var out []string
	for _, m := range Suite(SuiteOptions{}) {
		out = append(out, m.Name)
	}
	return out
}

// Suite is Ray's microbenchmark suite in Ray's order, then ours. Build it
// before ray.Init or after: nothing runs until RunAll.
func Suite(o SuiteOptions) []Metric {
	o = o.withDefaults()
	nActors := max(2, o.NumCPUs/2)
	return []Metric{
		getCalls(),
		rate("single_client_put_calls", func(ctx context.Context) (float64, error) {
			_, err := ray.Put(ctx, 0)
			return 1, err
		}),
		rate("multi_client_put_calls", func(ctx context.Context) (float64, error) {
			refs := make([]ray.Ref[int], 10)
			for i := range refs {
				refs[i] = doPutSmall.Remote()
			}
			_, err := ray.GetAll(ctx, refs...)
			return 1000, err
		}),
		putGigabytes(o.PutBytes),
		rate("single_client_tasks_and_get_batch", func(ctx context.Context) (float64, error) {
			_, err := submitAndGet(ctx, 1000)
			return 1, err
		}),
		multiPutGigabytes(10, o.MultiPutsPerClient),
		getContainingRefs(10000),
		rate("single_client_wait_1k_refs", func(ctx context.Context) (float64, error) {
			return 1, waitRefs(ctx, 1000)
		}),
		rate("single_client_tasks_sync", func(ctx context.Context) (float64, error) {
			_, err := ray.Get(ctx, smallValue.Remote())
			return 1, err
		}),
		rate("single_client_tasks_async", func(ctx context.Context) (float64, error) {
			return submitAndGet(ctx, 1000)
		}),
		multiClientTasks(4, 2500),
		actorMetric("1_1_actor_calls_sync", 1, 0, func(ctx context.Context, as []*ray.ActorHandle[Actor]) (float64, error) {
			_, err := ray.Get(ctx, actorSmallValue.Remote(as[0]))
			return 1, err
		}),
		actorMetric("1_1_actor_calls_async", 1, 0, callBatch(1000)),
		actorMetric("1_1_actor_calls_concurrent", 1, 16, callBatch(1000)),
		oneToN(nActors, 5000),
		nToN(nActors, 4, 5000),
		nToNWithArg(nActors, 1000),
		getGigabytes(o.GetBytes),
		crossNodeGigabytes(o.CrossNodeBytes),
	}
}

// rate is a metric without setup whose operation ignores the timer.
func rate(name string, op func(ctx context.Context) (float64, error)) Metric {
	return Metric{Name: name, Unit: UnitRate, Run: func(ctx context.Context, _ *Timer) (float64, error) { return op(ctx) }}
}

func submitAndGet(ctx context.Context, n int) (float64, error) {
	refs := make([]ray.Ref[[]byte], n)
	for i := range refs {
		refs[i] = smallValue.Remote()
	}
	_, err := ray.GetAll(ctx, refs...)
	return float64(n), err
}

// waitRefs is Ray's wait_multiple_refs: n tasks, then n Waits for one
// more ready ref each.
func waitRefs(ctx context.Context, n int) error {
	notReady := make([]ray.Ref[[]byte], n)
	for i := range notReady {
		notReady[i] = smallValue.Remote()
	}
	for range n {
		if len(notReady) == 0 {
			break
		}
		// As Ray's wait, Wait returns at most numReturns ready refs: one
		// leaves the list per call.
		_, rest, err := ray.Wait(ctx, notReady, 1, ray.NoTimeout)
		if err != nil {
			return err
		}
		notReady = rest
	}
	return nil
}

func getCalls() Metric {
	var value ray.Ref[int]
	return Metric{
		Name: "single_client_get_calls", Unit: UnitRate,
		Setup: func(ctx context.Context) (func(), error) {
			var err error
			value, err = ray.Put(ctx, 0)
			return func() { value = ray.Ref[int]{} }, err
		},
		Run: func(ctx context.Context, _ *Timer) (float64, error) {
			_, err := ray.Get(ctx, value)
			return 1, err
		},
	}
}

func putGigabytes(size int) Metric {
	var arr []byte
	return Metric{
		Name: "single_client_put_gigabytes", Unit: UnitGBps,
		Setup: func(context.Context) (func(), error) {
			arr = make([]byte, size)
			for i := 0; i < size; i += 4096 {
				arr[i] = 0 // fault the pages in, as numpy.zeros' buffer is by the time Ray puts it
			}
			return func() { arr = nil }, nil
		},
		Run: func(ctx context.Context, _ *Timer) (float64, error) {
			_, err := ray.Put(ctx, arr)
			return float64(size) / 1e9, err
		},
	}
}

func multiPutGigabytes(clients, puts int) Metric {
	return Metric{
		Name: "multi_client_put_gigabytes", Unit: UnitGBps,
		Run: func(ctx context.Context, _ *Timer) (float64, error) {
			refs := make([]ray.Ref[int], clients)
			for i := range refs {
				refs[i] = doPut.Remote(puts)
			}
			_, err := ray.GetAll(ctx, refs...)
			return float64(clients*puts*putMultiElems*8) / 1e9, err
		},
	}
}

func getContainingRefs(n int) Metric {
	var ref ray.Ref[[]ray.Ref[int]]
	return Metric{
		Name: "single_client_get_object_containing_10k_refs", Unit: UnitRate,
		Setup: func(ctx context.Context) (func(), error) {
			ref = createObjectContainingRefs.Remote(n)
			refs, err := ray.Get(ctx, ref)
			if err == nil && len(refs) != n {
				err = fmt.Errorf("got %d refs, want %d", len(refs), n)
			}
			return func() { ref = ray.Ref[[]ray.Ref[int]]{} }, err
		},
		Run: func(ctx context.Context, _ *Timer) (float64, error) {
			_, err := ray.Get(ctx, ref)
			return 1, err
		},
	}
}

func multiClientTasks(clients, n int) Metric {
	var actors []*ray.ActorHandle[Actor]
	return Metric{
		Name: "multi_client_tasks_async", Unit: UnitRate,
		Setup: func(ctx context.Context) (func(), error) {
			var err error
			actors, err = startActors(ctx, clients, 0)
			return func() { killAll(actors); actors = nil }, err
		},
		Run: func(ctx context.Context, _ *Timer) (float64, error) {
			refs := make([]ray.Ref[int], len(actors))
			for i, a := range actors {
				refs[i] = actorSmallValueBatch.Remote(a, n)
			}
			_, err := ray.GetAll(ctx, refs...)
			return float64(n * len(actors)), err
		},
	}
}

// actorMetric creates n Actors (maxConcurrency > 1 for concurrent ones)
// and times op on them.
func actorMetric(name string, n, maxConcurrency int, op func(context.Context, []*ray.ActorHandle[Actor]) (float64, error)) Metric {
	var actors []*ray.ActorHandle[Actor]
	return Metric{
		Name: name, Unit: UnitRate,
		Setup: func(ctx context.Context) (func(), error) {
			var err error
			actors, err = startActors(ctx, n, maxConcurrency)
			return func() { killAll(actors); actors = nil }, err
		},
		Run: func(ctx context.Context, _ *Timer) (float64, error) { return op(ctx, actors) },
	}
}

func callBatch(n int) func(context.Context, []*ray.ActorHandle[Actor]) (float64, error) {
	return func(ctx context.Context, as []*ray.ActorHandle[Actor]) (float64, error) {
		refs := make([]ray.Ref[[]byte], n)
		for i := range refs {
			refs[i] = actorSmallValue.Remote(as[0])
		}
		_, err := ray.GetAll(ctx, refs...)
		return float64(n), err
	}
}

// oneToN is Ray's 1:n: one Client actor calling n actors, calls each.
func oneToN(n, calls int) Metric {
	var actors []*ray.ActorHandle[Actor]
	var client *ray.ActorHandle[Client]
	return Metric{
		Name: "1_n_actor_calls_async", Unit: UnitRate,
		Setup: func(ctx context.Context) (func(), error) {
			var err error
			teardown := func() { killAll(actors); killAll([]*ray.ActorHandle[Client]{client}) }
			if actors, err = startActors(ctx, n, 0); err != nil {
				return teardown, err
			}
			client, err = startClient(ctx, actors)
			return teardown, err
		},
		Run: func(ctx context.Context, _ *Timer) (float64, error) {
			_, err := ray.Get(ctx, clientSmallValueBatch.Remote(client, calls))
			return float64(calls * len(actors)), err
		},
	}
}

// nToN is Ray's n:n: m tasks each making calls spread over n actors.
func nToN(n, m, calls int) Metric {
	var actors []*ray.ActorHandle[Actor]
	return Metric{
		Name: "n_n_actor_calls_async", Unit: UnitRate,
		Setup: func(ctx context.Context) (func(), error) {
			var err error
			actors, err = startActors(ctx, n, 0)
			return func() { killAll(actors) }, err
		},
		Run: func(ctx context.Context, _ *Timer) (float64, error) {
			refs := make([]ray.Ref[int], m)
			for i := range refs {
				refs[i] = work.Remote(actors, calls)
			}
			_, err := ray.GetAll(ctx, refs...)
			return float64(m * calls), err
		},
	}
}

// nToNWithArg is Ray's n:n with arg: n clients, each calling its own actor
// with a Ref argument.
func nToNWithArg(n, calls int) Metric {
	var actors []*ray.ActorHandle[Actor]
	var clients []*ray.ActorHandle[Client]
	return Metric{
		Name: "n_n_actor_calls_with_arg_async", Unit: UnitRate,
		Setup: func(ctx context.Context) (func(), error) {
			teardown := func() { killAll(actors); killAll(clients) }
			var err error
			if actors, err = startActors(ctx, n, 0); err != nil {
				return teardown, err
			}
			for _, a := range actors {
				c, err := startClient(ctx, []*ray.ActorHandle[Actor]{a})
				if err != nil {
					return teardown, err
				}
				clients = append(clients, c)
			}
			return teardown, nil
		},
		Run: func(ctx context.Context, _ *Timer) (float64, error) {
			refs := make([]ray.Ref[int], len(clients))
			for i, c := range clients {
				refs[i] = clientSmallValueBatchArg.Remote(c, calls)
			}
			_, err := ray.GetAll(ctx, refs...)
			return float64(calls * len(clients)), err
		},
	}
}

func getGigabytes(size int) Metric {
	var ref ray.Ref[[]byte]
	return Metric{
		Name: "single_client_get_gigabytes", Unit: UnitGBps,
		Setup: func(ctx context.Context) (func(), error) {
			var err error
			ref, err = ray.Put(ctx, make([]byte, size))
			return func() { ref = ray.Ref[[]byte]{} }, err
		},
		Run: func(ctx context.Context, _ *Timer) (float64, error) {
			v, err := ray.Get(ctx, ref)
			if err == nil && len(v) != size {
				err = fmt.Errorf("got %d bytes, want %d", len(v), size)
			}
			return float64(size) / 1e9, err
		},
	}
}

// crossNodeGigabytes times the Get of an object made on another node: the
// task runs (untimed), then the Get pulls the object across (timed).
func crossNodeGigabytes(size int) Metric {
	var remote string
	return Metric{
		Name: "cross_node_get_gigabytes", Unit: UnitGBps,
		Setup: func(ctx context.Context) (func(), error) {
			nodes, err := ray.Nodes(ctx)
			if err != nil {
				return nil, err
			}
			here := ray.GetRuntimeContext(ctx).NodeID
			alive := 0
			for _, n := range nodes {
				if !n.Alive {
					continue
				}
				alive++
				if n.NodeID != here && remote == "" && n.Resources["CPU"] >= 1 {
					remote = n.NodeID
				}
			}
			if alive < 2 {
				return nil, fmt.Errorf("%w: the cluster has one node (run with --address on a multi-node cluster)", ErrSkip)
			}
			if remote == "" {
				return nil, fmt.Errorf("%w: no other node has a CPU to run the producing task", ErrSkip)
			}
			return nil, nil
		},
		Run: func(ctx context.Context, t *Timer) (float64, error) {
			t.Stop()
			ref := makeBytes.Options(ray.NodeAffinity(remote, false)).Remote(size)
			if _, _, err := ray.Wait(ctx, []ray.Ref[[]byte]{ref}, 1, ray.NoTimeout); err != nil {
				return 0, err
			}
			t.Start()
			v, err := ray.Get(ctx, ref)
			t.Stop()
			if err == nil && len(v) != size {
				err = fmt.Errorf("got %d bytes, want %d", len(v), size)
			}
			v, ref = nil, ray.Ref[[]byte]{}
			runtime.GC() // free this copy and the remote one before the next
			t.Start()
			return float64(size) / 1e9, err
		},
	}
}

// startActors creates n Actors (no CPU, as Ray's) and waits until each
// answers a call.
func startActors(ctx context.Context, n, maxConcurrency int) ([]*ray.ActorHandle[Actor], error) {
	cls := newActor.Options(ray.NumCPUs(0))
	if maxConcurrency > 1 {
		cls = newActor.Options(ray.NumCPUs(0), ray.MaxConcurrency(maxConcurrency))
	}
	actors := make([]*ray.ActorHandle[Actor], 0, n)
	for range n {
		a, err := cls.Remote()
		if err != nil {
			return actors, err
		}
		actors = append(actors, a)
	}
	for _, a := range actors {
		if err := ready(ctx, actorSmallValue.Remote(a)); err != nil {
			return actors, fmt.Errorf("actor not ready: %w", err)
		}
	}
	return actors, nil
}

func startClient(ctx context.Context, servers []*ray.ActorHandle[Actor]) (*ray.ActorHandle[Client], error) {
	c, err := newClient.Options(ray.NumCPUs(0)).Remote(servers)
	if err != nil {
		return nil, err
	}
	if err := ready(ctx, clientSmallValueBatch.Remote(c, 1)); err != nil {
		return c, fmt.Errorf("client not ready: %w", err)
	}
	return c, nil
}

// ready waits up to a minute for a first call's result.
func ready[T any](ctx context.Context, r ray.Ref[T]) error {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	_, err := ray.Get(ctx, r)
	return err
}

func killAll[S any](hs []*ray.ActorHandle[S]) {
	for _, h := range hs {
		if h != nil {
			ray.Kill(h)
		}
	}
}
