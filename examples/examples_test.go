// Package examples_test builds every example program and runs it with small
// flags, checking its output and that it leaves nothing behind: no worker
// processes and no object store in /dev/shm.
package examples_test

import (
	"bytes"
	"context"
	"errors"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

var examples = []string{"tasks", "actors", "mapreduce", "pi", "objects", "paillier"}

type run struct {
	name    string   // subtest name
	example string   // program
	args    []string // its flags
	wantErr bool     // the program should fail
	check   func(t *testing.T, stdout string)
}

var runs = []run{
	{name: "tasks", example: "tasks", check: func(t *testing.T, out string) {
		out = strings.TrimSpace(out)
		if !strings.HasPrefix(out, "[0 1 4 9 16 ") || !strings.HasSuffix(out, " 158404 159201]") {
			t.Errorf("want the 400 squares [0 1 4 9 ... 159201], got %q", abbrev(out))
		}
		if n := len(strings.Fields(out)); n != 400 {
			t.Errorf("got %d squares, want 400", n)
		}
	}},
	{name: "actors", example: "actors", check: func(t *testing.T, out string) {
		if got := strings.TrimSpace(out); got != "10" {
			t.Errorf("got %q, want 10", got)
		}
	}},
	{name: "mapreduce", example: "mapreduce", check: func(t *testing.T, out string) {
		for _, want := range []string{"single-threaded sum: 9900\n", "goray map/reduce sum: 9900\n"} {
			if !strings.Contains(out, want) {
				t.Errorf("output lacks %q", want)
			}
		}
	}},
	{name: "pi", example: "pi", args: []string{"-tasks", "4", "-samples", "200000", "-poll", "100ms"}, check: checkPi},
	{name: "objects", example: "objects", check: func(t *testing.T, out string) {
		if got := strings.Fields(out); !slices.Equal(got, []string{"10000", "1000000"}) {
			t.Errorf("got %q, want 10000 and 1000000", got)
		}
	}},
	{name: "paillier", example: "paillier", args: []string{"-bits", "256", "-n", "200", "-batches", "4", "-batch", "50"},
		check: func(t *testing.T, out string) {
			for _, want := range []string{"single-core loop time is ", "encrypt (one task per number) time is ",
				"encrypt_batch (4 tasks) time is ", "decryption check passed"} {
				if !strings.Contains(out, want) {
					t.Errorf("output lacks %q", want)
				}
			}
		}},
	// A failure after Init must still shut the cluster down.
	{name: "paillier_bad_key_length", example: "paillier", args: []string{"-bits", "7"}, wantErr: true},
}

func checkPi(t *testing.T, out string) {
	var progress []int
	for _, m := range regexp.MustCompile(`(?m)^Progress: (\d+)%$`).FindAllStringSubmatch(out, -1) {
		p, _ := strconv.Atoi(m[1])
		progress = append(progress, p)
	}
	if len(progress) == 0 || progress[len(progress)-1] != 100 {
		t.Errorf("want Progress lines ending at 100%%, got %v", progress)
	}
	if !slices.IsSorted(progress) {
		t.Errorf("progress went backwards: %v", progress)
	}
	m := regexp.MustCompile(`(?m)^Estimated value of π is: (\S+)$`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no estimate of π in the output")
	}
	pi, err := strconv.ParseFloat(m[1], 64)
	if err != nil || math.Abs(pi-math.Pi) > 0.1 {
		t.Errorf("estimate %q is not within 0.1 of π", m[1])
	}
}

func TestExamples(t *testing.T) {
	if testing.Short() {
		t.Skip("skipped in -short mode: builds every example and runs it with real worker processes")
	}
	gotool, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command to build the examples with")
	}
	if _, err := os.Stat("/dev/shm"); err != nil {
		t.Skip("no /dev/shm")
	}

	// Build every example once; go build -o DIR/ writes one binary each.
	bin := t.TempDir()
	pkgs := make([]string, len(examples))
	for i, e := range examples {
		pkgs[i] = "./" + e
	}
	build := exec.Command(gotool, append([]string{"build", "-o", bin + string(filepath.Separator)}, pkgs...)...)
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}

	for _, r := range runs {
		t.Run(r.name, func(t *testing.T) {
			stdout := runExample(t, filepath.Join(bin, r.example), r.args, r.wantErr)
			if r.check != nil {
				r.check(t, stdout)
			}
		})
	}
}

