package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/goray/ray/internal/bench"
)

func runRoot(args ...string) (string, error) {
	root := newRootCmd()
	var out strings.Builder
	root.SetOut(&out)
	root.SetErr(&out)
	root.SetArgs(args)
	err := root.Execute()
	return out.String(), err
}

func TestMicrobenchmarkList(t *testing.T) {
	out, err := runRoot("microbenchmark", "--list")
	if err != nil || out != strings.Join(bench.Names(), "\n")+"\n" {
		t.Errorf("--list: %v\n%s", err, out)
	}
	out, err = runRoot("microbenchmark", "--list", "--filter", "^1_1_")
	if err != nil || out != "1_1_actor_calls_sync\n1_1_actor_calls_async\n1_1_actor_calls_concurrent\n" {
		t.Errorf("--list --filter: %v\n%s", err, out)
	}
	out, err = runRoot("microbenchmark", "--scale", "--list")
	if err != nil || out != strings.Join(bench.ScaleNames(), "\n")+"\n" {
		t.Errorf("--scale --list: %v\n%s", err, out)
	}
}

// TestMicrobenchmarkBadFlags: refused before a cluster starts.
func TestMicrobenchmarkBadFlags(t *testing.T) {
	for _, args := range [][]string{
		{"--filter", "("},
		{"--filter", "no_such_metric"},
		{"--trials", "0"},
		{"--duration", "-1s"},
		{"--scale", "--scale-factor", "0"},
		{"extra"},
	} {
		out, err := runRoot(append([]string{"microbenchmark"}, args...)...)
		if !errors.Is(err, errUsage) && !(args[0] == "extra" && err != nil) {
			t.Errorf("%q: err %v, want a usage error; output %s", args, err, out)
		}
	}
}

// TestMicrobenchmarkEndToEnd builds goray and runs two metrics on an
// embedded cluster: the workers are the goray binary itself.
func TestMicrobenchmarkEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the goray binary")
	}
	dir, bin := buildGoray(t)
	jsonPath := filepath.Join(dir, "out.json")
	cmd := exec.Command(bin, "microbenchmark", "--filter", "^(single_client_tasks_sync|1_1_actor_calls_sync)$",
		"--trials", "2", "--warmup", "0", "--duration", "100ms", "--object-store-memory", "67108864", "--json", jsonPath)
	cmd.Env = withEnv(withEnv(withEnv(os.Environ(), envAddress, ""), envToken, ""), "GORAY_TEMP_DIR", filepath.Join(dir, "root"))
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("goray microbenchmark: %v\nstdout:\n%s\nstderr:\n%s", err, stdout.String(), stderr.String())
	}
	line := regexp.MustCompile(`^(single_client_tasks_sync|1_1_actor_calls_sync) per second \d+\.\d\d \+- \d+\.\d\d$`)
	lines := strings.Split(strings.TrimSpace(stdout.String()), "\n")
	if len(lines) != 2 || !line.MatchString(lines[0]) || !line.MatchString(lines[1]) {
		t.Errorf("stdout:\n%s", stdout.String())
	}
	var res map[string]struct {
		Mean, SD float64
		Unit     string
	}
	b, err := os.ReadFile(jsonPath)
	if err != nil || json.Unmarshal(b, &res) != nil {
		t.Fatalf("--json: %v\n%s", err, b)
	}
	for _, name := range []string{"single_client_tasks_sync", "1_1_actor_calls_sync"} {
		if r, ok := res[name]; !ok || r.Mean <= 0 || r.Unit != "1/s" {
			t.Errorf("%s: %+v in\n%s", name, r, b)
		}
	}
}
