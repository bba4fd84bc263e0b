// Command paillier is the seed's Paillier benchmark: encrypting numbers one
// task per number, then in batches (one task per batch), each timed against
// a single-core loop; a sample of the ciphertexts is decrypted to check
// them.
package main

import (
	"context"
	"crypto/rand"
	"flag"
	"fmt"
	"log"
	"math/big"
	"runtime"
	"time"

	"github.com/goray/ray"
)

var (
	// Encrypt is the seed's encrypt(pubk, num): one number per task.
	Encrypt = ray.Func2Err(func(pk PublicKey, num int) (*big.Int, error) {
		return pk.EncryptInt(num)
	})
	// EncryptBatch is the seed's encrypt_batch(pubk, num): it encrypts
	// 0, 1, ..., num-1 in one task.
	EncryptBatch = ray.Func2Err(func(pk PublicKey, num int) ([]*big.Int, error) {
		out := make([]*big.Int, num)
		for i := range out {
			c, err := pk.EncryptInt(i)
			if err != nil {
				return nil, err
			}
			out[i] = c
		}
		return out, nil
	})
)

func main() {
	// Workers re-run this binary without arguments; they never use the flags.
	bits := flag.Int("bits", 1024, "key length n_length in bits")
	n := flag.Int("n", 10000, "numbers to encrypt, one task each")
	batches := flag.Int("batches", 20, "number of encrypt_batch tasks")
	batch := flag.Int("batch", 500, "numbers per encrypt_batch task")
	flag.Parse()

	ctx := context.Background()
	if err := ray.Init(ctx); err != nil {
		log.Fatal(err)
	}
	err := run(ctx, *bits, *n, *batches, *batch)
	// Shut down before log.Fatal, which exits without running deferred
	// calls and would leave the object store behind in /dev/shm.
	ray.Shutdown()
	if err != nil {
		log.Fatal(err)
	}
}

func run(ctx context.Context, bits, n, batches, batch int) error {
	pk, sk, err := GenerateKeyPair(rand.Reader, bits)
	if err != nil {
		return err
	}
	fmt.Printf("%d-bit key; %d numbers one per task; %d batches of %d; %d CPUs\n",
		bits, n, batches, batch, runtime.NumCPU())

	// Warm up: start the worker processes before timing anything, as a
	// long-running Ray cluster would already have them.
	warm := make([]ray.Ref[*big.Int], runtime.NumCPU())
	for i := range warm {
		warm[i] = Encrypt.Remote(*pk, i)
	}
	if _, err := ray.GetAll(ctx, warm...); err != nil {
		return err
	}

	// Single core: the same n encryptions in a plain loop.
	t0 := time.Now()
	local := make([]*big.Int, n)
	for i := range local {
		if local[i], err = pk.EncryptInt(i); err != nil {
			return err
		}
	}
	single := time.Since(t0)
	fmt.Printf("single-core loop time is %v\n", single.Round(time.Millisecond))

	// One task per number (the seed's encrypt_test). The key is passed by
	// value, as the seed does; it is small (three numbers).
	t0 = time.Now()
	tasks := make([]ray.Ref[*big.Int], n)
	for i := range tasks {
		tasks[i] = Encrypt.Remote(*pk, i)
	}
	perNumber, err := ray.GetAll(ctx, tasks...)
	if err != nil {
		return err
	}
	perTask := time.Since(t0)
	fmt.Printf("encrypt (one task per number) time is %v, speedup %.2fx\n",
		perTask.Round(time.Millisecond), float64(single)/float64(perTask))

	// One task per batch (the seed's encrypt_batch). Its speedup is against
	// the single-core loop's time scaled to the same number of encryptions.
	t0 = time.Now()
	batchRefs := make([]ray.Ref[[]*big.Int], batches)
	for i := range batchRefs {
		batchRefs[i] = EncryptBatch.Remote(*pk, batch)
	}
	batched, err := ray.GetAll(ctx, batchRefs...)
	if err != nil {
		return err
	}
	perBatch := time.Since(t0)
	batchSingle := float64(single) * float64(batches*batch) / float64(max(n, 1))
	fmt.Printf("encrypt_batch (%d tasks) time is %v, speedup %.2fx\n",
		batches, perBatch.Round(time.Millisecond), batchSingle/float64(perBatch))

	// Check: decrypt a sample of each kind of result.
	checked := 0
	check := func(what string, c *big.Int, want int) error {
		m, err := sk.Decrypt(c)
		if err != nil {
			return fmt.Errorf("%s: %w", what, err)
		}
		if !m.IsInt64() || m.Int64() != int64(want) {
			return fmt.Errorf("%s: decrypted %v, want %d", what, m, want)
		}
		checked++
		return nil
	}
	for _, i := range sample(n) {
		if err := check(fmt.Sprintf("encrypt(%d)", i), perNumber[i], i); err != nil {
			return err
		}
		if err := check(fmt.Sprintf("local encrypt(%d)", i), local[i], i); err != nil {
			return err
		}
	}
	for b, cs := range batched {
		if len(cs) != batch {
			return fmt.Errorf("batch %d has %d ciphertexts, want %d", b, len(cs), batch)
		}
		for _, i := range sample(batch) {
			if err := check(fmt.Sprintf("batch %d encrypt(%d)", b, i), cs[i], i); err != nil {
				return err
			}
		}
	}
	// Homomorphic addition: E(a)·E(b) mod n² decrypts to a+b.
	if n >= 2 {
		a, b := n-1, n/2
		if err := check(fmt.Sprintf("encrypt(%d)+encrypt(%d)", a, b), pk.Add(perNumber[a], perNumber[b]), a+b); err != nil {
			return err
		}
	}
	fmt.Printf("decryption check passed (%d ciphertexts)\n", checked)
	return nil
}

// sample returns up to 5 indexes spread over [0, n), first and last included.
func sample(n int) []int {
	if n <= 5 {
		out := make([]int, n)
		for i := range out {
			out[i] = i
		}
		return out
	}
	return []int{0, n / 4, n / 2, 3 * n / 4, n - 1}
}
