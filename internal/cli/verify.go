package cli

import (
	"context"
	"fmt"

	"github.com/geofence/geofence/verify"
)

func runVerify(ctx context.Context, env Env, args []string) int {
	fs := newFlags(env, "verify", "CONFIG [--json] [--failures K]")
	asJSON := fs.Bool("json", false, "print the findings as JSON")
	failures := fs.Int("failures", 1, fmt.Sprintf("how many of the largest allowed datacenters the capacity check takes down, 1 to %d", verify.MaxFailures))
	pos, err := parse(fs, args)
	if err != nil {
		return flagErr(err)
	}
	if len(pos) != 1 {
		return usageErr(env, fs, "want exactly one CONFIG file, got %d arguments", len(pos))
	}
	if *failures < 1 || *failures > verify.MaxFailures {
		return usageErr(env, fs, "--failures must be between 1 and %d, got %d", verify.MaxFailures, *failures)
	}
	rep, _, err := verify.File(pos[0], verify.Options{Failures: *failures})
	if err != nil {
		fmt.Fprintf(env.Stderr, "geofence verify: %v\n", err)
		return ExitUsage
	}
	if *asJSON {
		if err := writeJSON(env.Stdout, rep); err != nil {
			return ExitUsage
		}
	} else {
		errs, warns := 0, 0
		for _, f := range rep.Findings {
			fmt.Fprintln(env.Stdout, f.String())
			if f.Severity == verify.Error {
				errs++
			} else {
				warns++
			}
		}
		status := "ok"
		if !rep.OK {
			status = "FAILED"
		}
		fmt.Fprintf(env.Stderr, "%s: %s: %d error%s, %d warning%s\n", pos[0], status, errs, s(errs), warns, s(warns))
	}
	if !rep.OK {
		return ExitFinding
	}
	return ExitOK
}

func s(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}
