// Command mapreduce is the seed's map and reduce: 100 map tasks computing
// i*2, then one sum_results task that takes all 100 results as arguments.
package main

import (
	"context"
	"fmt"
	"log"

	"github.com/goray/ray"
)

// mapFunc is the seed's `lambda i: i*2`. Functions cannot travel over the
// wire, so instead of passing it to a generic map task we register the map
// function itself as the task.
func mapFunc(i int) int { return i * 2 }

var (
	// Map is the seed's map task, applied to one item.
	Map = ray.Func1(mapFunc)
	// SumResults is the seed's sum_results(*elements): a variadic task. Its
	// arguments may be ints or Refs to ints; the refs are resolved before it
	// runs, so it receives plain values.
	SumResults = ray.FuncVariadic(func(xs ...int) int {
		total := 0
		for _, x := range xs {
			total += x
		}
		return total
	})
)

func main() {
	ctx := context.Background()
	if err := ray.Init(ctx); err != nil {
		log.Fatal(err)
	}
	err := run(ctx)
	// Shut down before log.Fatal, which exits without running deferred
	// calls and would leave the object store behind in /dev/shm.
	ray.Shutdown()
	if err != nil {
		log.Fatal(err)
	}
}

func run(ctx context.Context) error {
	items := make([]int, 100)
	for i := range items {
		items[i] = i
	}

	// Single-threaded map and reduce, for comparison.
	local := 0
	for _, i := range items {
		local += mapFunc(i)
	}
	fmt.Println("single-threaded sum:", local)

	// Map: one task per item; each Remote returns a Ref at once.
	refs := make([]ray.Ref[int], len(items))
	for i, item := range items {
		refs[i] = Map.Remote(item)
	}

	// Reduce: hand all the refs to one task, without fetching them here
	// (the seed's sum_results.remote(*remote_elements)).
	remoteElements := make([]any, len(refs))
	for i, r := range refs {
		remoteElements[i] = r
	}
	finalSum := SumResults.Remote(remoteElements...)

	// The map results can still be fetched on their own.
	output, err := ray.GetAll(ctx, refs...)
	if err != nil {
		return err
	}
	fmt.Println("map output:", output[:5], "...", output[len(output)-1])

	result, err := ray.Get(ctx, finalSum)
	if err != nil {
		return err
	}
	fmt.Println("goray map/reduce sum:", result)
	return nil
}
