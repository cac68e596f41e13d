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
	"runtime"
	"runtime/debug"
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
		{"config", "push a verified config to the deployment's store, for every process to pick up (config push FILE --etcd URL)", runConfig},
		{"audit", "check the evidence logs, prove an entry, write the transparency report", runAudit},
		{"token", "mint a join token with an account's key, as its backend would (--new-key: make a key)", runToken},
		{"loadtest", "synthetic participants that publish encrypted media and subscribe: setup, latency, loss", runLoadtest},
		{"sim", "simulate a day of joins, surges and failures through the real routing code, with plots", runSim},
		{"version", "print geofence's version, the Go that built it and its source revision", runVersion},
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
	switch args[0] {
	case "-h", "--help":
		usage(env.Stdout)
		return ExitOK
	case "help":
		return help(ctx, env, args[1:])
	}
	if c, ok := lookup(args[0]); ok {
		return c.run(ctx, env, args[1:])
	}
	fmt.Fprintf(env.Stderr, "geofence: unknown command %q\n\n", args[0])
	usage(env.Stderr)
	return ExitUsage
}

func lookup(name string) (command, bool) {
	for _, c := range commands() {
		if c.name == name {
			return c, true
		}
	}
	return command{}, false
}

// help is `geofence help [COMMAND]`: the top-level usage, or exactly the text `geofence
// COMMAND -h` prints, on stdout since it was asked for.
func help(ctx context.Context, env Env, args []string) int {
	switch len(args) {
	case 0:
		usage(env.Stdout)
		return ExitOK
	case 1:
		if args[0] == "help" {
			usage(env.Stdout)
			return ExitOK
		}
		c, ok := lookup(args[0])
		if !ok {
			fmt.Fprintf(env.Stderr, "geofence help: unknown command %q\n\n", args[0])
			usage(env.Stderr)
			return ExitUsage
		}
		// Every command parses its flags before doing anything, and -h stops it there.
		return c.run(ctx, Env{Stdout: env.Stdout, Stderr: env.Stdout, Getenv: env.Getenv}, []string{"-h"})
	}
	fmt.Fprintf(env.Stderr, "geofence help: want at most one COMMAND, got %d arguments\n\n", len(args))
	usage(env.Stderr)
	return ExitUsage
}

func usage(w io.Writer) {
	fmt.Fprintf(w, "usage: geofence COMMAND [ARGS]\n\ncommands:\n")
	for _, c := range commands() {
		fmt.Fprintf(w, "  %-10s %s\n", c.name, c.summary)
	}
	fmt.Fprintf(w, "\nRun geofence help COMMAND (or geofence COMMAND -h) for a command's flags.\n")
}

func runVersion(ctx context.Context, env Env, args []string) int {
	fs := newFlags(env, "version", "")
	pos, err := parse(fs, args)
	if err != nil {
		return flagErr(err)
	}
	if len(pos) != 0 {
		return usageErr(env, fs, "want no arguments, got %d", len(pos))
	}
	bi, _ := debug.ReadBuildInfo() // nil when the binary has none
	fmt.Fprint(env.Stdout, versionText(bi))
	return ExitOK
}

// versionText describes a build: the module version ("(devel)" when the build has none), the
// Go version and platform, and the VCS revision, commit time and local modifications when the
// go command stamped them (it does for builds inside a checkout, `go install ./cmd/geofence`).
func versionText(bi *debug.BuildInfo) string {
	version, goVersion := "(unknown)", runtime.Version()
	goos, goarch := runtime.GOOS, runtime.GOARCH
	var revision, when string
	modified := false
	if bi != nil {
		if bi.Main.Version != "" {
			version = bi.Main.Version
		}
		if bi.GoVersion != "" {
			goVersion = bi.GoVersion
		}
		for _, s := range bi.Settings {
			switch s.Key {
			case "GOOS":
				goos = s.Value
			case "GOARCH":
				goarch = s.Value
			case "vcs.revision":
				revision = s.Value
			case "vcs.time":
				when = s.Value
			case "vcs.modified":
				modified = s.Value == "true"
			}
		}
	}
	var b strings.Builder
	fmt.Fprintf(&b, "geofence %s\n", version)
	fmt.Fprintf(&b, "  go        %s %s/%s\n", goVersion, goos, goarch)
	if revision != "" {
		mod := ""
		if modified {
			mod = " (with local modifications)"
		}
		fmt.Fprintf(&b, "  revision  %s%s\n", revision, mod)
	}
	if when != "" {
		fmt.Fprintf(&b, "  committed %s\n", when)
	}
	return b.String()
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
		fmt.Fprintf(env.Stderr, "usage: %s\n", strings.TrimSpace("geofence "+name+" "+synopsis))
		n := 0
		fs.VisitAll(func(*flag.Flag) { n++ })
		if n > 0 {
			fmt.Fprintf(env.Stderr, "\nflags:\n")
			fs.PrintDefaults()
		}
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
