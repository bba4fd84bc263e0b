package ray

import (
	"time"
)

// InitOption configures Init; CallOption a task or method call;
// ActorOption an actor's creation. Some options (NumCPUs, Resources, ...)
// are all three.
type (
	InitOption  interface{ applyInit(*initConfig) }
	CallOption  interface{ applyCall(*callConfig) }
	ActorOption interface{ applyActor(*actorConfig) }
)

type initConfig struct {
	address           string
	resources         map[string]float64
	objectStoreMemory int64
	namespace         string
	tempDir           string
	storeGrace        time.Duration
	logToDriver       bool
}

type callConfig struct {
	resources       map[string]float64
	strategy        string
	affinityNode    string
	affinitySoft    bool
	maxRetries      int
	retryExceptions bool
	numReturns      int
}

type actorConfig struct {
	strategy       strategyOpt
	resources      map[string]float64
	setResources   bool
	maxRestarts    int
	maxTaskRetries int
	maxConcurrency int
	name           string
	namespace      string
	detached       bool
}

func setRes(m *map[string]float64, k string, v float64) {
	if *m == nil {
		*m = map[string]float64{}
	}
	(*m)[k] = v
}

type resourceOpt struct {
	key string
	val float64
	all map[string]float64
}

func (o resourceOpt) apply(m *map[string]float64) {
	if o.all != nil {
		for k, v := range o.all {
			setRes(m, k, v)
		}
		return
	}
	setRes(m, o.key, o.val)
}
func (o resourceOpt) applyInit(c *initConfig) { o.apply(&c.resources) }
func (o resourceOpt) applyCall(c *callConfig) { o.apply(&c.resources) }
func (o resourceOpt) applyActor(c *actorConfig) {
	o.apply(&c.resources)
	c.setResources = true
}

// NumCPUs sets the CPUs a task or actor needs (fractions allowed), or, for
// Init, the CPUs the embedded node offers (default: the machine's cores).
func NumCPUs(n float64) resourceOpt { return resourceOpt{key: "CPU", val: n} }

// NumGPUs sets GPUs needed or offered.
func NumGPUs(n float64) resourceOpt { return resourceOpt{key: "GPU", val: n} }

// Memory sets the heap memory (bytes) needed or offered, for scheduling.
func Memory(bytes float64) resourceOpt { return resourceOpt{key: "memory", val: bytes} }

// Resources sets custom resources needed or offered, e.g.
// ray.Resources(map[string]float64{"alice": 1}).
func Resources(r map[string]float64) resourceOpt { return resourceOpt{all: r} }

type callOpt func(*callConfig)

func (f callOpt) applyCall(c *callConfig) { f(c) }

// MaxRetries sets how often a task is retried if its worker dies (default
// 3; -1 retries forever; 0 never).
func MaxRetries(n int) CallOption { return callOpt(func(c *callConfig) { c.maxRetries = n }) }

// RetryExceptions makes application errors and panics count as retryable
// failures too (within MaxRetries).
func RetryExceptions(b bool) CallOption {
	return callOpt(func(c *callConfig) { c.retryExceptions = b })
}

// NumReturns splits a function's slice result into n objects, each with a
// Ref of its own (take them with Split).
func NumReturns(n int) CallOption { return callOpt(func(c *callConfig) { c.numReturns = n }) }

type actorOpt func(*actorConfig)

func (f actorOpt) applyActor(c *actorConfig) { f(c) }

// MaxRestarts sets how often a dead actor is restarted by running its
// constructor again (default 0; -1 forever).
func MaxRestarts(n int) ActorOption { return actorOpt(func(c *actorConfig) { c.maxRestarts = n }) }

// MaxTaskRetries sets how often a method call interrupted by the actor's
// death is retried on its restarted instance (default 0; -1 forever).
func MaxTaskRetries(n int) ActorOption {
	return actorOpt(func(c *actorConfig) { c.maxTaskRetries = n })
}

