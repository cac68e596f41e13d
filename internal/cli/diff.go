package cli

import (
	"context"
	"fmt"

	"github.com/geofence/geofence/diff"
	"github.com/geofence/geofence/policy"
	"github.com/geofence/geofence/verify"
)

func runDiff(ctx context.Context, env Env, args []string) int {
	fs := newFlags(env, "diff", "OLD NEW [--json] [--fail-on-widen]")
	asJSON := fs.Bool("json", false, "print the changes as JSON")
	failOnWiden := fs.Bool("fail-on-widen", false, "exit 1 when any user can newly reach a country, or when NEW does not verify (e.g. lists a datacenter its rules forbid)")
	pos, err := parse(fs, args)
	if err != nil {
		return flagErr(err)
	}
	if len(pos) != 2 {
		return usageErr(env, fs, "want OLD and NEW config files, got %d arguments", len(pos))
	}
	var (
		models [2]*policy.Model
		reps   [2]*verify.Report
	)
	for i, p := range pos {
		rep, m, err := verify.File(p, verify.Options{})
		if err != nil {
			fmt.Fprintf(env.Stderr, "geofence diff: %v\n", err)
			return ExitUsage
		}
		if m == nil {
			writeErrors(env, rep)
			fmt.Fprintf(env.Stderr, "geofence diff: %s cannot be compared: fix the errors above (geofence verify %s)\n", p, p)
			return ExitUsage
		}
		models[i], reps[i] = m, rep
	}
	c := diff.Compare(reps[0], models[0], reps[1], models[1])
	if *asJSON {
		writeJSON(env.Stdout, c)
	} else {
		diff.WriteText(env.Stdout, &c.Result)
	}
	if !c.OldOK {
		fmt.Fprintf(env.Stderr, "geofence diff: warning: OLD %s does not verify (geofence verify %s); compared anyway\n", pos[0], pos[0])
	}
	if !c.NewOK {
		// NEW's errors as verify prints them: a gate that compared reach alone would pass a
		// config whose lists name datacenters its rules forbid.
		writeErrors(env, reps[1])
		fmt.Fprintf(env.Stderr, "geofence diff: NEW %s does not verify: %d error%s\n", pos[1], len(c.NewErrors), s(len(c.NewErrors)))
	}
	if *failOnWiden && c.Blocked() {
		return ExitFinding
	}
	return ExitOK
}

// writeErrors prints the error findings of rep to stderr, one file:line:col line each, as
// geofence verify prints them.
func writeErrors(env Env, rep *verify.Report) {
	for _, f := range rep.Findings {
		if f.Severity == verify.Error {
			fmt.Fprintln(env.Stderr, f.String())
		}
	}
}
