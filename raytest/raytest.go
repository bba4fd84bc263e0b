// Package raytest runs goray clusters inside a test process: a head and
// worker nodes on random loopback ports, each a real node manager with its
// own object store and worker processes (the test binary, re-executed in
// worker mode: the test's TestMain must call ray.Init first when
// GORAY_WORKER=1). A driver joins with ray.Init(ctx, ray.Address(c.Address)).
//
//	func TestMain(m *testing.M) {
//		if os.Getenv("GORAY_WORKER") == "1" {
//			ray.Init(context.Background()) // serves; never returns
//		}
//		os.Exit(m.Run())
//	}
//
//	func TestSomething(t *testing.T) {
//		c := raytest.NewCluster(t, raytest.Node{CPUs: 2}, raytest.Node{CPUs: 2, Resources: map[string]float64{"alice": 1}})
//		ray.Init(ctx, ray.Address(c.Address))
//		...
//	}
//
// Everything is torn down by t.Cleanup.
package raytest

import (
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/goray/ray/internal/ids"
	"github.com/goray/ray/internal/node"
	"github.com/goray/ray/internal/resources"
)

// Node describes one node of a test cluster.
type Node struct {
	CPUs      float64
	Resources map[string]float64
	// ObjectStoreMemory defaults to 256 MiB.
	ObjectStoreMemory int64
	Labels            map[string]string
}

// Cluster is a running test cluster.
type Cluster struct {
	// Address is the head's host:port; Token the cluster token (also set
	// as GORAY_TOKEN for the test).
	Address string
	Token   string
	System  node.SystemConfig

	t     testing.TB
	root  string
	mu    sync.Mutex
	nodes []*node.Node
}

// FastHealth is the health-check config test clusters use: a node silent
// for 2 s is declared dead. Fast for tests, yet tolerant of heartbeats
// starved by a loaded 2-core machine under the race detector (a healthy
// node declared dead stops itself).
func FastHealth() node.SystemConfig {
	c := node.DefaultSystemConfig()
	c.HealthCheckPeriod = 100 * time.Millisecond
	c.HealthCheckFailureThreshold = 20
	c.HealthCheckTimeout = time.Second
	c.HealthCheckInitialDelay = 0
	return c
}

// NewCluster starts a head (specs[0]) and the other nodes.
func NewCluster(t testing.TB, specs ...Node) *Cluster {
	t.Helper()
	if len(specs) == 0 {
		specs = []Node{{CPUs: 2}}
	}
	c := &Cluster{t: t, root: t.TempDir(), Token: fmt.Sprintf("test-%s", ids.NewUnique()), System: FastHealth()}
	t.Setenv("GORAY_TOKEN", c.Token)
	for i, s := range specs {
		n := c.start(s, i == 0)
		if i == 0 {
			c.Address = n.TCPAddr()
		}
	}
	c.WaitNodes(len(specs))
	return c
}

func (c *Cluster) start(s Node, head bool) *node.Node {
	c.t.Helper()
	m := map[string]float64{"CPU": s.CPUs}
	for k, v := range s.Resources {
		m[k] = v
	}
	res, err := resources.FromFloats(m)
	if err != nil {
		c.t.Fatal(err)
	}
	if s.ObjectStoreMemory == 0 {
		s.ObjectStoreMemory = 256 << 20
	}
	c.mu.Lock()
	idx := len(c.nodes)
	c.mu.Unlock()
	sess := filepath.Join(c.root, fmt.Sprintf("session_n%d", idx))
	os.MkdirAll(sess, 0o700)
	cfg := node.Config{SessionDir: sess, Resources: res, ObjectStoreMemory: s.ObjectStoreMemory, Token: c.Token,
		ListenAddr: "127.0.0.1:0", IsHead: head, Labels: s.Labels, System: c.System, StoreGrace: time.Second}
	if !head {
		cfg.HeadAddr = c.Address
	}
	n, err := node.Start(cfg)
	if err != nil {
		c.t.Fatal(err)
	}
	c.mu.Lock()
	c.nodes = append(c.nodes, n)
	c.mu.Unlock()
	c.t.Cleanup(func() { n.Close() })
	return n
}

// AddNode starts one more node and waits until the head knows it.
func (c *Cluster) AddNode(s Node) *node.Node {
	c.t.Helper()
	n := c.start(s, false)
	c.mu.Lock()
	want := len(c.nodes)
	c.mu.Unlock()
	c.WaitNodes(want)
	return n
}

// Node returns the i-th node started (0 is the head).
func (c *Cluster) Node(i int) *node.Node {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.nodes[i]
}

// NodeID is the hex ID of the i-th node (as GetRuntimeContext reports it).
func (c *Cluster) NodeID(i int) string { return c.Node(i).ID().String() }

// KillNode stops node i abruptly, as a crash would: its workers die and it
// stops answering; the head notices through missed health checks.
func (c *Cluster) KillNode(i int) {
	c.Node(i).Close()
}

// WaitNodes waits until the head lists n alive nodes.
func (c *Cluster) WaitNodes(n int) {
	c.t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		alive := 0
		for _, ni := range c.Node(0).GCS().View().Nodes {
			if ni.Alive {
				alive++
			}
		}
		if alive >= n {
			return
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("raytest: %d of %d nodes alive after 15s", alive, n)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