// runExample runs one example and returns its standard output. Besides the
// exit status it checks that the run left no worker processes behind and
// removed its object store from /dev/shm.
func runExample(t *testing.T, exe string, args []string, wantErr bool) string {
	t.Helper()
	before := shmEntries(t)

	// A TMPDIR of its own puts the run's session directory (and with it
	// the node's socket, named after the node) where we can watch it: the
	// node's ID names its store directory, /dev/shm/goray-<id>-<pid>.
	tmp := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, exe, args...)
	cmd.Env = append(os.Environ(), "TMPDIR="+tmp)
	cmd.WaitDelay = 5 * time.Second
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr

	nodes := map[string]bool{}
	var mu sync.Mutex
	watchDone := make(chan struct{})
	stopWatch := make(chan struct{})
	watch := func() {
		mu.Lock()
		defer mu.Unlock()
		for _, id := range nodeIDs(tmp) {
			nodes[id] = true
		}
	}

	start := time.Now()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		defer close(watchDone)
		tick := time.NewTicker(5 * time.Millisecond)
		defer tick.Stop()
		for {
			watch()
			select {
			case <-stopWatch:
				return
			case <-tick.C:
			}
		}
	}()
	err := cmd.Wait()
	close(stopWatch)
	<-watchDone
	watch()
	t.Logf("%s %s: %v", filepath.Base(exe), strings.Join(args, " "), time.Since(start).Round(time.Millisecond))

	switch {
	case ctx.Err() != nil:
		t.Errorf("timed out\nstdout:\n%s\nstderr:\n%s", abbrev(stdout.String()), stderr.String())
	case err != nil && !wantErr:
		t.Errorf("%v\nstdout:\n%s\nstderr:\n%s", err, abbrev(stdout.String()), stderr.String())
	case err == nil && wantErr:
		t.Errorf("succeeded, want a failure\nstdout:\n%s", abbrev(stdout.String()))
	case err != nil:
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() <= 0 {
			t.Errorf("want a plain failing exit, got %v\nstderr:\n%s", err, stderr.String())
		}
	}

	checkNoProcesses(t, exe)
	checkShm(t, before, nodes)
	return stdout.String()
}

// nodeIDs finds the node sockets (node-<id>) under dir.
func nodeIDs(dir string) []string {
	var ids []string
	filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.HasPrefix(d.Name(), "node-") {
			ids = append(ids, strings.TrimPrefix(d.Name(), "node-"))
		}
		return nil
	})
	return ids
}

func shmEntries(t *testing.T) map[string]bool {
	t.Helper()
	des, err := os.ReadDir("/dev/shm")
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]bool{}
	for _, de := range des {
		if strings.HasPrefix(de.Name(), "goray-") {
			out[de.Name()] = true
		}
	}
	return out
}

// checkShm fails if the run's store directory is still in /dev/shm. Other
// goray programs may be running on this machine, so a new goray-* entry is
// blamed on this run only if it is named after this run's node; when the
// run's node was not seen, any new entry that stays counts.
func checkShm(t *testing.T, before, nodes map[string]bool) {
	t.Helper()
	var leftover []string
	deadline := time.Now().Add(3 * time.Second)
	for {
		leftover = leftover[:0]
		for name := range shmEntries(t) {
			if before[name] {
				continue
			}
			if len(nodes) == 0 || nodes[storeNode(name)] {
				leftover = append(leftover, name)
			} else {
				t.Logf("ignoring /dev/shm/%s: not this run's node %v", name, keys(nodes))
			}
		}
		// This run's store is gone by the time the driver exits; waiting
		// only helps when another program's store was counted.
		if len(leftover) == 0 || len(nodes) > 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if len(leftover) > 0 {
		t.Errorf("left in /dev/shm: %v (this run's nodes: %v)", leftover, keys(nodes))
	}
	if len(nodes) == 0 {
		t.Logf("did not see this run's node socket; compared /dev/shm listings only")
	}
}

// checkNoProcesses fails if processes running exe (the example's workers)
// outlive the driver by more than a few seconds, and ends them.
func checkNoProcesses(t *testing.T, exe string) {
	t.Helper()
	var pids []int
	deadline := time.Now().Add(5 * time.Second)
	for {
		pids = processesOf(exe)
		if len(pids) == 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if len(pids) > 0 {
		t.Errorf("worker processes still running after the driver exited: %v", pids)
		for _, pid := range pids {
			if p, err := os.FindProcess(pid); err == nil {
				p.Kill()
			}
		}
	}
}

func processesOf(exe string) []int {
	des, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	var pids []int
	for _, de := range des {
		pid, err := strconv.Atoi(de.Name())
		if err != nil {
			continue
		}
		if target, err := os.Readlink(filepath.Join("/proc", de.Name(), "exe")); err == nil && target == exe {
			pids = append(pids, pid)
		}
	}
	return pids
}

func keys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

func abbrev(s string) string {
	if len(s) <= 2000 {
		return s
	}
	return s[:1000] + "\n...\n" + s[len(s)-1000:]
}

// storeNode is the node ID in a store directory's name, goray-<node>-<pid>.
func storeNode(name string) string {
	name = strings.TrimPrefix(name, "goray-")
	if i := strings.IndexByte(name, '-'); i >= 0 {
		return name[:i]
	}
	return name
}
