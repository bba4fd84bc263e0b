package main

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/goray/ray/internal/node"
	"github.com/goray/ray/internal/session"
)

func newStatusCmd() *cobra.Command {
	var (
		address, tempDir, token string
		timeout                 time.Duration
	)
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Show a cluster's nodes, resources, pending demands and actors",
		Long: `Show the status of a goray cluster: its nodes, resource usage, pending
resource demands and actors.

The cluster is --address, else $GORAY_ADDRESS, else the latest cluster
started on this machine whose head is alive. The token is --token, else
$GORAY_TOKEN, else read from the cluster file on this machine.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			root, err := tempRoot(tempDir)
			if err != nil {
				return err
			}
			addr, tok, err := resolveTarget(address, token, os.Getenv, root)
			if err != nil {
				return err
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), timeout)
			defer cancel()
			st, err := node.QueryStatus(ctx, addr, tok)
			if err != nil {
				return fmt.Errorf("cluster at %s: %w", addr, err)
			}
			w := cmd.OutOrStdout()
			fmt.Fprintf(w, "======== Cluster status: %s (%s) ========\n", addr, time.Now().Format("2006-01-02 15:04:05"))
			renderStatus(w, st)
			return nil
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&address, "address", "", "the head's `HOST:PORT` (default: $GORAY_ADDRESS, else the latest live cluster on this machine)")
	fl.StringVar(&tempDir, "temp-dir", "", "where to find cluster files (default "+session.DefaultRoot()+")")
	fl.StringVar(&token, "token", "", "the cluster token (default: $GORAY_TOKEN, else the cluster file)")
	fl.DurationVar(&timeout, "timeout", 10*time.Second, "how long to wait for the head to answer")
	return cmd
}
