package ray

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/goray/ray/internal/core"
	"github.com/goray/ray/internal/ids"
	"github.com/goray/ray/internal/node"
	"github.com/goray/ray/internal/resources"
	"github.com/goray/ray/internal/session"
)

var state struct {
	sync.Mutex
	rt      *core.Runtime
	node    *node.Node
	session string
}

// Init connects the program to goray. Without an address it starts an
// embedded local cluster inside this process: a node (object store, worker
// pool, scheduler) and the control service. In a worker process (the same
// binary, started by a node) Init serves tasks and never returns, so call it
// at the top of main, before the driver's own work.
func Init(ctx context.Context, opts ...InitOption) error {
	if isWorker, id, nodeAddr, token, session, ns := node.WorkerEnv(); isWorker {
		runWorker(ctx, id, nodeAddr, token, session, ns)
	}
	core.Default.Seal()
	state.Lock()
	defer state.Unlock()
	if state.rt != nil {
		return errors.New("ray: Init called twice (call Shutdown first)")
	}
	cfg := initConfig{logToDriver: true}
	for _, o := range opts {
		o.applyInit(&cfg)
	}
	if cfg.address == "" {
		cfg.address = os.Getenv("GORAY_ADDRESS")
	}
	if cfg.address != "" {
		rt, sess, err := connectCluster(ctx, cfg)
		if err != nil {
			return err
		}
		core.SetCurrent(rt)
		state.rt, state.node, state.session = rt, nil, sess
		return nil
	}
	res, err := nodeResources(cfg.resources)
	if err != nil {
		return err
	}
	if cfg.namespace == "" {
		cfg.namespace = "anon-" + ids.NewUnique().String()[:8]
	}
	session, err := newSessionDir(cfg.tempDir)
	if err != nil {
		return err
	}
	exe, err := os.Executable()
	if err != nil {
		return fmt.Errorf("ray: cannot find this program's binary to start workers: %w", err)
	}
	storeMem := cfg.objectStoreMemory
	if storeMem <= 0 {
		storeMem = defaultStoreMemory()
	}
	tok := make([]byte, 16)
	rand.Read(tok)
	token := hex.EncodeToString(tok)
	if err := os.WriteFile(filepath.Join(session, "token"), []byte(token+"\n"), 0o600); err != nil {
		return fmt.Errorf("ray: %w", err)
	}
	var out, errOut io.Writer = os.Stdout, os.Stderr
	if !cfg.logToDriver {
		out, errOut = io.Discard, io.Discard
	}
	var job ids.JobID
	copy(job[:], ids.NewUnique().String())
	n, err := node.Start(node.Config{
		SessionDir: session, Resources: res, ObjectStoreMemory: storeMem, StoreGrace: cfg.storeGrace,
		Token: token, JobID: job, Namespace: cfg.namespace, Executable: exe,
		RegistryHash: core.Default.Hash(), Stdout: out, Stderr: errOut,
	})
	if err != nil {
		return err
	}
	rt, err := core.New(ctx, core.Config{NodeAddr: n.Addr(), Token: token, SessionDir: session, Namespace: cfg.namespace})
	if err != nil {
		n.Close()
		return err
	}
	core.SetCurrent(rt)
	state.rt, state.node, state.session = rt, n, session
	return nil
}

// Shutdown disconnects the driver and stops the embedded cluster and every
// worker it started; the shared-memory store is removed. Refs from before
// are unusable afterwards.
func Shutdown() {
	state.Lock()
	defer state.Unlock()
	if state.rt == nil {
		return
	}
	core.SetCurrent(nil)
	state.rt.Close()
	if state.node != nil {
		state.node.Close()
	}
	os.RemoveAll(session.SocketDir(state.session))
	state.rt, state.node = nil, nil
}

// IsInitialized reports whether Init has run (and Shutdown has not).
func IsInitialized() bool {
	state.Lock()
	defer state.Unlock()
	return state.rt != nil
}

// SessionDir is the current session's directory (logs, token).
func SessionDir() string {
	state.Lock()
	defer state.Unlock()
	return state.session
}

func nodeResources(user map[string]float64) (resources.Set, error) {
	m := map[string]float64{"CPU": float64(runtime.NumCPU())}
	var si unix.Sysinfo_t
	if unix.Sysinfo(&si) == nil {
		m["memory"] = float64(si.Totalram) * float64(si.Unit) * 0.7
	}
	for k, v := range user {
		m[k] = v
	}
	set, err := resources.FromFloats(m)
	if err != nil {
		return nil, fmt.Errorf("ray: Init: %w: %w", ErrInvalidArgument, err)
	}
	return set, nil
}

// defaultStoreMemory is Ray's default: 30% of the machine's memory.
func defaultStoreMemory() int64 {
	var si unix.Sysinfo_t
	if err := unix.Sysinfo(&si); err != nil {
		return 2 << 30
	}
	return int64(float64(si.Totalram) * float64(si.Unit) * 0.3)
}

// newSessionDir makes <temp>/session_<time>_<pid> with logs/ and points
// <temp>/session_latest at it.
func newSessionDir(temp string) (string, error) {
	if temp == "" {
		temp = session.DefaultRoot()
	}
	name := fmt.Sprintf("session_%s_%d", time.Now().Format("2006-01-02_15-04-05.000000"), os.Getpid())
	dir := filepath.Join(temp, name)
	if err := os.MkdirAll(filepath.Join(dir, "logs"), 0o700); err != nil {
		return "", fmt.Errorf("ray: session dir: %w", err)
	}
	latest := filepath.Join(temp, "session_latest")
	tmp := latest + fmt.Sprintf(".%d", os.Getpid())
	os.Remove(tmp)
	if err := os.Symlink(name, tmp); err == nil {
		os.Rename(tmp, latest)
	}
	return dir, nil
}

// runWorker serves tasks until the node goes away, then exits.
func runWorker(ctx context.Context, id ids.WorkerID, nodeAddr, token, session, ns string) {
	rt, err := core.New(ctx, core.Config{IsWorker: true, WorkerID: id, NodeAddr: nodeAddr, Token: token, SessionDir: session, Namespace: ns})
	if err != nil {
		fmt.Fprintf(os.Stderr, "goray worker: %v\n", err)
		os.Exit(1)
	}
	core.SetCurrent(rt)
	if dir := os.Getenv(node.EnvWorkerCPUProfile); dir != "" {
		stop := startWorkerProfile(dir)
		core.OnExit(stop)
		<-rt.NodeDone()
		stop()
		os.Exit(0)
	}
	<-rt.NodeDone()
	os.Exit(0)
}

// startWorkerProfile starts a CPU profile written to dir; the returned func
// stops it (once; later calls do nothing).
func startWorkerProfile(dir string) func() {
	f, err := os.Create(filepath.Join(dir, fmt.Sprintf("worker-%d.cpu.prof", os.Getpid())))
	if err != nil {
		fmt.Fprintf(os.Stderr, "goray worker: %s: %v\n", node.EnvWorkerCPUProfile, err)
		return func() {}
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		fmt.Fprintf(os.Stderr, "goray worker: %s: %v\n", node.EnvWorkerCPUProfile, err)
		f.Close()
		return func() {}
	}
	var once sync.Once
	return func() {
		once.Do(func() {
			pprof.StopCPUProfile()
			f.Close()
		})
	}
}
