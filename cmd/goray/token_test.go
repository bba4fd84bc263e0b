package main

import (
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/goray/ray/internal/session"
)

func TestResolveTokenOrder(t *testing.T) {
	root := t.TempDir()
	const addr = "127.0.0.1:7000"
	if err := session.WriteClusterFile(root, session.ClusterFile{Address: addr, Token: "fromfile", HeadPID: os.Getpid()}); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		flag, env, addr  string
		want, wantSource string
		wantErr          error
	}{
		{"fromflag", "fromenv", addr, "fromflag", tokenFromFlag, nil},
		{"", "fromenv", addr, "fromenv", tokenFromEnv, nil},
		{"", "", addr, "fromfile", tokenFromCluster, nil},
		{"", "", "127.0.0.1:7001", "", "", errNoToken},
		{"fromflag", "", "127.0.0.1:7001", "fromflag", tokenFromFlag, nil},
	}
	for _, c := range cases {
		tok, src, err := resolveToken(c.flag, c.env, root, c.addr)
		if tok != c.want || src != c.wantSource || !errors.Is(err, c.wantErr) {
			t.Errorf("resolveToken(%q, %q, %s) = %q, %q, %v; want %q, %q, %v", c.flag, c.env, c.addr, tok, src, err, c.want, c.wantSource, c.wantErr)
		}
	}
	if _, _, err := resolveToken("", "", root, "127.0.0.1:7001"); err == nil || !strings.Contains(err.Error(), "no token: pass --token or set GORAY_TOKEN") {
		t.Errorf("missing token error: %v", err)
	}
}

func TestStartToken(t *testing.T) {
	root := t.TempDir()
	head := startConfig{Head: true, TempRoot: root}
	if tok, src, _ := startToken(head, "f", "e"); tok != "f" || src != tokenFromFlag {
		t.Errorf("head with --token: %q %q", tok, src)
	}
	if tok, src, _ := startToken(head, "", "e"); tok != "e" || src != tokenFromEnv {
		t.Errorf("head with env: %q %q", tok, src)
	}
	a, src, _ := startToken(head, "", "")
	b, _, _ := startToken(head, "", "")
	if len(a) != 32 || strings.Trim(a, "0123456789abcdef") != "" || a == b || src != tokenFromGenerated {
		t.Errorf("generated tokens %q, %q (%s): want distinct 32 hex chars", a, b, src)
	}
	join := startConfig{HeadAddr: "127.0.0.1:7000", TempRoot: root}
	if _, _, err := startToken(join, "", ""); !errors.Is(err, errNoToken) {
		t.Errorf("joining without a token: %v", err)
	}
	session.WriteClusterFile(root, session.ClusterFile{Address: "127.0.0.1:7000", Token: "t0"})
	if tok, src, _ := startToken(join, "", ""); tok != "t0" || src != tokenFromCluster {
		t.Errorf("joining with a cluster file: %q %q", tok, src)
	}
}

func TestResolveTarget(t *testing.T) {
	root := t.TempDir()
	env := map[string]string{}
	getenv := func(k string) string { return env[k] }
	if _, _, err := resolveTarget("", "", getenv, root); err == nil || !strings.Contains(err.Error(), "no cluster to talk to") {
		t.Errorf("no cluster: %v", err)
	}
	session.WriteClusterFile(root, session.ClusterFile{Address: "127.0.0.1:7000", Token: "t0", HeadPID: os.Getpid()})
	session.WriteClusterFile(root, session.ClusterFile{Address: "127.0.0.1:7001", Token: "t1", HeadPID: os.Getpid()})
	// A cluster whose head is gone is not "latest".
	session.WriteClusterFile(root, session.ClusterFile{Address: "127.0.0.1:7002", Token: "t2", HeadPID: 1 << 30})

	addr, tok, err := resolveTarget("", "", getenv, root)
	if err != nil || !strings.HasPrefix(addr, "127.0.0.1:700") || addr == "127.0.0.1:7002" || tok != map[string]string{"127.0.0.1:7000": "t0", "127.0.0.1:7001": "t1"}[addr] {
		t.Errorf("latest: %s %s %v", addr, tok, err)
	}
	env[envAddress] = "127.0.0.1:7000"
	if addr, tok, err := resolveTarget("", "", getenv, root); addr != "127.0.0.1:7000" || tok != "t0" || err != nil {
		t.Errorf("$GORAY_ADDRESS: %s %s %v", addr, tok, err)
	}
	env[envToken] = "envtok"
	if addr, tok, err := resolveTarget("127.0.0.1:7001", "", getenv, root); addr != "127.0.0.1:7001" || tok != "envtok" || err != nil {
		t.Errorf("--address beats $GORAY_ADDRESS, $GORAY_TOKEN beats the file: %s %s %v", addr, tok, err)
	}
	if _, tok, _ := resolveTarget("127.0.0.1:7001", "flagtok", getenv, root); tok != "flagtok" {
		t.Errorf("--token beats $GORAY_TOKEN: %s", tok)
	}
	delete(env, envToken)
	if _, _, err := resolveTarget("127.0.0.1:9999", "", getenv, root); !errors.Is(err, errNoToken) {
		t.Errorf("unknown cluster without a token: %v", err)
	}
	if _, _, err := resolveTarget("nonsense", "", getenv, root); err == nil {
		t.Error("malformed address accepted")
	}
}
