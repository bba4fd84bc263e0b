package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/goray/ray/internal/node"
	"github.com/goray/ray/internal/session"
)

// startDetached is `goray start` without --block: it runs `goray start
// --block` with the same flags in a new session (setsid), its output going
// to a log file, and returns once the node is up.
func startDetached(cmd *cobra.Command, cfg startConfig, token string, timeout time.Duration) error {
	exe, err := os.Executable()
	if err != nil {
		return fmt.Errorf("cannot find the goray binary to run the node: %w", err)
	}
	logDir := filepath.Join(cfg.TempRoot, "logs")
	if err := os.MkdirAll(logDir, 0o700); err != nil {
		return fmt.Errorf("creating the log directory: %w", err)
	}
	logPath := filepath.Join(logDir, fmt.Sprintf("goray-start-%d.log", os.Getpid()))
	lf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
	if err != nil {
		return fmt.Errorf("creating the node log: %w", err)
	}
	child := exec.Command(exe, childArgs(cmd.Flags(), cfg)...)
	// The token goes by environment, so that it does not show in ps.
	child.Env = withEnv(os.Environ(), envToken, token)
	child.Stdout, child.Stderr = lf, lf // stdin is /dev/null
	child.Dir = "/"
	child.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	err = child.Start()
	lf.Close()
	if err != nil {
		return fmt.Errorf("running the node process: %w", err)
	}
	c := &childProc{p: child.Process, done: make(chan struct{})}
	go func() { c.err = child.Wait(); close(c.done) }()

	rec, err := waitNodeUp(cmd.Context(), cfg, token, c, timeout)
	if err != nil {
		c.stop(cfg.TempRoot)
		printLogTail(cmd.ErrOrStderr(), logPath, 25)
		return err
	}
	printNextSteps(cmd.OutOrStdout(), cfg, rec, logPath)
	return nil
}

// childArgs are the flags the user set, minus the token (passed by
// environment), with the temp dir made absolute and --block added.
func childArgs(fs *pflag.FlagSet, cfg startConfig) []string {
	args := []string{"start"}
	fs.Visit(func(fl *pflag.Flag) {
		switch fl.Name {
		case "token", "temp-dir", "block", "start-timeout":
			return
		}
		args = append(args, "--"+fl.Name+"="+fl.Value.String())
	})
	return append(args, "--temp-dir="+cfg.TempRoot, "--block")
}

// childProc is the background node process; done is closed, and err
// set, once it has exited.
type childProc struct {
	p    *os.Process
	done chan struct{}
	err  error
}

// withEnv returns env with key set to value (and no other entry for key).
func withEnv(env []string, key, value string) []string {
	out := make([]string, 0, len(env)+1)
	for _, kv := range env {
		if !strings.HasPrefix(kv, key+"=") {
			out = append(out, kv)
		}
	}
	return append(out, key+"="+value)
}

// waitNodeUp waits until the node process pid has written its record and
// answers: the head answers status, another node is listed by its head.
func waitNodeUp(ctx context.Context, cfg startConfig, token string, c *childProc, timeout time.Duration) (session.NodeRecord, error) {
	deadline := time.Now().Add(timeout)
	tick := time.NewTicker(150 * time.Millisecond)
	defer tick.Stop()
	last := errors.New("it wrote no node record")
	for {
		select {
		case <-c.done:
			err := c.err
			if err == nil {
				err = errors.New("exit status 0")
			}
			return session.NodeRecord{}, fmt.Errorf("the node process exited before it was up (%w)", err)
		case <-ctx.Done():
			return session.NodeRecord{}, ctx.Err()
		case <-tick.C:
		}
		if rec, ok := findRecord(cfg.TempRoot, c.p.Pid); ok {
			if last = probeNode(ctx, cfg, token, rec); last == nil {
				return rec, nil
			}
		}
		if time.Now().After(deadline) {
			return session.NodeRecord{}, fmt.Errorf("the node did not come up within %v: %w", timeout, last)
		}
	}
}

