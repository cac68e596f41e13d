package cli

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/geofence/geofence/explain"
	"github.com/geofence/geofence/route"
	"github.com/geofence/geofence/verify"
)

func runExplain(ctx context.Context, env Env, args []string) int {
	fs := newFlags(env, "explain", "(CONFIG | --directory URL) --country CC [--from LAT,LON] [--plan P] [--account A] [--meeting-region R] [--host-plan P] [--down DC,...] [--load DC=0.9,...] [--json]")
	var q explain.Query
	fs.StringVar(&q.Country, "country", "", "the participant's country (ISO 3166-1 alpha-2), required")
	from := fs.String("from", "", "the participant's location LAT,LON (default: the country's centroid)")
	fs.StringVar(&q.Plan, "plan", "", "the participant's plan (default: the account's plan, else basic)")
	fs.StringVar(&q.Account, "account", "", "the host account (its home region, plan and data_regions apply)")
	fs.StringVar(&q.MeetingRegion, "meeting-region", "", "the meeting's data region (default: the account's home region, else the participant's)")
	fs.StringVar(&q.HostPlan, "host-plan", "", "the host's plan (default: the account's plan, else the participant's)")
	fs.StringVar(&q.Home, "home", "", "the meeting's home datacenter, if it already has one")
	var down listFlag
	fs.Var(&down, "down", "datacenters to treat as down, comma-separated")
	load := fs.String("load", "", "utilizations to assume, e.g. us-sjc=0.9,us-den=1")
	asJSON := fs.Bool("json", false, "print the answer as JSON")
	dirURL := fs.String("directory", "", "ask a running directory (GET /v1/explain) instead of reading CONFIG: the answer on live state")
	pos, err := parse(fs, args)
	if err != nil {
		return flagErr(err)
	}
	if *dirURL != "" {
		if len(pos) != 0 {
			return usageErr(env, fs, "give either --directory or a CONFIG file, not both")
		}
	} else if len(pos) != 1 {
		return usageErr(env, fs, "want exactly one CONFIG file, got %d arguments", len(pos))
	}
	if q.Country == "" {
		return usageErr(env, fs, "--country is required")
	}
	if *dirURL != "" {
		return explainRemote(ctx, env, *dirURL, fs, *asJSON)
	}
	if *from != "" {
		p, err := explain.ParseLatLon(*from)
		if err != nil {
			return usageErr(env, fs, "--from: %v", err)
		}
		q.From = &p
	}
	if q.Load, err = explain.ParseLoad(*load); err != nil {
		return usageErr(env, fs, "--load: %v", err)
	}
	q.Down = down
	// Explain is a diagnostic: it explains a config that does not verify too (selection
	// still never returns a forbidden DC), and says so.
	rep, m, err := verify.File(pos[0], verify.Options{})
	if err != nil {
		fmt.Fprintf(env.Stderr, "geofence explain: %v\n", err)
		return ExitUsage
	}
	if m == nil {
		fmt.Fprintf(env.Stderr, "geofence explain: %s cannot be read as a config; run geofence verify %s\n", pos[0], pos[0])
		return ExitUsage
	}
	if !rep.OK {
		fmt.Fprintf(env.Stderr, "geofence explain: warning: %s does not verify (geofence verify %s); explaining it anyway\n", pos[0], pos[0])
	}
	a, err := explain.Run(m, q, route.State{})
	if err != nil {
		fmt.Fprintf(env.Stderr, "geofence explain: %v\n", err)
		return ExitUsage
	}
	if *asJSON {
		writeJSON(env.Stdout, a)
	} else {
		explain.WriteText(env.Stdout, a)
	}
	if a.Refusal != nil {
		return ExitFinding
	}
	return ExitOK
}

// explainRemote asks a directory for the explanation on its live state; the flags are passed
// through as query parameters.
func explainRemote(ctx context.Context, env Env, dirURL string, fs *flag.FlagSet, asJSON bool) int {
	q := url.Values{}
	for flagName, param := range map[string]string{"country": "country", "from": "from", "plan": "plan", "account": "account",
		"meeting-region": "meeting_region", "host-plan": "host_plan", "home": "home", "down": "down", "load": "load"} {
		if v := fs.Lookup(flagName).Value.String(); v != "" {
			q.Set(param, v)
		}
	}
	req, err := http.NewRequestWithContext(ctx, "GET", strings.TrimSuffix(dirURL, "/")+"/v1/explain?"+q.Encode(), nil)
	if err != nil {
		return usageErr(env, fs, "--directory: %v", err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		fmt.Fprintf(env.Stderr, "geofence explain: %v\n", err)
		return ExitUsage
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		fmt.Fprintf(env.Stderr, "geofence explain: %v\n", err)
		return ExitUsage
	}
	if resp.StatusCode != http.StatusOK {
		fmt.Fprintf(env.Stderr, "geofence explain: directory answered %s: %s\n", resp.Status, strings.TrimSpace(string(body)))
		return ExitUsage
	}
	var a explain.Answer
	if err := json.Unmarshal(body, &a); err != nil {
		fmt.Fprintf(env.Stderr, "geofence explain: directory answer: %v\n", err)
		return ExitUsage
	}
	if asJSON {
		writeJSON(env.Stdout, &a)
	} else {
		explain.WriteText(env.Stdout, &a)
	}
	if a.Refusal != nil {
		return ExitFinding
	}
	return ExitOK
}
