package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/goray/ray/internal/node"
	"github.com/goray/ray/internal/resources"
	"github.com/goray/ray/internal/session"
)

// runNode is `goray start --block`: it creates the session, starts the
// node, records it, and serves until SIGINT or SIGTERM (or until the node
// stops by itself), then stops the node and removes its records.
func runNode(ctx context.Context, cfg startConfig, token string, stdout, stderr io.Writer) error {
	sess, err := newSessionDir(cfg.TempRoot)
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(sess, "token"), []byte(token+"\n"), 0o600); err != nil {
		return fmt.Errorf("writing the session token: %w", err)
	}
	// Catch signals from here on: a stop that arrives while the node starts
	// must still clean up.
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
	defer signal.Stop(sigs)

	n, err := node.Start(node.Config{
		SessionDir: sess, Resources: cfg.Resources, ObjectStoreMemory: cfg.ObjectStoreMemory,
		StoreGrace: cfg.System.ObjectStoreFullDelay, Token: token,
		ListenAddr: cfg.ListenAddr, IsHead: cfg.Head, HeadAddr: cfg.HeadAddr,
		Labels: cfg.Labels, System: cfg.System, Stdout: stdout, Stderr: stderr,
	})
	if err != nil {
		return fmt.Errorf("starting the node: %w", err)
	}
	addr := nodeTCPAddr(n, cfg.ListenAddr)
	cluster := cfg.HeadAddr
	if cfg.Head {
		cluster = addr
	}
	pid := os.Getpid()
	rec := session.NodeRecord{PID: pid, NodeID: n.ID().String(), Address: addr, Head: cfg.Head,
		SessionDir: sess, StoreDir: n.StoreDir(), Cluster: cluster}

	stop := func() {
		if cfg.Head {
			session.RemoveClusterFile(cfg.TempRoot, addr)
		}
		n.Close()
		os.RemoveAll(session.SocketDir(sess))
		session.RemoveNodeRecord(cfg.TempRoot, pid)
	}
	if cfg.Head {
		err = session.WriteClusterFile(cfg.TempRoot, session.ClusterFile{Address: addr, Token: token, SessionDir: sess, HeadPID: pid})
	}
	if err == nil {
		err = session.WriteNodeRecord(cfg.TempRoot, rec)
	}
	if err != nil {
		stop()
		return fmt.Errorf("recording the node under %s: %w", cfg.TempRoot, err)
	}

	role := "head of a new cluster"
	if !cfg.Head {
		role = "joined the cluster at " + cfg.HeadAddr
	}
	fmt.Fprintf(stdout, "goray node started (pid %d), %s\n", pid, role)
	fmt.Fprintf(stdout, "  node ID:      %s\n", rec.NodeID)
	fmt.Fprintf(stdout, "  address:      %s\n", addr)
	fmt.Fprintf(stdout, "  resources:    %s\n", describeResources(cfg.Resources))
	fmt.Fprintf(stdout, "  object store: %s in %s\n", fmtBytes(float64(cfg.ObjectStoreMemory)), rec.StoreDir)
	fmt.Fprintf(stdout, "  session:      %s\n", sess)
	fmt.Fprintf(stdout, "Stop it with SIGINT/SIGTERM (Ctrl-C) or `goray stop`.\n")

	died := n.Done()
	select {
	case s := <-sigs:
		fmt.Fprintf(stdout, "goray node: %v: stopping\n", s)
	case <-died:
		fmt.Fprintf(stderr, "goray node: the node stopped by itself; cleaning up\n")
	case <-ctx.Done():
	}
	go func() {
		<-sigs
		fmt.Fprintf(stderr, "goray node: second signal: exiting without cleanup\n")
		os.Exit(1)
	}()
	stop()
	fmt.Fprintf(stdout, "goray node stopped\n")
	return nil
}

// nodeTCPAddr is the node's actual cluster address: with --port 0 only the
// node knows its port.
func nodeTCPAddr(n *node.Node, configured string) string {
	if s := n.TCPAddr(); s != "" {
		return s
	}
	return configured
}

// newSessionDir makes <root>/session_<time>_<pid> with logs/ inside and
// points <root>/session_latest at it.
func newSessionDir(root string) (string, error) {
	name := fmt.Sprintf("session_%s_%d", time.Now().Format("2006-01-02_15-04-05.000000"), os.Getpid())
	dir := filepath.Join(root, name)
	if err := os.MkdirAll(filepath.Join(dir, "logs"), 0o700); err != nil {
		return "", fmt.Errorf("creating the session directory: %w", err)
	}
	latest := filepath.Join(root, "session_latest")
	tmp := fmt.Sprintf("%s.%d", latest, os.Getpid())
	os.Remove(tmp)
	if err := os.Symlink(name, tmp); err != nil {
		return "", fmt.Errorf("linking session_latest: %w", err)
	}
	if err := os.Rename(tmp, latest); err != nil {
		os.Remove(tmp)
		return "", fmt.Errorf("linking session_latest: %w", err)
	}
	return dir, nil
}

// describeResources renders a node's resources for people: CPU, GPU,
// memory in GiB, then custom resources.
func describeResources(s resources.Set) string {
	f := s.Floats()
	out := fmt.Sprintf("%s CPU, %s GPU, %s memory", fmtQty(f[resources.CPU]), fmtQty(f[resources.GPU]), fmtBytes(f[resources.Memory]))
	for _, k := range sortedKeys(f) {
		if _, std := reservedResources[k]; !std {
			out += fmt.Sprintf(", %s %s", fmtQty(f[k]), k)
		}
	}
	return out
}
