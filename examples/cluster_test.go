package examples_test

import (
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestSeedClusterFlow runs the seed's section 四 with real processes: the
// goray CLI starts a head ({"bob": 5}) and two nodes ({"alice": 2},
// {"ming1": 1, "ming2": 1}), examples/resources runs against it, goray status
// shows the nodes, a node SIGKILLed mid-workload is declared dead while the
// workload finishes, and goray stop ends everything.
func TestSeedClusterFlow(t *testing.T) {
	if testing.Short() {
		t.Skip("starts real cluster processes; skipped with -short")
	}
	bin := t.TempDir()
	build := exec.Command("go", "build", "-o", bin+"/", "../cmd/goray", "./resources")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	goray, resources := filepath.Join(bin, "goray"), filepath.Join(bin, "resources")
	temp := t.TempDir()
	port := freePort(t)
	head := fmt.Sprintf("127.0.0.1:%d", port)
	// Dead after ~3 s without a heartbeat: fast for a test, yet tolerant of
	// nine busy workers starving three nodes on a 2-core machine.
	sys := `{"health_check_period_ms": 200, "health_check_failure_threshold": 15}`
	gorayCmd := func(args ...string) string {
		t.Helper()
		cmd := exec.Command(goray, append(args, "--temp-dir", temp)...)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("goray %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return string(out)
	}
	t.Cleanup(func() { exec.Command(goray, "stop", "--force", "--temp-dir", temp).Run() })
	gorayCmd("start", "--head", "--node-ip-address", "127.0.0.1", "--port", fmt.Sprint(port), "--resources", `{"bob": 5}`, "--num-cpus", "5", "--system-config", sys)
	gorayCmd("start", "--address", head, "--resources", `{"alice": 2}`, "--num-cpus", "2", "--system-config", sys)
	gorayCmd("start", "--address", head, "--resources", `{"ming1": 1, "ming2": 1}`, "--num-cpus", "2", "--system-config", sys)

	status := gorayCmd("status", "--address", head)
	if n := strings.Count(status, " alive"); n < 3 {
		t.Fatalf("status shows %d alive nodes:\n%s", n, status)
	}
	for _, want := range []string{"alice", "bob", "ming1", "ming2"} {
		if !strings.Contains(status, want) {
			t.Fatalf("status lacks %q:\n%s", want, status)
		}
	}

	// "auto" finds the cluster started on this machine, token included.
	run := exec.Command(resources, "-tasks", "6", "-samples", "200000")
	run.Env = append(os.Environ(), "GORAY_ADDRESS=auto", "GORAY_TEMP_DIR="+temp)
	token := clusterToken(t, temp, head)
	env := append(os.Environ(), "GORAY_ADDRESS="+head, "GORAY_TOKEN="+token)
	out, err := run.CombinedOutput()
	if err != nil {
		t.Fatalf("examples/resources: %v\n%s", err, out)
	}
	// The pinned group ran only on alice's node.
	pinned := regexp.MustCompile(`(?s)pinned Resources\{"alice": 1\}: 6 tasks.*?\n((?:  node .*\n)+)`).FindStringSubmatch(string(out))
	if pinned == nil || strings.Count(pinned[1], "node ") != 1 || !strings.Contains(pinned[1], "{alice}: 6 tasks") {
		t.Fatalf("pinned tasks not all on alice's node:\n%s", out)
	}

	// SIGKILL the ming node while a workload runs; the workload completes
	// (its tasks are retried elsewhere) and the node is declared dead.
	// Spread: every node, ming's included, has tasks in flight when it dies.
	slow := exec.Command(resources, "-tasks", "27", "-samples", "40000000", "-pin", "", "-spread")
	slow.Env = env
	var slowOut strings.Builder
	slow.Stdout, slow.Stderr = &slowOut, &slowOut
	if err := slow.Start(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(500 * time.Millisecond)
	victim := nodePID(t, temp, "ming1")
	syscall.Kill(victim, syscall.SIGKILL)
	if err := slow.Wait(); err != nil {
		t.Fatalf("workload across a node's death: %v\n%s", err, slowOut.String())
	}
	if !regexp.MustCompile(`unpinned: 27 tasks, π ≈ 3\.1[34]`).MatchString(slowOut.String()) {
		t.Fatalf("workload output:\n%s", slowOut.String())
	}
	t.Logf("workload across the node's death:\n%s", slowOut.String())
	deadline := time.Now().Add(15 * time.Second)
	for {
		st := gorayCmd("status", "--address", head)
		if strings.Contains(st, "1 dead") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("killed node not shown dead:\n%s", st)
		}
		time.Sleep(100 * time.Millisecond)
	}

	stop := gorayCmd("stop")
	if !strings.Contains(stop, "Stopped") {
		t.Fatalf("stop: %s", stop)
	}
	time.Sleep(200 * time.Millisecond)
	if _, err := net.DialTimeout("tcp", head, 200*time.Millisecond); err == nil {
		t.Fatal("head still listening after goray stop")
	}
}

func freePort(t *testing.T) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func clusterToken(t *testing.T, temp, addr string) string {
	files, _ := filepath.Glob(filepath.Join(temp, "clusters", "*.json"))
	for _, f := range files {
		var cf struct {
			Address, Token string
		}
		b, _ := os.ReadFile(f)
		if json.Unmarshal(b, &cf) == nil && cf.Address == addr {
			return cf.Token
		}
	}
	t.Fatalf("no cluster file for %s in %s", addr, temp)
	return ""
}

// nodePID finds the node process started with a custom resource.
func nodePID(t *testing.T, temp, resource string) int {
	files, _ := filepath.Glob(filepath.Join(temp, "nodes", "*.json"))
	for _, f := range files {
		var r struct {
			PID int `json:"pid"`
		}
		b, _ := os.ReadFile(f)
		if json.Unmarshal(b, &r) != nil {
			continue
		}
		cmdline, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", r.PID))
		if strings.Contains(string(cmdline), resource) {
			return r.PID
		}
	}
	t.Fatalf("no node process with %s", resource)
	return 0
}
