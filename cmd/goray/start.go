package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/goray/ray/internal/node"
	"github.com/goray/ray/internal/resources"
	"github.com/goray/ray/internal/session"
)

// defaultHeadPort is the head's port unless --port says otherwise (Ray's).
const defaultHeadPort = 6379

// errUsage wraps every invalid `goray start` flag.
var errUsage = errors.New("invalid flags")

// startFlags are `goray start`'s flags as typed, plus which were set.
type startFlags struct {
	Head              bool
	Address           string
	Port              int
	NodeIP            string
	NumCPUs           int
	NumGPUs           int
	Resources         string
	ObjectStoreMemory int64
	Memory            int64
	TempDir           string
	SystemConfig      string
	Token             string
	Labels            string
	Block             bool

	// Which of the flags with machine- or role-dependent defaults were set.
	PortSet, NumCPUsSet, ObjectStoreMemorySet, MemorySet bool
}

// machine is what the defaults depend on.
type machine struct {
	Cores    int
	MemBytes int64 // total RAM
}

// startConfig is a validated `goray start`: everything a node needs.
type startConfig struct {
	Head              bool
	HeadAddr          string // the cluster to join (non-head)
	NodeIP            string
	Port              int
	ListenAddr        string // NodeIP:Port
	Resources         resources.Set
	ObjectStoreMemory int64
	TempRoot          string // absolute
	System            node.SystemConfig
	Labels            map[string]string
	Block             bool
}

// parseStartFlags validates the flags and fills in defaults. It does no
// I/O: checks that need the network are in checkStartEnv.
func parseStartFlags(f startFlags, m machine) (startConfig, error) {
	var cfg startConfig
	bad := func(format string, args ...any) (startConfig, error) {
		return startConfig{}, fmt.Errorf("%w: "+format, append([]any{errUsage}, args...)...)
	}
	switch {
	case f.Head && f.Address != "":
		return bad("pass either --head (start a new cluster) or --address HOST:PORT (join one), not both")
	case !f.Head && f.Address == "":
		return bad("pass --head to start a new cluster, or --address HOST:PORT to join one")
	}
	cfg.Head, cfg.Block = f.Head, f.Block
	if !f.Head {
		if err := checkHostPort(f.Address); err != nil {
			return bad("--address %q: %v", f.Address, err)
		}
		cfg.HeadAddr = f.Address
	}

	ip := net.ParseIP(f.NodeIP)
	if ip == nil {
		return bad("--node-ip-address %q is not an IP address", f.NodeIP)
	}
	cfg.NodeIP = f.NodeIP
	cfg.Port = f.Port
	if !f.PortSet {
		cfg.Port = 0
		if f.Head {
			cfg.Port = defaultHeadPort
		}
	}
	if cfg.Port < 0 || cfg.Port > 65535 {
		return bad("--port %d: want 0 (any free port) to 65535", cfg.Port)
	}
	cfg.ListenAddr = net.JoinHostPort(cfg.NodeIP, strconv.Itoa(cfg.Port))

	cpus := f.NumCPUs
	if !f.NumCPUsSet {
		cpus = m.Cores
	}
	if cpus < 0 {
		return bad("--num-cpus %d: must be >= 0", cpus)
	}
	if f.NumGPUs < 0 {
		return bad("--num-gpus %d: must be >= 0", f.NumGPUs)
	}
	mem := f.Memory
	if !f.MemorySet {
		mem = int64(float64(m.MemBytes) * 0.7)
	}
	if mem < 0 {
		return bad("--memory %d: must be >= 0 bytes", mem)
	}
	cfg.ObjectStoreMemory = f.ObjectStoreMemory
	if !f.ObjectStoreMemorySet {
		cfg.ObjectStoreMemory = int64(float64(m.MemBytes) * 0.3)
	}
	if cfg.ObjectStoreMemory <= 0 {
		return bad("--object-store-memory %d: must be > 0 bytes", cfg.ObjectStoreMemory)
	}

	custom, err := parseResources(f.Resources)
	if err != nil {
		return bad("--resources: %v", err)
	}
	all := map[string]float64{resources.CPU: float64(cpus), resources.GPU: float64(f.NumGPUs), resources.Memory: float64(mem)}
	for k, v := range custom {
		all[k] = v
	}
	if cfg.Resources, err = resources.FromFloats(all); err != nil {
		return bad("%v", err)
	}

	if cfg.System, err = node.ParseSystemConfig(f.SystemConfig); err != nil {
		return bad("--system-config: %v", err)
	}
	if cfg.Labels, err = parseLabels(f.Labels); err != nil {
		return bad("--labels: %v", err)
	}

	root := f.TempDir
	if root == "" {
		root = session.DefaultRoot()
	}
	if cfg.TempRoot, err = filepath.Abs(root); err != nil {
		return bad("--temp-dir %q: %v", root, err)
	}
	return cfg, nil
}

