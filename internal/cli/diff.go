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
	failOnWiden := fs.Bool("fail-on-widen", false, "exit 1 when any user can newly reach a country")
	pos, err := parse(fs, args)
	if err != nil {
		return flagErr(err)
	}
	if len(pos) != 2 {
		return usageErr(env, fs, "want OLD and NEW config files, got %d arguments", len(pos))
	}
	var models [2]*policy.Model
	for i, p := range pos {
		_, m, err := verify.File(p, verify.Options{})
		if err != nil {
			fmt.Fprintf(env.Stderr, "geofence diff: %v\n", err)
			return ExitUsage
		}
		if m == nil {
			fmt.Fprintf(env.Stderr, "geofence diff: %s cannot be read as a config; run geofence verify %s\n", p, p)
			return ExitUsage
		}
		models[i] = m
	}
	res := diff.Models(models[0], models[1])
	if *asJSON {
		writeJSON(env.Stdout, res)
	} else {
		diff.WriteText(env.Stdout, res)
	}
	if *failOnWiden && res.Widened {
		return ExitFinding
	}
	return ExitOK
}
