// Command tasks is the seed's first program: 400 square tasks in parallel.
package main

import (
	"context"
	"fmt"
	"log"

	"github.com/goray/ray"
)

// Square is registered at package level so workers (this same binary) know it.
var Square = ray.Func1(func(x int) int { return x * x })

func main() {
	ctx := context.Background()
	if err := ray.Init(ctx); err != nil {
		log.Fatal(err)
	}
	defer ray.Shutdown()

	futures := make([]ray.Ref[int], 400)
	for i := range futures {
		futures[i] = Square.Remote(i)
	}
	squares, err := ray.GetAll(ctx, futures...)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(squares)
}
