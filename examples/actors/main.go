// Command actors is the seed's Counter actor: ten incr(1) calls, then get().
package main

import (
	"context"
	"fmt"
	"log"

	"github.com/goray/ray"
)

// Counter is the actor's state; it lives in a worker process of its own.
type Counter struct{ i int }

func (c *Counter) Get() int       { return c.i }
func (c *Counter) Incr(value int) { c.i += value }

var (
	NewCounter  = ray.Actor0(func() *Counter { return &Counter{} })
	CounterGet  = ray.Method0((*Counter).Get)
	CounterIncr = ray.Method1Void((*Counter).Incr)
)

func main() {
	ctx := context.Background()
	if err := ray.Init(ctx); err != nil {
		log.Fatal(err)
	}
	defer ray.Shutdown()

	c, err := NewCounter.Remote()
	if err != nil {
		log.Fatal(err)
	}
	// These calls run asynchronously but in submission order on the actor.
	for range 10 {
		CounterIncr.Remote(c, 1)
	}
	n, err := ray.Get(ctx, CounterGet.Remote(c))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(n)
}
