package cli

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/geofence/geofence/config"
	"github.com/geofence/geofence/policy"
	"github.com/geofence/geofence/sim"
	"github.com/geofence/geofence/sim/replay"
	"github.com/geofence/geofence/sim/scenario"
	"github.com/geofence/geofence/verify"
)

func runSim(ctx context.Context, env Env, args []string) int {
	fs := newFlags(env, "sim", "--config FILE --scenario FILE [--seed N] [--out DIR] [--json] [--force] [--multiplier X] [--find-peak [--max-refusal-rate R] [--failures K]] [--compare NEW] [--trace FILE] [--progress] [--recheck-every] | --config FILE --replay TRACE")
	cfgPath := fs.String("config", "", "the config to simulate, required")
	scPath := fs.String("scenario", "", "the scenario (YAML), required")
	seed := fs.Uint64("seed", 1, "seed of the run's random source: the same seed gives the same output")
	out := fs.String("out", "", "write series.csv, series.json, refusals.csv, spill.csv, summary.{txt,json}, the SVG plots and report.html here")
	asJSON := fs.Bool("json", false, "print the summary as JSON")
	force := fs.Bool("force", false, "simulate a config that does not verify, and report the forbidden DCs its lists would have handed out")
	mult := fs.Float64("multiplier", 1, "scale every region's joins by this factor")
	findPeak := fs.Bool("find-peak", false, "find the largest multiplier each region carries within --max-refusal-rate, with and without its --failures largest DCs down")
	maxRate := fs.Float64("max-refusal-rate", 0, "the refusal rate --find-peak tolerates (0: no refusal at all)")
	failures := fs.Int("failures", 1, "K of --find-peak: how many of a region's largest allowed DCs go down")
	tracePath := fs.String("trace", "", "write every call made to the directory core (meetings, joins and answers, leaves, load reports) to this CSV file, for replay against a real directory")
	progress := fs.Bool("progress", false, "print the simulated time and the joins so far every simulated hour, on stderr")
	every := fs.Bool("recheck-every", false, "run the admission code on every DC of every ticket, not once per distinct case (slower, the same answers)")
	compare := fs.String("compare", "", "run the same scenario on this second config and report the difference")
	replayPath := fs.String("replay", "", "replay this trace (--trace) against a directory of --config served in this process as geofence dev --no-agents serves it, over its HTTP API (config swaps and capacity changes swapped into it), and report every answer that differs from the simulator's")
	pos, err := parse(fs, args)
	if err != nil {
		return flagErr(err)
	}
	switch {
	case len(pos) != 0:
		return usageErr(env, fs, "want no positional arguments, got %d", len(pos))
	case *replayPath != "" && (*cfgPath == "" || *scPath != ""):
		return usageErr(env, fs, "--replay takes --config and no --scenario")
	case *replayPath != "":
	case *cfgPath == "" || *scPath == "":
		return usageErr(env, fs, "--config and --scenario are required")
	case *mult <= 0 || *mult > 1000:
		return usageErr(env, fs, "--multiplier must be above 0 and at most 1000")
	case *maxRate < 0 || *maxRate >= 1:
		return usageErr(env, fs, "--max-refusal-rate must be in [0, 1)")
	case *failures < 0 || *failures > verify.MaxFailures:
		return usageErr(env, fs, "--failures must be between 0 and %d", verify.MaxFailures)
	case *findPeak && *compare != "":
		return usageErr(env, fs, "give --find-peak or --compare, not both")
	}
	load := func(path string) (*policy.Model, bool, int) {
		rep, m, err := verify.File(path, verify.Options{})
		if err != nil {
			fmt.Fprintf(env.Stderr, "geofence sim: %v\n", err)
			return nil, false, ExitUsage
		}
		if m == nil {
			fmt.Fprintf(env.Stderr, "geofence sim: %s cannot be read as a config; run geofence verify %s\n", path, path)
			return nil, false, ExitUsage
		}
		if !rep.OK && !*force {
			fmt.Fprintf(env.Stderr, "geofence sim: %s does not verify (run geofence verify %s); --force simulates it anyway and reports what its lists would have reached\n", path, path)
			return nil, false, ExitFinding
		}
		return m, rep.OK, ExitOK
	}
	m, ok, code := load(*cfgPath)
	if m == nil {
		return code
	}
	if *replayPath != "" {
		swapIn := func(path string) (*policy.Model, error) {
			m, _, code := load(path)
			if m == nil {
				return nil, fmt.Errorf("cannot swap in %s (exit %d)", path, code)
			}
			return m, nil
		}
		return replaySim(ctx, env, m, swapIn, *replayPath, *asJSON)
	}
	sc, err := scenario.Load(*scPath)
	if err != nil {
		printErr(env, err)
		return ExitUsage
	}
	sc.Multiplier = *mult
	opts := sim.Options{Model: m, Scenario: sc, Seed: *seed, Widening: !ok, RecheckEvery: *every,
		LoadConfig: func(path string) (*policy.Model, error) {
			if !filepath.IsAbs(path) {
				path = filepath.Join(filepath.Dir(*scPath), path)
			}
			m, _, code := load(path)
			if m == nil {
				return nil, fmt.Errorf("cannot swap in %s (exit %d)", path, code)
			}
			return m, nil
		}}
	if !ok {
		fmt.Fprintf(env.Stderr, "geofence sim: warning: %s does not verify; simulating it anyway (--force)\n", *cfgPath)
	}
	if *findPeak {
		po := sim.PeakOptions{MaxRefusalRate: *maxRate, Failures: *failures}
		peaks, err := sim.FindPeak(ctx, opts, po)
		if err != nil {
			printErr(env, err)
			return ExitUsage
		}
		if *asJSON {
			writeJSON(env.Stdout, map[string]any{"max_refusal_rate": *maxRate, "failures": *failures, "regions": peaks})
		} else {
			sim.WritePeaks(env.Stdout, peaks, po)
		}
		return ExitOK
	}
	if *compare != "" {
		m2, _, code := load(*compare)
		if m2 == nil {
			return code
		}
		base, err := sim.Run(ctx, opts)
		if err != nil {
			printErr(env, err)
			return ExitUsage
		}
		o2 := opts
		o2.Model = m2
		next, err := sim.Run(ctx, o2)
		if err != nil {
			printErr(env, err)
			return ExitUsage
		}
		if *out != "" {
			for dir, r := range map[string]*sim.Result{"base": base, "new": next} {
				if err := r.WriteDir(filepath.Join(*out, dir), "geofence sim: "+filepath.Base(*scPath)+" on "+filepath.Base(map[string]string{"base": *cfgPath, "new": *compare}[dir])); err != nil {
					fmt.Fprintf(env.Stderr, "geofence sim: %v\n", err)
					return ExitUsage
				}
			}
		}
		c := sim.Compare(base, next)
		if *asJSON {
			writeJSON(env.Stdout, c)
		} else {
			c.Write(env.Stdout, *cfgPath, *compare)
		}
		if c.Violations > 0 {
			fmt.Fprintf(env.Stderr, "geofence sim: %d placements violate residency: this is a bug in Geofence, please report it\n", c.Violations)
			return ExitFinding
		}
		return ExitOK
	}
	if *progress {
		start := time.Now()
		opts.Progress = func(at time.Time, joins int64) {
			fmt.Fprintf(env.Stderr, "geofence sim: %s simulated, %d joins, %s elapsed\n", at.Format(time.RFC3339), joins, time.Since(start).Round(time.Second))
		}
	}
	if *tracePath != "" {
		f, err := os.Create(*tracePath)
		if err != nil {
			fmt.Fprintf(env.Stderr, "geofence sim: %v\n", err)
			return ExitUsage
		}
		defer f.Close()
		opts.Trace = f
	}
	res, err := sim.Run(ctx, opts)
	if err != nil {
		printErr(env, err)
		return ExitUsage
	}
	if *out != "" {
		if err := res.WriteDir(*out, "geofence sim: "+filepath.Base(*scPath)+" on "+filepath.Base(*cfgPath)); err != nil {
			fmt.Fprintf(env.Stderr, "geofence sim: %v\n", err)
			return ExitUsage
		}
	}
	if *asJSON {
		writeJSON(env.Stdout, res.SummaryJSON())
	} else {
		res.WriteSummary(env.Stdout)
	}
	if res.Summary.Violations > 0 {
		fmt.Fprintf(env.Stderr, "geofence sim: %d placements violate residency: this is a bug in Geofence, please report it\n", res.Summary.Violations)
		return ExitFinding
	}
	return ExitOK
}