// checkHostPort accepts host:port with a port in 1..65535.
func checkHostPort(addr string) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("want HOST:PORT: %w", err)
	}
	if host == "" {
		return errors.New("want HOST:PORT: the host is missing")
	}
	p, err := strconv.Atoi(port)
	if err != nil || p < 1 || p > 65535 {
		return fmt.Errorf("port %q: want 1 to 65535", port)
	}
	return nil
}

// reservedResources are set by their own flags (Ray refuses them in
// --resources too).
var reservedResources = map[string]string{
	resources.CPU: "--num-cpus", resources.GPU: "--num-gpus",
	resources.Memory: "--memory", resources.ObjectStoreMemory: "--object-store-memory",
}

// parseResources parses --resources: a JSON object of non-negative numbers.
func parseResources(js string) (map[string]float64, error) {
	if strings.TrimSpace(js) == "" {
		return nil, nil
	}
	var m map[string]float64
	if err := strictJSON(js, &m); err != nil {
		return nil, fmt.Errorf(`want a JSON object of numbers like '{"bob": 5}': %w`, err)
	}
	for _, k := range sortedKeys(m) {
		v := m[k]
		if flag, ok := reservedResources[k]; ok {
			return nil, fmt.Errorf("%q cannot be set here: use %s", k, flag)
		}
		if strings.TrimSpace(k) == "" {
			return nil, errors.New("empty resource name")
		}
		if v < 0 || math.IsInf(v, 0) || math.IsNaN(v) {
			return nil, fmt.Errorf("%s = %v: quantities must be >= 0", k, v)
		}
	}
	return m, nil
}

// parseLabels parses --labels: a JSON object of strings, or Ray's newer
// "key1=value1,key2=value2" form.
func parseLabels(s string) (map[string]string, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return nil, nil
	}
	m := map[string]string{}
	if strings.HasPrefix(s, "{") {
		if err := strictJSON(s, &m); err != nil {
			return nil, fmt.Errorf(`want a JSON object of strings like '{"zone": "a"}': %w`, err)
		}
	} else {
		for _, kv := range strings.Split(s, ",") {
			k, v, ok := strings.Cut(kv, "=")
			if !ok {
				return nil, fmt.Errorf("%q: want key=value", kv)
			}
			m[strings.TrimSpace(k)] = strings.TrimSpace(v)
		}
	}
	for k := range m {
		if k == "" {
			return nil, errors.New("empty label key")
		}
	}
	return m, nil
}

