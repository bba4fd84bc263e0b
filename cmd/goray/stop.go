package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/goray/ray/internal/session"
)

func newStopCmd() *cobra.Command {
	var (
		force   bool
		tempDir string
		grace   time.Duration
	)
	cmd := &cobra.Command{
		Use:   "stop",
		Short: "Stop the goray nodes running on this machine",
		Long: `Stop every goray node started on this machine (under --temp-dir): each
gets SIGTERM, and SIGKILL if it has not exited after --grace (or at once
with --force). Their object stores and records are removed, and so are
cluster files whose head is gone.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			root, err := tempRoot(tempDir)
			if err != nil {
				return err
			}
			if grace < 0 {
				return fmt.Errorf("%w: --grace %v: must be >= 0", errUsage, grace)
			}
			return stopNodes(cmd.OutOrStdout(), root, force, grace)
		},
	}
	cmd.Flags().BoolVar(&force, "force", false, "SIGKILL the nodes instead of asking them to stop")
	cmd.Flags().StringVar(&tempDir, "temp-dir", "", "the `DIR` the nodes were started with (default "+session.DefaultRoot()+")")
	cmd.Flags().DurationVar(&grace, "grace", 10*time.Second, "how long a node may take to stop before it is killed")
	return cmd
}

// tempRoot is --temp-dir made absolute, or the default.
func tempRoot(dir string) (string, error) {
	if dir == "" {
		return session.DefaultRoot(), nil
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return "", fmt.Errorf("--temp-dir %q: %w", dir, err)
	}
	return abs, nil
}

// stopNodes stops every recorded node under root and removes what they
// leave behind.
func stopNodes(w io.Writer, root string, force bool, grace time.Duration) error {
	recs, err := session.NodeRecords(root)
	if err != nil {
		return fmt.Errorf("listing the nodes under %s: %w", root, err)
	}
	sig := syscall.SIGTERM
	if force {
		sig = syscall.SIGKILL
	}
	var running []session.NodeRecord
	for _, r := range recs {
		if !isNodeProcess(r.PID) {
			cleanupAfter(root, r)
			fmt.Fprintf(w, "Removed the record of node %s (pid %d), which was not running.\n", shortID(r.NodeID), r.PID)
			continue
		}
		if err := syscall.Kill(r.PID, sig); err != nil && !errors.Is(err, syscall.ESRCH) {
			fmt.Fprintf(w, "Could not signal node %s (pid %d): %v\n", shortID(r.NodeID), r.PID, err)
		}
		running = append(running, r)
	}
	left := waitGone(running, grace)
	if len(left) > 0 && !force {
		for _, r := range left {
			fmt.Fprintf(w, "Node %s (pid %d) did not stop within %v: killing it.\n", shortID(r.NodeID), r.PID, grace)
			syscall.Kill(r.PID, syscall.SIGKILL)
		}
		left = waitGone(left, 5*time.Second)
	}
	stopped := 0
	for _, r := range running {
		if slices.ContainsFunc(left, func(l session.NodeRecord) bool { return l.PID == r.PID }) {
			fmt.Fprintf(w, "Could not stop node %s (pid %d).\n", shortID(r.NodeID), r.PID)
			continue
		}
		cleanupAfter(root, r)
		role := "worker"
		if r.Head {
			role = "head"
		}
		fmt.Fprintf(w, "Stopped node %s (pid %d, %s, %s).\n", shortID(r.NodeID), r.PID, role, r.Address)
		stopped++
	}
	for _, addr := range removeDeadClusters(root) {
		fmt.Fprintf(w, "Removed the cluster file of %s (its head is gone).\n", addr)
	}
	switch {
	case len(left) > 0:
		return fmt.Errorf("%d node(s) could not be stopped", len(left))
	case stopped == 0:
		fmt.Fprintln(w, "no goray nodes running")
	default:
		fmt.Fprintf(w, "Stopped %d goray node(s).\n", stopped)
	}
	return nil
}

// waitGone waits up to d for the processes to exit; it returns those left.
func waitGone(recs []session.NodeRecord, d time.Duration) []session.NodeRecord {
	deadline := time.Now().Add(d)
	for {
		var left []session.NodeRecord
		for _, r := range recs {
			if processRunning(r.PID) {
				left = append(left, r)
			}
		}
		if len(left) == 0 || time.Now().After(deadline) {
			return left
		}
		recs = left
		time.Sleep(50 * time.Millisecond)
	}
}

// cleanupAfter removes what a node that is gone may have left: its store,
// its socket directory, its record and, for a head, its cluster file.
func cleanupAfter(root string, r session.NodeRecord) {
	if r.StoreDir != "" && safeStoreDir(root, r.StoreDir) {
		os.RemoveAll(r.StoreDir)
	}
	if r.SessionDir != "" {
		if sd := session.SocketDir(r.SessionDir); strings.HasPrefix(filepath.Base(sd), "goray-s-") || sd == filepath.Join(r.SessionDir, "sockets") {
			os.RemoveAll(sd)
		}
	}
	session.RemoveNodeRecord(root, r.PID)
	if r.Head {
		if cf, err := session.ReadClusterFile(root, r.Address); err == nil && cf.HeadPID == r.PID {
			session.RemoveClusterFile(root, r.Address)
		}
	}
}

// safeStoreDir: only directories named goray-* right under /dev/shm, the
// system temp dir or root are removed.
func safeStoreDir(root, dir string) bool {
	if !filepath.IsAbs(dir) {
		return false
	}
	dir = filepath.Clean(dir)
	if !strings.HasPrefix(filepath.Base(dir), "goray-") {
		return false
	}
	parent := filepath.Dir(dir)
	return parent == "/dev/shm" || parent == filepath.Clean(os.TempDir()) || parent == filepath.Clean(root)
}

// removeDeadClusters removes the cluster files whose head process is gone
// and returns their addresses.
func removeDeadClusters(root string) []string {
	cfs, _ := session.ClusterFiles(root)
	var gone []string
	for _, cf := range cfs {
		if !processRunning(cf.HeadPID) && session.RemoveClusterFile(root, cf.Address) == nil {
			gone = append(gone, cf.Address)
		}
	}
	return gone
}

// processRunning reports whether pid exists and is not a zombie.
func processRunning(pid int) bool {
	if !session.Alive(pid) {
		return false
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return !errors.Is(err, os.ErrNotExist)
	}
	// The state follows the command name, which is in parentheses.
	if i := strings.LastIndexByte(string(b), ')'); i >= 0 && i+2 < len(b) {
		switch b[i+2] {
		case 'Z', 'X':
			return false
		}
	}
	return true
}

// isNodeProcess reports whether pid is running and still a goray node
// (`goray start --block`), not another process that got its pid since.
func isNodeProcess(pid int) bool {
	if !processRunning(pid) {
		return false
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err != nil {
		return true // cannot tell: trust the record
	}
	args := strings.Split(string(b), "\x00")
	return slices.Contains(args, "start") && slices.Contains(args, "--block")
}
