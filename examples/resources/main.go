// Command resources is the seed's section 四 experiment: Monte Carlo π on a
// three-node cluster, with sampling tasks pinned to alice's node by a custom
// resource and unpinned ones placed by the scheduler; it prints how many
// tasks ran on each node.
//
// Start the seed's cluster, then run this against it:
//
//	goray start --head --node-ip-address 127.0.0.1 --port 9937 --resources '{"bob": 5}' --num-cpus 5
//	goray start --address 127.0.0.1:9937 --resources '{"alice": 2}' --num-cpus 2
//	goray start --address 127.0.0.1:9937 --resources '{"ming1": 1, "ming2": 1}' --num-cpus 2
//	go run ./examples/resources -address 127.0.0.1:9937
//
// Without -address (and GORAY_ADDRESS unset) it runs on the embedded local
// cluster, where only unpinned tasks can run.
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"math/rand/v2"
	"os"
	"sort"
	"strings"

	"github.com/goray/ray"
)

// Sample counts points of the unit square's quarter circle and reports the
// node it ran on.
var Sample = ray.Func2Ctx(func(ctx context.Context, n int, seed uint64) (Result, error) {
	r := rand.New(rand.NewPCG(seed, seed*7919+1))
	inside := 0
	for range n {
		x, y := r.Float64()*2-1, r.Float64()*2-1
		if x*x+y*y <= 1 {
			inside++
		}
	}
	return Result{Inside: inside, Node: ray.GetRuntimeContext(ctx).NodeID}, nil
})

// Result is one sampling task's outcome.
type Result struct {
	Inside int
	Node   string
}

func main() {
	address := flag.String("address", os.Getenv("GORAY_ADDRESS"), "cluster address (host:port); empty: embedded local cluster")
	tasks := flag.Int("tasks", 12, "sampling tasks in each group")
	samples := flag.Int("samples", 1_000_000, "samples per task")
	pin := flag.String("pin", "alice", "custom resource the pinned group asks for (empty: no pinned group)")
	spread := flag.Bool("spread", false, "spread the unpinned group over all nodes (ray.Spread)")
	flag.Parse()
	ctx := context.Background()
	var opts []ray.InitOption
	if *address != "" {
		opts = append(opts, ray.Address(*address))
	}
	if err := ray.Init(ctx, opts...); err != nil {
		log.Fatal(err)
	}
	err := run(ctx, *tasks, *samples, *pin, *spread)
	ray.Shutdown()
	if err != nil {
		log.Fatal(err)
	}
}

func run(ctx context.Context, tasks, samples int, pin string, spread bool) error {
	nodes, err := ray.Nodes(ctx)
	if err != nil {
		return err
	}
	names := map[string]string{}
	for _, n := range nodes {
		var custom []string
		for k := range n.Resources {
			if k != "CPU" && k != "GPU" && k != "memory" && k != "object_store_memory" {
				custom = append(custom, k)
			}
		}
		sort.Strings(custom)
		label := n.Address
		if n.IsHead {
			label += " head"
		}
		names[n.NodeID] = fmt.Sprintf("%s %s {%s}", n.NodeID[:8], label, strings.Join(custom, ","))
	}
	groups := []struct {
		name string
		opts []ray.CallOption
	}{{"unpinned", nil}}
	if spread {
		groups[0].opts = []ray.CallOption{ray.Spread()}
	}
	if pin != "" {
		groups = append(groups, struct {
			name string
			opts []ray.CallOption
		}{fmt.Sprintf("pinned Resources{%q: 1}", pin), []ray.CallOption{ray.Resources(map[string]float64{pin: 1})}})
	}
	for _, g := range groups {
		f := Sample.Options(g.opts...)
		refs := make([]ray.Ref[Result], tasks)
		for i := range refs {
			refs[i] = f.Remote(samples, uint64(i+1))
		}
		results, err := ray.GetAll(ctx, refs...)
		if err != nil {
			return fmt.Errorf("%s: %w", g.name, err)
		}
		inside := 0
		perNode := map[string]int{}
		for _, r := range results {
			inside += r.Inside
			perNode[r.Node]++
		}
		fmt.Printf("%s: %d tasks, π ≈ %.5f\n", g.name, tasks, 4*float64(inside)/float64(tasks*samples))
		ids := make([]string, 0, len(perNode))
		for id := range perNode {
			ids = append(ids, id)
		}
		sort.Strings(ids)
		for _, id := range ids {
			name := names[id]
			if name == "" {
				name = id[:8]
			}
			fmt.Printf("  node %s: %d tasks\n", name, perNode[id])
		}
	}
	return nil
}