// MaxConcurrency lets an actor run up to n calls at once (default 1: one at
// a time, in order).
func MaxConcurrency(n int) ActorOption {
	return actorOpt(func(c *actorConfig) { c.maxConcurrency = n })
}

// Name names an actor, so ray.GetActor can find it.
func Name(name string) ActorOption { return actorOpt(func(c *actorConfig) { c.name = name }) }

// Detached makes a named actor outlive the driver that created it.
func Detached() ActorOption { return actorOpt(func(c *actorConfig) { c.detached = true }) }

type nsOpt string

func (o nsOpt) applyInit(c *initConfig)   { c.namespace = string(o) }
func (o nsOpt) applyActor(c *actorConfig) { c.namespace = string(o) }

// Namespace sets the namespace of a named actor, or for Init the job's
// namespace (default: a fresh anonymous one per driver, as in Ray).
func Namespace(ns string) nsOpt { return nsOpt(ns) }

type initOpt func(*initConfig)

func (f initOpt) applyInit(c *initConfig) { f(c) }

// Address connects to an existing cluster instead of starting the embedded
// one ("host:port", or "auto"). GORAY_ADDRESS sets it too.
func Address(addr string) InitOption { return initOpt(func(c *initConfig) { c.address = addr }) }

// ObjectStoreMemory sets the embedded node's store capacity in bytes
// (default 30% of the machine's memory).
func ObjectStoreMemory(bytes int64) InitOption {
	return initOpt(func(c *initConfig) { c.objectStoreMemory = bytes })
}

// TempDir sets the root of session directories (default /tmp/goray).
func TempDir(dir string) InitOption { return initOpt(func(c *initConfig) { c.tempDir = dir }) }

// ObjectStoreFullDelay sets how long a put waits for space before failing
// with ErrObjectStoreFull (default 1s).
func ObjectStoreFullDelay(d time.Duration) InitOption {
	return initOpt(func(c *initConfig) { c.storeGrace = d })
}

// LogToDriver sets whether workers' output is shown on the driver's
// terminal (default true); it always goes to the session's log files.
func LogToDriver(b bool) InitOption { return initOpt(func(c *initConfig) { c.logToDriver = b }) }

// CancelOption configures Cancel.
type CancelOption interface{ applyCancel(*cancelConfig) }
type cancelConfig struct{ force bool }
type cancelOpt func(*cancelConfig)

func (f cancelOpt) applyCancel(c *cancelConfig) { f(c) }

// Force makes Cancel kill the worker running the task.
func Force() CancelOption { return cancelOpt(func(c *cancelConfig) { c.force = true }) }

// KillOption configures Kill.
type KillOption interface{ applyKill(*killConfig) }
type killConfig struct{ noRestart bool }
type killOpt func(*killConfig)

func (f killOpt) applyKill(c *killConfig) { f(c) }

// AllowRestart lets a killed actor restart if it has restarts left (Ray's
// no_restart=False).
func AllowRestart() KillOption { return killOpt(func(c *killConfig) { c.noRestart = false }) }

type strategyOpt struct {
	strategy string
	node     string
	soft     bool
}

func (o strategyOpt) applyCall(c *callConfig) {
	c.strategy, c.affinityNode, c.affinitySoft = o.strategy, o.node, o.soft
}

func (o strategyOpt) applyActor(c *actorConfig) { c.strategy = o }

// Spread spreads a function's tasks (or a class's actors) over the nodes
// that can run them (Ray's scheduling_strategy="SPREAD").
func Spread() strategyOpt { return strategyOpt{strategy: "SPREAD"} }

// NodeAffinity runs tasks on the node with this ID (GetRuntimeContext's
// NodeID). With soft, they run elsewhere when that node is gone; without,
// they fail with ErrUnschedulable (Ray's NodeAffinitySchedulingStrategy).
func NodeAffinity(nodeID string, soft bool) strategyOpt {
	return strategyOpt{strategy: "NODE_AFFINITY", node: nodeID, soft: soft}
}
