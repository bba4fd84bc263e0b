package ray

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"runtime"
	"time"

	"github.com/goray/ray/internal/core"
	"github.com/goray/ray/internal/ids"
	"github.com/goray/ray/internal/node"
	"github.com/goray/ray/internal/proto"
	"github.com/goray/ray/internal/session"
)

// ErrNoLocalNode: a driver needs a goray node on its own machine (for the
// shared-memory store and leases), and none of the cluster's is here.
var ErrNoLocalNode = errors.New("ray: no node of the cluster runs on this machine")

// connectCluster attaches the driver to a running cluster: it resolves the
// address and token, picks the cluster's node on this machine, registers
// the job (binary by sha256) with it and starts the core worker.
func connectCluster(ctx context.Context, cfg initConfig) (*core.Runtime, string, error) {
	root := cfg.tempDir
	if root == "" {
		root = session.DefaultRoot()
	}
	addr, token := cfg.address, os.Getenv("GORAY_TOKEN")
	if addr == "auto" {
		cf, err := session.LatestCluster(root)
		if err != nil {
			return nil, "", err
		}
		addr = cf.Address
		if token == "" {
			token = cf.Token
		}
	}
	if token == "" {
		cf, err := session.ReadClusterFile(root, addr)
		if err != nil {
			return nil, "", fmt.Errorf("ray: no token for %s: set GORAY_TOKEN (%w)", addr, err)
		}
		token = cf.Token
	}
	qctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	nodes, err := node.GetNodes(qctx, addr, token)
	if err != nil {
		return nil, "", fmt.Errorf("ray: connect to %s: %w", addr, err)
	}
	local, err := pickLocalNode(nodes)
	if err != nil {
		return nil, "", err
	}
	exe, err := os.Executable()
	if err != nil {
		return nil, "", fmt.Errorf("ray: cannot find this program's binary: %w", err)
	}
	sum, size, err := node.FileSHA256(exe)
	if err != nil {
		return nil, "", fmt.Errorf("ray: hashing this program's binary: %w", err)
	}
	var job ids.JobID
	copy(job[:], ids.NewUnique().String())
	ns := cfg.namespace
	if ns == "" {
		ns = "anon-" + ids.NewUnique().String()[:8]
	}
	sess, err := newSessionDir(root)
	if err != nil {
		return nil, "", err
	}
	info := &proto.JobInfo{JobID: job, BinarySHA256: sum, BinarySize: size, Platform: runtime.GOOS + "/" + runtime.GOARCH,
		RegistryHash: core.Default.Hash(), Namespace: ns, DriverPID: os.Getpid(), BinaryPath: exe}
	rt, err := core.New(ctx, core.Config{NodeAddr: "tcp:" + local.Addr, Token: token, SessionDir: sess, Namespace: ns, Job: info})
	if err != nil {
		return nil, "", err
	}
	return rt, sess, nil
}

// pickLocalNode chooses the cluster's node on this machine: the head if it
// is here, else the first alive one.
func pickLocalNode(nodes []proto.NodeInfo) (proto.NodeInfo, error) {
	mine := map[string]bool{}
	if addrs, err := net.InterfaceAddrs(); err == nil {
		for _, a := range addrs {
			if ipn, ok := a.(*net.IPNet); ok {
				mine[ipn.IP.String()] = true
			}
		}
	}
	var best *proto.NodeInfo
	for i, n := range nodes {
		host, _, err := net.SplitHostPort(n.Addr)
		if err != nil || !n.Alive {
			continue
		}
		ip := net.ParseIP(host)
		if ip == nil || !(ip.IsLoopback() || mine[ip.String()]) {
			continue
		}
		if best == nil || n.IsHead {
			best = &nodes[i]
		}
	}
	if best == nil {
		return proto.NodeInfo{}, ErrNoLocalNode
	}
	return *best, nil
}
