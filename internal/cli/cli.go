// Package cli is the geofence command line: one function per subcommand, each parsing its
// flags, wiring the packages that do the work and mapping the outcome to an exit status
// (0 success, 1 findings or a refused operation, 2 usage or unreadable input; DESIGN.md
// section 6). It holds no logic of its own beyond that.
package cli

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
)

// Exit statuses.
const (
	ExitOK      = 0
	ExitFinding = 1 // findings, or a refused operation
	ExitUsage   = 2 // usage error or unreadable input
)

// Env is the process environment a command runs in.
type Env struct {
	Stdout, Stderr io.Writer
	Getenv         func(string) string
}

type command struct {
	name    string
	summary string
	run     func(ctx context.Context, env Env, args []string) int
}

func commands() []command {
	return []command{
		{"verify", "check a config before deploy: residency, coverage, capacity, references", runVerify},
		{"explain", "show the datacenters a participant would get, and why not the others", runExplain},
		{"diff", "show what a config change lets users newly reach or no longer reach", runDiff},
		{"dev", "run the whole system in one process on loopback, on the embedded example world", runDev},
		{"join", "join a meeting as a client: fetch a ticket, verify it, connect as DESIGN.md section 4 says", runJoin},
		{"directory", "serve the directory: joins, tickets, datacenter state (production role)", runDirectory},
		{"kms", "serve a key server: issue meeting keys only where the rules allow (production role)", runKMS},
		{"dc", "serve a datacenter agent: admit participants with valid tickets, report load (production role)", runDC},
		{"token", "mint a join token with an account's key, as its backend would (--new-key: make a key)", runToken},
	}
}

// Main runs the geofence command line with args (without the program name).
func Main(ctx context.Context, args []string, env Env) int {
	if env.Getenv == nil {
		env.Getenv = func(string) string { return "" }
	}
	if len(args) == 0 {
		usage(env.Stderr)
		return ExitUsage
	}
	if args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		usage(env.Stdout)
		return ExitOK
	}
	for _, c := range commands() {
		if c.name == args[0] {
			return c.run(ctx, env, args[1:])
		}
	}
	fmt.Fprintf(env.Stderr, "geofence: unknown command %q\n\n", args[0])
	usage(env.Stderr)
	return ExitUsage
}

func usage(w io.Writer) {
	fmt.Fprintf(w, "usage: geofence COMMAND [ARGS]\n\ncommands:\n")
	for _, c := range commands() {
		fmt.Fprintf(w, "  %-10s %s\n", c.name, c.summary)
	}
	fmt.Fprintf(w, "\nRun geofence COMMAND -h for a command's flags.\n")
}

// parse parses flags that may come before, between or after positional arguments
// (`geofence verify world.yaml --json`), returning the positional ones.
func parse(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		rest := fs.Args()
		// fs.Parse consumes a "--" and stops there: everything after it is positional.
		if n := len(args) - len(rest); n > 0 && args[n-1] == "--" {
			return append(pos, rest...), nil
		}
		if len(rest) == 0 {
			return pos, nil
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
}

func newFlags(env Env, name, synopsis string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(env.Stderr)
	fs.Usage = func() {
		fmt.Fprintf(env.Stderr, "usage: geofence %s %s\n\nflags:\n", name, synopsis)
		fs.PrintDefaults()
	}
	return fs
}

// flagErr maps a flag parsing error to an exit status.
func flagErr(err error) int {
	if errors.Is(err, flag.ErrHelp) {
		return ExitOK
	}
	return ExitUsage
}

func usageErr(env Env, fs *flag.FlagSet, format string, args ...any) int {
	fmt.Fprintf(env.Stderr, "geofence %s: %s\n", fs.Name(), fmt.Sprintf(format, args...))
	fs.Usage()
	return ExitUsage
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// listFlag is a repeatable or comma-separated list flag.
type listFlag []string

func (l *listFlag) String() string { return strings.Join(*l, ",") }
func (l *listFlag) Set(s string) error {
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			*l = append(*l, f)
		}
	}
	return nil
}
