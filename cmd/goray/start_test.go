package main

import (
	"errors"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/goray/ray/internal/resources"
	"github.com/goray/ray/internal/session"
)

var testMachine = machine{Cores: 4, MemBytes: 10 * gb}

func TestParseStartFlagsDefaults(t *testing.T) {
	cfg, err := parseStartFlags(startFlags{Head: true, NodeIP: "127.0.0.1", TempDir: "rel/dir"}, testMachine)
	if err != nil {
		t.Fatal(err)
	}
	wd, _ := os.Getwd()
	if cfg.Port != 6379 || cfg.ListenAddr != "127.0.0.1:6379" || !cfg.Head || cfg.HeadAddr != "" ||
		cfg.TempRoot != filepath.Join(wd, "rel/dir") || cfg.ObjectStoreMemory != 3*gb || cfg.Labels != nil {
		t.Errorf("head defaults: %+v", cfg)
	}
	want := resources.Set{resources.CPU: 4 * 10000, resources.Memory: 7 * gb * 10000}
	if cfg.Resources.Key() != want.Key() {
		t.Errorf("resources %v, want %v", cfg.Resources, want)
	}
	if cfg.System.HealthCheckPeriod != 3*time.Second {
		t.Errorf("system config defaults not applied: %+v", cfg.System)
	}

	cfg, err = parseStartFlags(startFlags{Address: "127.0.0.1:6379", NodeIP: "127.0.0.1"}, testMachine)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Port != 0 || cfg.HeadAddr != "127.0.0.1:6379" || cfg.Head || cfg.TempRoot != session.DefaultRoot() {
		t.Errorf("worker defaults: %+v", cfg)
	}
}

func TestParseStartFlagsSet(t *testing.T) {
	cfg, err := parseStartFlags(startFlags{
		Head: true, NodeIP: "127.0.0.1", Port: 0, PortSet: true, NumCPUs: 2, NumCPUsSet: true, NumGPUs: 1,
		Resources: `{"bob": 5, "half": 0.5, "none": 0}`, ObjectStoreMemory: 1 << 26, ObjectStoreMemorySet: true,
		Memory: 0, MemorySet: true, SystemConfig: `{"object_store_full_delay_ms": 50}`, Labels: `{"zone": "a"}`, Block: true,
	}, testMachine)
	if err != nil {
		t.Fatal(err)
	}
	if got := cfg.Resources.String(); got != "{CPU: 2, GPU: 1, bob: 5, half: 0.5}" {
		t.Errorf("resources %s", got)
	}
	if cfg.ListenAddr != "127.0.0.1:0" || cfg.ObjectStoreMemory != 1<<26 || !cfg.Block ||
		cfg.System.ObjectStoreFullDelay != 50*time.Millisecond || cfg.Labels["zone"] != "a" {
		t.Errorf("config %+v", cfg)
	}
	cfg, err = parseStartFlags(startFlags{Head: true, NodeIP: "::1", Labels: "zone=a, rack = r1"}, testMachine)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.ListenAddr != "[::1]:6379" || len(cfg.Labels) != 2 || cfg.Labels["rack"] != "r1" {
		t.Errorf("config %+v", cfg)
	}
}

func TestParseStartFlagsErrors(t *testing.T) {
	head := func(mod func(*startFlags)) startFlags {
		f := startFlags{Head: true, NodeIP: "127.0.0.1"}
		mod(&f)
		return f
	}
	cases := []struct {
		name string
		f    startFlags
		want string
	}{
		{"neither head nor address", startFlags{NodeIP: "127.0.0.1"}, "pass --head"},
		{"both head and address", head(func(f *startFlags) { f.Address = "127.0.0.1:6379" }), "not both"},
		{"address without port", startFlags{Address: "127.0.0.1", NodeIP: "127.0.0.1"}, "--address"},
		{"address bad port", startFlags{Address: "127.0.0.1:0", NodeIP: "127.0.0.1"}, "--address"},
		{"address no host", startFlags{Address: ":6379", NodeIP: "127.0.0.1"}, "host is missing"},
		{"bad ip", head(func(f *startFlags) { f.NodeIP = "localhost" }), "--node-ip-address"},
		{"port too big", head(func(f *startFlags) { f.Port, f.PortSet = 65536, true }), "--port"},
		{"negative port", head(func(f *startFlags) { f.Port, f.PortSet = -1, true }), "--port"},
		{"negative cpus", head(func(f *startFlags) { f.NumCPUs, f.NumCPUsSet = -1, true }), "--num-cpus"},
		{"negative gpus", head(func(f *startFlags) { f.NumGPUs = -2 }), "--num-gpus"},
		{"negative memory", head(func(f *startFlags) { f.Memory, f.MemorySet = -1, true }), "--memory"},
		{"zero store", head(func(f *startFlags) { f.ObjectStoreMemory, f.ObjectStoreMemorySet = 0, true }), "--object-store-memory"},
		{"resources not json", head(func(f *startFlags) { f.Resources = `{bob: 5}` }), "--resources"},
		{"resources array", head(func(f *startFlags) { f.Resources = `[5]` }), "--resources"},
		{"resources string value", head(func(f *startFlags) { f.Resources = `{"bob": "5"}` }), "--resources"},
		{"resources trailing", head(func(f *startFlags) { f.Resources = `{"bob": 5} {}` }), "--resources"},
		{"resources negative", head(func(f *startFlags) { f.Resources = `{"bob": -1}` }), ">= 0"},
		{"resources CPU", head(func(f *startFlags) { f.Resources = `{"CPU": 2}` }), "use --num-cpus"},
		{"resources GPU", head(func(f *startFlags) { f.Resources = `{"GPU": 2}` }), "use --num-gpus"},
		{"resources memory", head(func(f *startFlags) { f.Resources = `{"memory": 2}` }), "use --memory"},
		{"resources store", head(func(f *startFlags) { f.Resources = `{"object_store_memory": 2}` }), "use --object-store-memory"},
		{"resources empty name", head(func(f *startFlags) { f.Resources = `{"": 2}` }), "empty resource name"},
		{"system config unknown key", head(func(f *startFlags) { f.SystemConfig = `{"no_such_key": 1}` }), `unknown key "no_such_key"`},
		{"system config bad value", head(func(f *startFlags) { f.SystemConfig = `{"health_check_period_ms": -5}` }), "health_check_period_ms"},
		{"system config not json", head(func(f *startFlags) { f.SystemConfig = `{` }), "--system-config"},
		{"labels not strings", head(func(f *startFlags) { f.Labels = `{"zone": 1}` }), "--labels"},
		{"labels empty key", head(func(f *startFlags) { f.Labels = `{"": "a"}` }), "empty label key"},
		{"labels bad pair", head(func(f *startFlags) { f.Labels = `zone` }), "key=value"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := parseStartFlags(c.f, testMachine)
			if err == nil {
				t.Fatalf("no error, want one mentioning %q", c.want)
			}
			if !errors.Is(err, errUsage) || !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %q: want errUsage mentioning %q", err, c.want)
			}
		})
	}
}