// findRecord finds the node record of pid.
func findRecord(root string, pid int) (session.NodeRecord, bool) {
	recs, _ := session.NodeRecords(root)
	for _, r := range recs {
		if r.PID == pid {
			return r, true
		}
	}
	return session.NodeRecord{}, false
}

// probeNode checks that a started node serves the cluster.
func probeNode(ctx context.Context, cfg startConfig, token string, rec session.NodeRecord) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	if rec.Head {
		if _, err := node.QueryStatus(ctx, rec.Address, token); err != nil {
			return fmt.Errorf("the head at %s does not answer status: %w", rec.Address, err)
		}
		return nil
	}
	st, err := node.QueryStatus(ctx, cfg.HeadAddr, token)
	if err != nil {
		return fmt.Errorf("the head at %s does not answer status: %w", cfg.HeadAddr, err)
	}
	for _, n := range st.Nodes {
		if n.NodeID.String() == rec.NodeID && n.Alive {
			return nil
		}
	}
	return fmt.Errorf("the head at %s does not list node %s yet", cfg.HeadAddr, shortID(rec.NodeID))
}

// stop ends a node process that did not come up, and cleans up after it
// if it could not.
func (c *childProc) stop(root string) {
	c.p.Signal(syscall.SIGTERM)
	select {
	case <-c.done:
	case <-time.After(5 * time.Second):
		c.p.Kill()
		<-c.done
	}
	if rec, ok := findRecord(root, c.p.Pid); ok {
		cleanupAfter(root, rec)
	}
}

// printLogTail shows the last lines of a node's log.
func printLogTail(w io.Writer, path string, lines int) {
	b, err := os.ReadFile(path)
	if err != nil || len(bytes.TrimSpace(b)) == 0 {
		fmt.Fprintf(w, "(the node log %s is empty)\n", path)
		return
	}
	ls := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(ls) > lines {
		ls = ls[len(ls)-lines:]
	}
	fmt.Fprintf(w, "---- last lines of %s ----\n%s\n----\n", path, strings.Join(ls, "\n"))
}

// printNextSteps tells the user how to use the node they started, as
// `ray start` does.
func printNextSteps(w io.Writer, cfg startConfig, rec session.NodeRecord, logPath string) {
	td := ""
	if cfg.TempRoot != session.DefaultRoot() {
		td = " --temp-dir=" + shellQuote(cfg.TempRoot)
	}
	tokenPath := filepath.Join(rec.SessionDir, "token")
	if !rec.Head {
		fmt.Fprintf(w, "goray runtime started: node %s (%s) joined the cluster at %s.\n\n", shortID(rec.NodeID), rec.Address, rec.Cluster)
		fmt.Fprintf(w, "  Node log: %s\n  To see the status of the cluster, run\n    goray status --address=%s%s\n", logPath, rec.Cluster, td)
		fmt.Fprintf(w, "  To terminate the goray nodes on this machine, run\n    goray stop%s\n", td)
		return
	}
	a := rec.Address
	fmt.Fprintf(w, `goray runtime started.

Local node IP: %s
Cluster address: %s

Next steps
  To add another node to this cluster, run
    goray start --address=%s%s
  On this machine the token is found in the cluster file under %s;
  elsewhere pass --token or set GORAY_TOKEN to the token in
    %s

  To connect to this cluster from a Go program, run it with
    export GORAY_ADDRESS=%s
  In Go: ray.Init(ctx, ray.Address("%s"))

  To see the status of the cluster, run
    goray status%s

  To terminate the goray runtime, run
    goray stop%s

  Node log: %s
  Session:  %s
`, cfg.NodeIP, a, a, td, filepath.Join(cfg.TempRoot, "clusters"), tokenPath, a, a, td, td, logPath, rec.SessionDir)
}

// shellQuote quotes s for a POSIX shell if it needs it.
func shellQuote(s string) string {
	if s != "" && strings.IndexFunc(s, func(r rune) bool {
		return !(r == '/' || r == '.' || r == '-' || r == '_' || r == ':' || r == '=' ||
			(r >= 'a' && r <= 'z') || (r >= 'A' && r <= 'Z') || (r >= '0' && r <= '9'))
	}) < 0 {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
