package node

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/goray/ray/internal/ids"
	"github.com/goray/ray/internal/proto"
)

// A job is one driver's program. Its workers run the driver's binary,
// which each node caches once, content-addressed by sha256, under
// <temp root>/bin/<sha256>.
type job struct {
	info  proto.JobInfo
	exe   string        // local path of the binary, once ready
	ready chan struct{} // closed when exe is usable or err is set
	err   error
}

// binaryChunk is the size of one binary fetch.
const binaryChunk = 4 << 20

func (n *Node) binCacheDir() string {
	return filepath.Join(filepath.Dir(n.cfg.SessionDir), "bin")
}

// FileSHA256 hashes a file.
func FileSHA256(path string) (string, int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", 0, err
	}
	defer f.Close()
	h := sha256.New()
	size, err := io.Copy(h, f)
	if err != nil {
		return "", 0, err
	}
	return hex.EncodeToString(h.Sum(nil)), size, nil
}

// addJob records a job whose binary is at a local path (embedded mode, or a
// driver on this machine): the binary is copied into the cache so a rebuilt
// or deleted driver binary does not break workers.
func (n *Node) addJob(info proto.JobInfo, localPath string) (*job, error) {
	n.mu.Lock()
	if j, ok := n.jobs[info.JobID]; ok {
		n.mu.Unlock()
		return j, nil
	}
	j := &job{info: info, ready: make(chan struct{})}
	n.jobs[info.JobID] = j
	n.mu.Unlock()
	if n.cfg.ListenAddr == "" {
		j.exe = localPath // embedded: the driver's own binary, same process lifetime
	} else {
		j.exe, j.err = n.cacheLocal(info, localPath)
	}
	close(j.ready)
	return j, j.err
}

func (n *Node) cacheLocal(info proto.JobInfo, src string) (string, error) {
	dst := filepath.Join(n.binCacheDir(), info.BinarySHA256)
	if sum, _, err := FileSHA256(dst); err == nil && sum == info.BinarySHA256 {
		return dst, nil
	}
	if err := os.MkdirAll(n.binCacheDir(), 0o700); err != nil {
		return "", err
	}
	in, err := os.Open(src)
	if err != nil {
		return "", fmt.Errorf("node: driver binary: %w", err)
	}
	defer in.Close()
	return n.writeCached(info, in)
}

// writeCached stores a binary in the cache, checking its hash.
func (n *Node) writeCached(info proto.JobInfo, r io.Reader) (string, error) {
	dst := filepath.Join(n.binCacheDir(), info.BinarySHA256)
	tmp, err := os.CreateTemp(n.binCacheDir(), ".fetch-*")
	if err != nil {
		return "", err
	}
	h := sha256.New()
	_, err = io.Copy(io.MultiWriter(tmp, h), r)
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil && hex.EncodeToString(h.Sum(nil)) != info.BinarySHA256 {
		err = fmt.Errorf("node: binary for job %s does not match its sha256", info.JobID)
	}
	if err == nil {
		err = os.Chmod(tmp.Name(), 0o700)
	}
	if err == nil {
		err = os.Rename(tmp.Name(), dst)
	}
	if err != nil {
		os.Remove(tmp.Name())
		return "", err
	}
	return dst, nil
}

// jobFor returns a known job, or looks it up in the GCS and fetches its
// binary from its home node (once; concurrent callers wait).
func (n *Node) jobFor(id ids.JobID) *job {
	n.mu.Lock()
	if j, ok := n.jobs[id]; ok {
		n.mu.Unlock()
		return j
	}
	j := &job{ready: make(chan struct{})}
	n.jobs[id] = j
	n.mu.Unlock()
	go func() {
		defer close(j.ready)
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		b, err := n.gcsCall(ctx, proto.GCSGetJob, proto.MustMarshal(&proto.GetJob{JobID: id}))
		if err == nil {
			err = proto.Unmarshal(b, &j.info)
		}
		if err != nil {
			j.err = fmt.Errorf("node: job %s: %w", id, err)
			return
		}
		if j.info.Platform != platform() {
			j.err = fmt.Errorf("node: job %s was built for %s; this node runs %s", id, j.info.Platform, platform())
			return
		}
		dst := filepath.Join(n.binCacheDir(), j.info.BinarySHA256)
		if sum, _, err := FileSHA256(dst); err == nil && sum == j.info.BinarySHA256 {
			j.exe = dst
			return
		}
		if err := os.MkdirAll(n.binCacheDir(), 0o700); err != nil {
			j.err = err
			return
		}
		j.exe, j.err = n.fetchBinary(ctx, j.info)
	}()
	return j
}

// fetchBinary copies a job's binary from its home node in chunks.
func (n *Node) fetchBinary(ctx context.Context, info proto.JobInfo) (string, error) {
	c, err := n.peer(ctx, info.HomeNode)
	if err != nil {
		return "", fmt.Errorf("node: fetch binary from %s: %w", info.HomeNode, err)
	}
	pr, pw := io.Pipe()
	go func() {
		var off int64
		for off < info.BinarySize {
			b, err := c.Call(ctx, proto.NodeFetchBinary, proto.MustMarshal(&proto.FetchBinary{SHA256: info.BinarySHA256, Offset: off, Length: binaryChunk}))
			if err != nil {
				pw.CloseWithError(err)
				return
			}
			if len(b) == 0 {
				pw.CloseWithError(io.ErrUnexpectedEOF)
				return
			}
			if _, err := pw.Write(b); err != nil {
				return
			}
			off += int64(len(b))
		}
		pw.Close()
	}()
	return n.writeCached(info, pr)
}

// serveBinary answers NodeFetchBinary from the cache.
func (n *Node) serveBinary(m *proto.FetchBinary) ([]byte, error) {
	if len(m.SHA256) != 64 || m.Length <= 0 || m.Length > binaryChunk || m.Offset < 0 {
		return nil, fmt.Errorf("node: bad binary fetch")
	}
	if _, err := hex.DecodeString(m.SHA256); err != nil {
		return nil, fmt.Errorf("node: bad binary fetch: %v", err)
	}
	f, err := os.Open(filepath.Join(n.binCacheDir(), m.SHA256))
	if err != nil {
		return nil, fmt.Errorf("node: no binary %s here", m.SHA256)
	}
	defer f.Close()
	buf := make([]byte, m.Length)
	k, err := f.ReadAt(buf, m.Offset)
	if err != nil && err != io.EOF {
		return nil, err
	}
	return buf[:k], nil
}
