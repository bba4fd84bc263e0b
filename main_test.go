package ray_test

import (
	"context"
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/goray/ray"
)

// TestMain lets the test binary double as the worker binary: a node
// re-executes it with GORAY_WORKER=1, and Init then serves tasks.
func TestMain(m *testing.M) {
	if os.Getenv("GORAY_WORKER") == "1" {
		ray.Init(context.Background()) // never returns in a worker
	}
	os.Exit(m.Run())
}

// start initializes an embedded cluster for one test.
func start(t testing.TB, opts ...ray.InitOption) context.Context {
	t.Helper()
	opts = append([]ray.InitOption{ray.TempDir(t.TempDir()), ray.LogToDriver(false)}, opts...)
	if err := ray.Init(context.Background(), opts...); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(ray.Shutdown)
	return context.Background()
}

var errAuth = errors.New("rpc: authentication failed: wrong or missing cluster token")

func contains(s, sub string) bool { return strings.Contains(s, sub) }