func TestCheckStartEnv(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	port := ln.Addr().(*net.TCPAddr).Port
	busy := startConfig{Head: true, NodeIP: "127.0.0.1", Port: port, ListenAddr: ln.Addr().String()}
	if err := checkStartEnv(busy); err == nil || !strings.Contains(err.Error(), "port "+strconv.Itoa(port)+" on 127.0.0.1 is not available") {
		t.Errorf("busy port: %v", err)
	}
	if err := checkStartEnv(startConfig{Head: true, NodeIP: "127.0.0.1", ListenAddr: "127.0.0.1:0"}); err != nil {
		t.Errorf("port 0: %v", err)
	}
	// A head that answers TCP, and one that does not.
	join := startConfig{HeadAddr: ln.Addr().String(), NodeIP: "127.0.0.1", ListenAddr: "127.0.0.1:0"}
	if err := checkStartEnv(join); err != nil {
		t.Errorf("reachable head: %v", err)
	}
	free, _ := net.Listen("tcp", "127.0.0.1:0")
	join.HeadAddr = free.Addr().String()
	free.Close()
	if err := checkStartEnv(join); err == nil || !strings.Contains(err.Error(), "cannot reach the head at "+join.HeadAddr) {
		t.Errorf("unreachable head: %v", err)
	}
}

// TestStartRejectsBeforeStarting runs the command: bad flags leave the temp
// dir untouched.
func TestStartRejectsBeforeStarting(t *testing.T) {
	for _, args := range [][]string{
		{"--head", "--num-cpus", "-1"},
		{"--head", "--resources", `{"CPU": 1}`},
		{"--head", "--system-config", `{"typo_ms": 1}`},
		{"--address", "127.0.0.1:1"},
		{"--head", "--port", "-3"},
		{"--head", "--no-such-flag"},
		{"--head", "extra-arg"},
	} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			tmp := t.TempDir()
			root := newRootCmd()
			var out strings.Builder
			root.SetOut(&out)
			root.SetErr(&out)
			root.SetArgs(append([]string{"start", "--temp-dir", tmp}, args...))
			if err := root.Execute(); err == nil {
				t.Fatalf("no error; output %s", out.String())
			}
			if des, _ := os.ReadDir(tmp); len(des) != 0 {
				t.Errorf("the temp dir has %d entries after a refused start", len(des))
			}
		})
	}
}

func TestChildArgs(t *testing.T) {
	cmd := newStartCmd()
	if err := cmd.ParseFlags([]string{"--head", "--token", "secret", "--temp-dir", "rel", "--resources", `{"a": 1}`, "--port=0", "--start-timeout=1s"}); err != nil {
		t.Fatal(err)
	}
	args := childArgs(cmd.Flags(), startConfig{TempRoot: "/abs/rel"})
	want := []string{"start", "--head=true", `--resources={"a": 1}`, "--port=0", "--temp-dir=/abs/rel", "--block"}
	if !slices.Equal(args, want) {
		t.Errorf("child args %q, want %q", args, want)
	}
	env := withEnv([]string{"A=1", "GORAY_TOKEN=old", "B=2"}, envToken, "new")
	if !slices.Equal(env, []string{"A=1", "B=2", "GORAY_TOKEN=new"}) {
		t.Errorf("env %q", env)
	}
}
