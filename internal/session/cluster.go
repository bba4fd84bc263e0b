package session

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// DefaultRoot is where sessions, cluster files and node records live unless
// --temp-dir says otherwise: $GORAY_TEMP_DIR, else /tmp/goray (Ray:
// /tmp/ray).
func DefaultRoot() string {
	if d := os.Getenv("GORAY_TEMP_DIR"); d != "" {
		return d
	}
	return filepath.Join(os.TempDir(), "goray")
}

// ErrNoCluster: no cluster file matches.
var ErrNoCluster = errors.New("goray: no cluster started on this machine matches")

// ClusterFile tells processes on the head's machine how to reach and join
// the cluster: its address and token. Written 0600 by the head.
type ClusterFile struct {
	Address    string `json:"address"` // head's host:port
	Token      string `json:"token"`
	SessionDir string `json:"session_dir"`
	HeadPID    int    `json:"head_pid"`
}

func clusterDir(root string) string { return filepath.Join(root, "clusters") }

func fileName(address string) string {
	return strings.NewReplacer(":", "_", "/", "_", "[", "", "]", "").Replace(address) + ".json"
}

// WriteClusterFile records a cluster (0600, in a 0700 directory).
func WriteClusterFile(root string, cf ClusterFile) error {
	dir := clusterDir(root)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	b, _ := json.MarshalIndent(cf, "", "  ")
	tmp := filepath.Join(dir, "."+fileName(cf.Address))
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, filepath.Join(dir, fileName(cf.Address)))
}

// ReadClusterFile finds the cluster with the given head address.
func ReadClusterFile(root, address string) (ClusterFile, error) {
	var cf ClusterFile
	b, err := os.ReadFile(filepath.Join(clusterDir(root), fileName(address)))
	if errors.Is(err, os.ErrNotExist) {
		return cf, fmt.Errorf("%w: %s", ErrNoCluster, address)
	}
	if err != nil {
		return cf, err
	}
	if err := json.Unmarshal(b, &cf); err != nil {
		return cf, fmt.Errorf("goray: cluster file for %s: %w", address, err)
	}
	return cf, nil
}

// RemoveClusterFile forgets a cluster.
func RemoveClusterFile(root, address string) error {
	return os.Remove(filepath.Join(clusterDir(root), fileName(address)))
}

// ClusterFiles lists the clusters recorded under root, newest first.
func ClusterFiles(root string) ([]ClusterFile, error) {
	des, err := os.ReadDir(clusterDir(root))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	type cand struct {
		cf  ClusterFile
		mod int64
	}
	var cs []cand
	for _, de := range des {
		if strings.HasPrefix(de.Name(), ".") || !strings.HasSuffix(de.Name(), ".json") {
			continue
		}
		b, err := os.ReadFile(filepath.Join(clusterDir(root), de.Name()))
		if err != nil {
			continue
		}
		var cf ClusterFile
		if json.Unmarshal(b, &cf) != nil {
			continue
		}
		info, err := de.Info()
		if err != nil {
			continue
		}
		cs = append(cs, cand{cf, info.ModTime().UnixNano()})
	}
	sort.Slice(cs, func(i, j int) bool { return cs[i].mod > cs[j].mod })
	out := make([]ClusterFile, len(cs))
	for i, c := range cs {
		out[i] = c.cf
	}
	return out, nil
}

// LatestCluster is the most recently started cluster whose head process is
// alive ("auto").
func LatestCluster(root string) (ClusterFile, error) {
	cfs, err := ClusterFiles(root)
	if err != nil {
		return ClusterFile{}, err
	}
	for _, cf := range cfs {
		if Alive(cf.HeadPID) {
			return cf, nil
		}
	}
	return ClusterFile{}, fmt.Errorf("%w (no live head)", ErrNoCluster)
}

// NodeRecord is what `goray stop` needs to find a node process it started.
type NodeRecord struct {
	PID        int    `json:"pid"`
	NodeID     string `json:"node_id"`
	Address    string `json:"address"` // the node's host:port
	Head       bool   `json:"head"`
	SessionDir string `json:"session_dir"`
	StoreDir   string `json:"store_dir"`
	Cluster    string `json:"cluster"` // the head's address
}

func nodesDir(root string) string { return filepath.Join(root, "nodes") }

// WriteNodeRecord records a running node (0600).
func WriteNodeRecord(root string, r NodeRecord) error {
	if err := os.MkdirAll(nodesDir(root), 0o700); err != nil {
		return err
	}
	b, _ := json.MarshalIndent(r, "", "  ")
	return os.WriteFile(filepath.Join(nodesDir(root), fmt.Sprintf("%d.json", r.PID)), b, 0o600)
}

// RemoveNodeRecord forgets a node record.
func RemoveNodeRecord(root string, pid int) error {
	return os.Remove(filepath.Join(nodesDir(root), fmt.Sprintf("%d.json", pid)))
}

// NodeRecords lists the recorded nodes on this machine (live or not).
func NodeRecords(root string) ([]NodeRecord, error) {
	des, err := os.ReadDir(nodesDir(root))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []NodeRecord
	for _, de := range des {
		b, err := os.ReadFile(filepath.Join(nodesDir(root), de.Name()))
		if err != nil {
			continue
		}
		var r NodeRecord
		if json.Unmarshal(b, &r) == nil && r.PID > 0 {
			out = append(out, r)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].PID < out[j].PID })
	return out, nil
}

// Alive reports whether a process exists.
func Alive(pid int) bool {
	if pid <= 0 {
		return false
	}
	p, err := os.FindProcess(pid)
	if err != nil {
		return false
	}
	return p.Signal(syscallZero) == nil
}