// strictJSON decodes one JSON value and refuses anything after it.
func strictJSON(s string, v any) error {
	dec := json.NewDecoder(bytes.NewReader([]byte(s)))
	if err := dec.Decode(v); err != nil {
		return err
	}
	if dec.More() {
		return errors.New("unexpected data after the JSON value")
	}
	return nil
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// checkStartEnv does the checks that need the network: the port is free,
// and the head to join answers.
func checkStartEnv(cfg startConfig) error {
	if cfg.Port != 0 {
		ln, err := net.Listen("tcp", cfg.ListenAddr)
		if err != nil {
			return fmt.Errorf("port %d on %s is not available (is a goray or other server already using it? pick another with --port, or --port 0 for any free one): %w",
				cfg.Port, cfg.NodeIP, err)
		}
		ln.Close()
	}
	if !cfg.Head {
		c, err := net.DialTimeout("tcp", cfg.HeadAddr, 3*time.Second)
		if err != nil {
			return fmt.Errorf("cannot reach the head at %s (is `goray start --head` running there, and the address right?): %w", cfg.HeadAddr, err)
		}
		c.Close()
	}
	return nil
}

// readStartFlags copies the parsed command-line flags into startFlags.
func readStartFlags(fs *pflag.FlagSet, f *startFlags) {
	f.PortSet = fs.Changed("port")
	f.NumCPUsSet = fs.Changed("num-cpus")
	f.ObjectStoreMemorySet = fs.Changed("object-store-memory")
	f.MemorySet = fs.Changed("memory")
}

func newStartCmd() *cobra.Command {
	var f startFlags
	var timeout time.Duration
	cmd := &cobra.Command{
		Use:   "start (--head | --address HOST:PORT) [flags]",
		Short: "Start a goray node: the head of a new cluster, or one joining a cluster",
		Long: `Start a goray node on this machine.

With --head it starts a new cluster (its control service listens on
--node-ip-address:--port); with --address it joins the cluster whose head
is there. Without --block the node runs in the background and the command
returns once it is up; with --block it runs in the foreground until
SIGINT or SIGTERM.`,
		Example: `  goray start --head --port 6379 --num-cpus 8
  goray start --address 10.0.0.1:6379 --resources '{"bob": 5}'
  goray start --head --block`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			readStartFlags(cmd.Flags(), &f)
			cfg, err := parseStartFlags(f, thisMachine())
			if err != nil {
				return err
			}
			if err := checkStartEnv(cfg); err != nil {
				return err
			}
			token, _, err := startToken(cfg, f.Token, os.Getenv(envToken))
			if err != nil {
				return err
			}
			if cfg.Block {
				return runNode(cmd.Context(), cfg, token, cmd.OutOrStdout(), cmd.ErrOrStderr())
			}
			return startDetached(cmd, cfg, token, timeout)
		},
	}
	fl := cmd.Flags()
	fl.SortFlags = false
	fl.BoolVar(&f.Head, "head", false, "start the head node of a new cluster")
	fl.StringVar(&f.Address, "address", "", "join the cluster whose head is at `HOST:PORT`")
	fl.IntVar(&f.Port, "port", 0, "the node's TCP port; 0 picks a free one (default 6379 for the head, 0 otherwise)")
	fl.StringVar(&f.NodeIP, "node-ip-address", "127.0.0.1", "the `IP` this node listens on and is reached at")
	fl.IntVar(&f.NumCPUs, "num-cpus", 0, "CPUs this node offers (default: the machine's cores)")
	fl.IntVar(&f.NumGPUs, "num-gpus", 0, "GPUs this node offers")
	fl.StringVar(&f.Resources, "resources", "", `custom resources as a JSON object, e.g. '{"bob": 5}'`)
	fl.Int64Var(&f.ObjectStoreMemory, "object-store-memory", 0, "object store capacity in `BYTES` (default: 30% of RAM)")
	fl.Int64Var(&f.Memory, "memory", 0, `the "memory" resource in `+"`BYTES`"+` (default: 70% of RAM)`)
	fl.StringVar(&f.TempDir, "temp-dir", "", "root `DIR` for sessions, cluster files and node records (default "+session.DefaultRoot()+")")
	fl.StringVar(&f.SystemConfig, "system-config", "", `system settings as a JSON object under Ray's names, e.g. '{"health_check_period_ms": 1000}'`)
	fl.StringVar(&f.Token, "token", "", "cluster token (default: $GORAY_TOKEN; the head generates one, other nodes read the cluster file)")
	fl.StringVar(&f.Labels, "labels", "", `node labels as a JSON object of strings, e.g. '{"zone": "a"}'`)
	fl.BoolVar(&f.Block, "block", false, "run in the foreground until SIGINT/SIGTERM")
	fl.DurationVar(&timeout, "start-timeout", 15*time.Second, "how long to wait for a background node to come up")
	fl.MarkHidden("start-timeout")
	return cmd
}
