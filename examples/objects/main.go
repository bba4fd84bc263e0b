// Command objects is the seed's object-store example: a task summing a
// matrix, called first with a literal matrix and then with a Ref to a large
// matrix put in the object store.
package main

import (
	"context"
	"fmt"
	"log"
	"strconv"

	"github.com/goray/ray"
)

// A matrix travels as a flat, row-major []float64 plus its dimensions
// rather than as [][]float64. goray sends numeric slices on a raw path (no
// CBOR encoding); a large one lives in shared memory, and a task reading it
// on the same node gets a read-only view of that memory instead of a copy.
// A [][]float64 would be CBOR-encoded and decoded element by element.
func ones(rows, cols int) []float64 {
	m := make([]float64, rows*cols)
	for i := range m {
		m[i] = 1
	}
	return m
}

// SumMatrix is the seed's sum_matrix. It only reads the matrix: when the
// matrix comes from shared memory, writing to it would crash.
var SumMatrix = ray.Func3Err(func(matrix []float64, rows, cols int) (float64, error) {
	if len(matrix) != rows*cols {
		return 0, fmt.Errorf("matrix has %d elements, want %d×%d", len(matrix), rows, cols)
	}
	sum := 0.0
	for r := range rows {
		for _, v := range matrix[r*cols : (r+1)*cols] {
			sum += v
		}
	}
	return sum, nil
})

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
	// Call the task with a literal argument value (80 KB, sent inline).
	small, err := ray.Get(ctx, SumMatrix.Remote(ones(100, 100), 100, 100))
	if err != nil {
		return err
	}
	fmt.Println(strconv.FormatFloat(small, 'f', -1, 64))

	// Put a large matrix (8 MB) into the object store...
	matrixRef, err := ray.Put(ctx, ones(1000, 1000))
	if err != nil {
		return err
	}
	// ...and call the task with the object reference as an argument.
	large, err := ray.Get(ctx, SumMatrix.Remote(matrixRef, 1000, 1000))
	if err != nil {
		return err
	}
	fmt.Println(strconv.FormatFloat(large, 'f', -1, 64))
	return nil
}