// replaySim is --replay: the trace's calls against a dev stack without agents, compared.
func replaySim(ctx context.Context, env Env, m *policy.Model, load func(string) (*policy.Model, error), path string, asJSON bool) int {
	f, err := os.Open(path)
	if err != nil {
		fmt.Fprintf(env.Stderr, "geofence sim: %v\n", err)
		return ExitUsage
	}
	defer f.Close()
	tr, err := replay.Parse(f)
	if err != nil {
		fmt.Fprintf(env.Stderr, "geofence sim: %s: %v\n", path, err)
		return ExitUsage
	}
	res, err := replay.Dev(ctx, tr, m, load)
	if err != nil {
		fmt.Fprintf(env.Stderr, "geofence sim: %v\n", err)
		return ExitUsage
	}
	if asJSON {
		writeJSON(env.Stdout, res)
	} else {
		fmt.Fprintf(env.Stdout, "replayed %d calls: %d meetings, %d joins, %d load reports, %d swaps; %d answers compared, %d differ\n",
			res.Calls, res.Meetings, res.Joins, res.Reports, res.Swaps, res.Compared, res.Differ)
		for _, x := range res.Mismatches {
			fmt.Fprintln(env.Stdout, x)
		}
	}
	if res.Differ > 0 {
		fmt.Fprintf(env.Stderr, "geofence sim: %d answers of the directory differ from the simulator's\n", res.Differ)
		return ExitFinding
	}
	return ExitOK
}

// printErr prints a list of positioned errors one a line, anything else after the command's
// name.
func printErr(env Env, err error) {
	var errs config.ErrorList
	if errors.As(err, &errs) {
		for _, e := range errs {
			fmt.Fprintf(env.Stderr, "%v\n", e)
		}
		return
	}
	fmt.Fprintf(env.Stderr, "geofence sim: %v\n", err)
}
