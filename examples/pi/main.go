// Command pi is the seed's Monte Carlo estimate of π: sampling tasks report
// their progress to a ProgressActor, which the driver polls until all
// samples are done.
//
// Points are drawn uniformly in the 2×2 square centred on the origin; the
// fraction inside the unit circle approaches π/4.
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"math"
	"math/rand/v2"
	"time"

	"github.com/goray/ray"
)

// ProgressActor collects the samples completed by each sampling task.
// Its state lives in the actor's worker process and is never copied.
type ProgressActor struct {
	totalNumSamples            int
	numSamplesCompletedPerTask map[int]int
}

func newProgressActor(totalNumSamples int) *ProgressActor {
	return &ProgressActor{totalNumSamples: totalNumSamples, numSamplesCompletedPerTask: map[int]int{}}
}

func (p *ProgressActor) ReportProgress(taskID, numSamplesCompleted int) {
	p.numSamplesCompletedPerTask[taskID] = numSamplesCompleted
}

func (p *ProgressActor) GetProgress() float64 {
	done := 0
	for _, n := range p.numSamplesCompletedPerTask {
		done += n
	}
	return float64(done) / float64(p.totalNumSamples)
}

var (
	NewProgressActor = ray.Actor1(newProgressActor)
	ReportProgress   = ray.Method2Void((*ProgressActor).ReportProgress)
	GetProgress      = ray.Method0((*ProgressActor).GetProgress)
)

// SamplingTask draws numSamples points and returns how many fell inside the
// unit circle. The actor handle arrives as an ordinary argument.
var SamplingTask = ray.Func3(func(numSamples, taskID int, progressActor *ray.ActorHandle[ProgressActor]) int {
	// A source of its own per task: seeded from the task ID and the clock,
	// so tasks (and runs) draw different points.
	rng := rand.New(rand.NewPCG(uint64(taskID), uint64(time.Now().UnixNano())))
	numInside := 0
	for i := range numSamples {
		x, y := rng.Float64()*2-1, rng.Float64()*2-1
		if math.Hypot(x, y) <= 1 {
			numInside++
		}
		// Report progress every 1 million samples. This is async: the
		// returned ref is dropped without waiting.
		if (i+1)%1_000_000 == 0 {
			ReportProgress.Remote(progressActor, taskID, i+1)
		}
	}
	// Report the final progress.
	ReportProgress.Remote(progressActor, taskID, numSamples)
	return numInside
})

func main() {
	// Workers re-run this binary without arguments; they never use the flags.
	numTasks := flag.Int("tasks", 24, "number of sampling tasks")
	numSamplesPerTask := flag.Int("samples", 10_000_000, "samples per task")
	poll := flag.Duration("poll", time.Second, "progress polling interval")
	flag.Parse()

	ctx := context.Background()
	if err := ray.Init(ctx); err != nil {
		log.Fatal(err)
	}
	err := run(ctx, *numTasks, *numSamplesPerTask, *poll)
	// Shut down before log.Fatal, which exits without running deferred
	// calls and would leave the object store behind in /dev/shm.
	ray.Shutdown()
	if err != nil {
		log.Fatal(err)
	}
}

func run(ctx context.Context, numTasks, numSamplesPerTask int, poll time.Duration) error {
	totalNumSamples := numTasks * numSamplesPerTask

	// Create the progress actor.
	progressActor, err := NewProgressActor.Remote(totalNumSamples)
	if err != nil {
		return err
	}

	results := make([]ray.Ref[int], numTasks)
	for i := range results {
		results[i] = SamplingTask.Remote(numSamplesPerTask, i, progressActor)
	}

	// Query progress periodically.
	for {
		progress, err := ray.Get(ctx, GetProgress.Remote(progressActor))
		if err != nil {
			return err
		}
		fmt.Printf("Progress: %d%%\n", int(progress*100))
		if progress == 1 {
			break
		}
		time.Sleep(poll)
	}

	// Get all the sampling tasks' results.
	counts, err := ray.GetAll(ctx, results...)
	if err != nil {
		return err
	}
	totalNumInside := 0
	for _, n := range counts {
		totalNumInside += n
	}
	pi := float64(totalNumInside*4) / float64(totalNumSamples)
	fmt.Printf("Estimated value of π is: %v\n", pi)
	return nil
}
