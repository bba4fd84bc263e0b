package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"runtime"
	"runtime/debug"
	"strings"

	"github.com/spf13/cobra"
	"golang.org/x/sys/unix"

	"github.com/goray/ray"
)

func main() {
	// `goray microbenchmark` is a goray driver, and its workers are this
	// same binary re-executed by a node with GORAY_WORKER=1: Init then
	// serves tasks and never returns.
	if os.Getenv("GORAY_WORKER") == "1" {
		ray.Init(context.Background())
	}
	root := newRootCmd()
	if err := root.ExecuteContext(context.Background()); err != nil {
		fmt.Fprintf(os.Stderr, "goray: %v\n", err)
		os.Exit(1)
	}
}

func newRootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:           "goray",
		Short:         "Start, inspect and stop goray clusters",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		return fmt.Errorf("%w: %w (see `%s --help`)", errUsage, err, c.CommandPath())
	})
	root.AddCommand(newStartCmd(), newStatusCmd(), newStopCmd(), newVersionCmd(), newMicrobenchmarkCmd())
	return root
}

// thisMachine reports the cores and RAM the defaults are fractions of.
func thisMachine() machine {
	m := machine{Cores: runtime.NumCPU(), MemBytes: 8 << 30}
	var si unix.Sysinfo_t
	if unix.Sysinfo(&si) == nil {
		m.MemBytes = int64(si.Totalram) * int64(si.Unit)
	}
	return m
}

func newVersionCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print goray's version",
		Args:  cobra.NoArgs,
		Run: func(cmd *cobra.Command, _ []string) {
			printVersion(cmd.OutOrStdout())
		},
	}
}

// printVersion prints the module version, the VCS commit if the binary was
// built from a checkout, the Go version and the platform.
func printVersion(w io.Writer) {
	version, extra := "(devel)", []string{}
	if bi, ok := debug.ReadBuildInfo(); ok {
		if bi.Main.Version != "" {
			version = bi.Main.Version
		}
		var rev, when string
		modified := false
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				rev = s.Value
			case "vcs.time":
				when = s.Value
			case "vcs.modified":
				modified = s.Value == "true"
			}
		}
		if rev != "" {
			if len(rev) > 12 {
				rev = rev[:12]
			}
			if modified {
				rev += "+dirty"
			}
			extra = append(extra, "commit "+rev)
		}
		if when != "" {
			extra = append(extra, when)
		}
		extra = append(extra, bi.GoVersion)
	} else {
		extra = append(extra, runtime.Version())
	}
	fmt.Fprintf(w, "goray %s (%s) %s/%s\n", version, strings.Join(extra, ", "), runtime.GOOS, runtime.GOARCH)
}
