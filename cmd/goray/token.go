package main

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"

	"github.com/goray/ray/internal/session"
)

// Environment variables the CLI reads.
const (
	envToken   = "GORAY_TOKEN"
	envAddress = "GORAY_ADDRESS"
)

// errNoToken: no --token, no $GORAY_TOKEN and no cluster file to read one
// from.
var errNoToken = errors.New("no token: pass --token or set GORAY_TOKEN")

// Where a token came from, for messages.
const (
	tokenFromFlag      = "--token"
	tokenFromEnv       = "$" + envToken
	tokenFromCluster   = "cluster file"
	tokenFromGenerated = "generated"
)

// newToken is a random 32-hex-character cluster token.
func newToken() string {
	b := make([]byte, 16)
	rand.Read(b) // never fails (crypto/rand panics instead)
	return hex.EncodeToString(b)
}

// resolveToken finds the token of the cluster at address: --token, then
// $GORAY_TOKEN, then the cluster file under root.
func resolveToken(flagTok, envTok, root, address string) (token, source string, err error) {
	switch {
	case flagTok != "":
		return flagTok, tokenFromFlag, nil
	case envTok != "":
		return envTok, tokenFromEnv, nil
	}
	cf, err := session.ReadClusterFile(root, address)
	if errors.Is(err, session.ErrNoCluster) {
		return "", "", fmt.Errorf("%w (no cluster file for %s under %s on this machine)", errNoToken, address, root)
	}
	if err != nil {
		return "", "", fmt.Errorf("reading the token of %s: %w", address, err)
	}
	if cf.Token == "" {
		return "", "", fmt.Errorf("%w (the cluster file for %s has none)", errNoToken, address)
	}
	return cf.Token, tokenFromCluster, nil
}

// startToken is the token a starting node uses: the head takes --token or
// $GORAY_TOKEN, else makes one; other nodes resolve the cluster's.
func startToken(cfg startConfig, flagTok, envTok string) (token, source string, err error) {
	if !cfg.Head {
		return resolveToken(flagTok, envTok, cfg.TempRoot, cfg.HeadAddr)
	}
	switch {
	case flagTok != "":
		return flagTok, tokenFromFlag, nil
	case envTok != "":
		return envTok, tokenFromEnv, nil
	}
	return newToken(), tokenFromGenerated, nil
}

// resolveTarget picks the cluster a client command talks to: --address,
// then $GORAY_ADDRESS, then the latest live cluster started on this machine
// ("auto" also means that one); and its token (see resolveToken).
func resolveTarget(flagAddr, flagTok string, getenv func(string) string, root string) (addr, token string, err error) {
	addr = flagAddr
	if addr == "" {
		addr = getenv(envAddress)
	}
	if addr == "" || addr == "auto" {
		cf, err := session.LatestCluster(root)
		if err != nil {
			return "", "", fmt.Errorf("no cluster to talk to: pass --address or set %s, or start one with `goray start --head`: %w", envAddress, err)
		}
		addr = cf.Address
	}
	if err := checkHostPort(addr); err != nil {
		return "", "", fmt.Errorf("address %q: %w", addr, err)
	}
	token, _, err = resolveToken(flagTok, getenv(envToken), root, addr)
	return addr, token, err
}
