package cli

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/geofence/geofence/audit"
)

// runAudit is `geofence audit verify|prove|report` (DESIGN.md section 11).
func runAudit(ctx context.Context, env Env, args []string) int {
	const synopsis = "verify|find|prove|report ... (geofence audit SUBCOMMAND -h for its flags)"
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" {
		w := env.Stderr // like every command's -h; `geofence help audit` sends it to stdout
		fmt.Fprintf(w, "usage: geofence audit %s\n\n", synopsis)
		fmt.Fprintf(w, "  verify   check the evidence logs: signatures, trees, consistency, every entry against its config\n")
		fmt.Fprintf(w, "  find     list the entries of a meeting, or of one participant (with the operator's hash key)\n")
		fmt.Fprintf(w, "  prove    print the inclusion proof of one entry in the log's signed checkpoint\n")
		fmt.Fprintf(w, "  report   write the transparency report (Markdown or an HTML page with charts)\n")
		if len(args) == 0 {
			return ExitUsage
		}
		return ExitOK
	}
	switch args[0] {
	case "verify":
		return runAuditVerify(ctx, env, args[1:])
	case "prove":
		return runAuditProve(ctx, env, args[1:])
	case "find":
		return runAuditFind(ctx, env, args[1:])
	case "report":
		return runAuditReport(ctx, env, args[1:])
	}
	fmt.Fprintf(env.Stderr, "geofence audit: unknown subcommand %q: want verify, find, prove or report\n", args[0])
	return ExitUsage
}

// openLogs resolves --log: a folder holding one log (it has a checkpoint) or one log per
// region (the folder `geofence dev` prints), or a URL: a directory's base URL (every region
// it serves) or one log's /v1/audit/{region}. It returns the sources and the verifier keys,
// read from --vkey (files or keys) or, when none is given, published next to the logs.
func openLogs(ctx context.Context, env Env, cmd, log string, vkeyArgs []string) ([]audit.Source, []string, error) {
	var (
		srcs      []audit.Source
		published func() ([]byte, error)
	)
	if strings.HasPrefix(log, "http://") || strings.HasPrefix(log, "https://") {
		base := strings.TrimSuffix(log, "/")
		c := &http.Client{Timeout: 30 * time.Second}
		if i := strings.Index(base, "/v1/audit/"); i >= 0 {
			srcs = append(srcs, audit.URL{Base: base, Client: c})
			base = base[:i]
		} else {
			b, err := audit.URL{Base: base, Client: c}.Fetch(ctx, "v1/audit")
			if err != nil {
				return nil, nil, fmt.Errorf("list the logs of %s: %w", base, err)
			}
			var idx struct{ Regions []string }
			if err := json.Unmarshal(b, &idx); err != nil {
				return nil, nil, fmt.Errorf("list the logs of %s: %w", base, err)
			}
			for _, r := range idx.Regions {
				srcs = append(srcs, audit.URL{Base: base + "/v1/audit/" + r, Client: c})
			}
		}
		published = func() ([]byte, error) { return audit.URL{Base: base, Client: c}.Fetch(ctx, "v1/audit/vkeys") }
	} else {
		if _, err := os.Stat(filepath.Join(log, "checkpoint")); err == nil {
			srcs = append(srcs, audit.Dir(log))
			published = func() ([]byte, error) { return os.ReadFile(filepath.Join(log, "..", audit.VKeysFile)) }
		} else {
			ents, err := os.ReadDir(log)
			if err != nil {
				return nil, nil, err
			}
			for _, e := range ents {
				if _, err := os.Stat(filepath.Join(log, e.Name(), "checkpoint")); err == nil {
					srcs = append(srcs, audit.Dir(filepath.Join(log, e.Name())))
				}
			}
			published = func() ([]byte, error) { return os.ReadFile(filepath.Join(log, audit.VKeysFile)) }
		}
	}
	if len(srcs) == 0 {
		return nil, nil, fmt.Errorf("%s holds no log (no checkpoint)", log)
	}
	var vkeys []string
	for _, v := range vkeyArgs {
		if b, err := os.ReadFile(v); err == nil {
			vkeys = append(vkeys, audit.ParseVKeys(b)...)
		} else if errors.Is(err, fs.ErrNotExist) && strings.Count(v, "+") >= 2 {
			vkeys = append(vkeys, v)
		} else {
			return nil, nil, fmt.Errorf("--vkey %s: %w", v, err)
		}
	}
	if len(vkeys) == 0 {
		b, err := published()
		if err != nil {
			return nil, nil, fmt.Errorf("no --vkey given and no verifier keys published next to the logs: %w", err)
		}
		vkeys = audit.ParseVKeys(b)
		fmt.Fprintf(env.Stderr, "geofence audit %s: trusting the verifier keys published next to the logs; pin them with --vkey (a key file or key)\n", cmd)
	}
	return srcs, vkeys, nil
}

func runAuditVerify(ctx context.Context, env Env, args []string) int {
	fs := newFlags(env, "audit verify", "--log DIR|URL --config FILE... [--vkey FILE|KEY]... [--since CHECKPOINT] [--json]")
	log := fs.String("log", "", "the evidence logs: a folder (one log, or one per region) or a URL (a directory, or its /v1/audit/{region})")
	var configs, vkeys listFlag
	fs.Var(&configs, "config", "a config whose digest entries may name (repeatable): each entry is re-checked against it")
	fs.Var(&vkeys, "vkey", "a signed-note verifier key, or a file of them one a line (repeatable; default: the vkeys published with the logs)")
	since := fs.String("since", "", "an earlier signed checkpoint of the log: the log must extend it")
	asJSON := fs.Bool("json", false, "print the results as JSON")
	pos, err := parse(fs, args)
	if err != nil {
		return flagErr(err)
	}
	if len(pos) != 0 {
		return usageErr(env, fs, "want no arguments, got %q", pos)
	}
	if *log == "" || len(configs) == 0 {
		return usageErr(env, fs, "--log and at least one --config are required")
	}
	cfgs := map[string]*audit.Config{}
	for _, p := range configs {
		c, err := audit.LoadConfig(p)
		if err != nil {
			fmt.Fprintf(env.Stderr, "geofence audit verify: %v\n", err)
			return ExitUsage
		}
		cfgs[c.Digest] = c
	}
	var sinceRaw []byte
	if *since != "" {
		if sinceRaw, err = os.ReadFile(*since); err != nil {
			fmt.Fprintf(env.Stderr, "geofence audit verify: --since: %v\n", err)
			return ExitUsage
		}
	}
	srcs, keys, err := openLogs(ctx, env, "verify", *log, vkeys)
	if err != nil {
		fmt.Fprintf(env.Stderr, "geofence audit verify: %v\n", err)
		return ExitUsage
	}
	var results []*audit.Result
	ok := true
	for _, src := range srcs {
		opts := audit.VerifyOptions{Source: src, VKeys: keys, Configs: cfgs}
		if sinceRaw != nil && sinceMatches(sinceRaw, src, len(srcs)) {
			opts.Since = sinceRaw
		}
		res, err := audit.Verify(ctx, opts)
		if err != nil {
			fmt.Fprintf(env.Stderr, "geofence audit verify: %v\n", err)
			return ExitUsage
		}
		results = append(results, res)
		ok = ok && res.OK
	}
	// A folder or directory of every region's log: each published verifier key must have its
	// log, or a region's log was removed.
	var missing []string
	if len(srcs) > 1 {
		have := map[string]bool{}
		for _, r := range results {
			have[r.Origin] = true
		}
		for _, k := range keys {
			if name, _, _ := strings.Cut(k, "+"); !have[name] {
				missing = append(missing, name)
			}
		}
		if len(missing) > 0 {
			ok = false
		}
	}
	if *asJSON {
		if err := writeJSON(env.Stdout, map[string]any{"ok": ok, "logs": results, "missing": append([]string{}, missing...)}); err != nil {
			return ExitUsage
		}
	} else {
		for _, r := range results {
			printVerify(env.Stdout, r)
		}
		for _, m := range missing {
			fmt.Fprintf(env.Stdout, "%s: FAILED: no log found, though its verifier key is published (the log was removed)\n", m)
		}
	}
	if !ok {
		return ExitFinding
	}
	return ExitOK
}

// sinceMatches says whether an earlier checkpoint applies to src: always for a single log,
// else when its origin ends with the log's folder name or URL's last element (its region).
func sinceMatches(raw []byte, src audit.Source, n int) bool {
	if n == 1 {
		return true
	}
	origin, _, _ := strings.Cut(string(raw), "\n")
	name := src.String()
	name = name[strings.LastIndexAny(name, "/\\")+1:]
	return strings.HasSuffix(origin, "/"+name)
}

func printVerify(w io.Writer, r *audit.Result) {
	status := "ok"
	if !r.OK {
		status = fmt.Sprintf("FAILED (%d)", len(r.Failures))
	}
	fmt.Fprintf(w, "%s: %s\n  origin %s, %d entries, root %s\n", r.Log, status, r.Origin, r.Size, r.Root)
	for _, f := range r.Failures {
		fmt.Fprintf(w, "  %s\n", f)
	}
	for _, n := range r.Notes {
		fmt.Fprintf(w, "  note: %s\n", n)
	}
}

func runAuditProve(ctx context.Context, env Env, args []string) int {
	fs := newFlags(env, "audit prove", "--log DIR|URL --entry N [--vkey FILE|KEY]... | --check PROOF --vkey FILE|KEY")
	log := fs.String("log", "", "one region's log: its folder, or the directory's /v1/audit/{region} URL")
	entry := fs.Int64("entry", -1, "the index of the entry to prove (audit verify names entries by index)")
	check := fs.String("check", "", "check a proof this command printed, instead of making one")
	var vkeys listFlag
	fs.Var(&vkeys, "vkey", "a signed-note verifier key, or a file of them (repeatable; default: the vkeys published with the log)")
	pos, err := parse(fs, args)
	if err != nil {
		return flagErr(err)
	}
	if len(pos) != 0 {
		return usageErr(env, fs, "want no arguments, got %q", pos)
	}
	if *check != "" {
		return checkProof(env, *check, vkeys)
	}
	if *log == "" || *entry < 0 {
		return usageErr(env, fs, "--log and --entry are required")
	}
	srcs, keys, err := openLogs(ctx, env, "prove", *log, vkeys)
	if err == nil && len(srcs) != 1 {
		err = fmt.Errorf("%s holds %d logs; name one region's (%s/REGION)", *log, len(srcs), strings.TrimSuffix(*log, "/"))
	}
	if err != nil {
		fmt.Fprintf(env.Stderr, "geofence audit prove: %v\n", err)
		return ExitUsage
	}
	p, err := audit.Prove(ctx, srcs[0], keys, uint64(*entry))
	if err != nil {
		fmt.Fprintf(env.Stderr, "geofence audit prove: %v\n", err)
		return ExitFinding
	}
	if err := writeJSON(env.Stdout, p); err != nil {
		return ExitUsage
	}
	return ExitOK
}

func checkProof(env Env, path string, vkeyArgs []string) int {
	b, err := os.ReadFile(path)
	if err != nil {
		fmt.Fprintf(env.Stderr, "geofence audit prove: %v\n", err)
		return ExitUsage
	}
	var p audit.Proof
	if err := json.Unmarshal(b, &p); err != nil {
		fmt.Fprintf(env.Stderr, "geofence audit prove: %s: %v\n", path, err)
		return ExitUsage
	}
	var keys []string
	for _, v := range vkeyArgs {
		if b, err := os.ReadFile(v); err == nil {
			keys = append(keys, audit.ParseVKeys(b)...)
		} else {
			keys = append(keys, v)
		}
	}
	if len(keys) == 0 {
		fmt.Fprintf(env.Stderr, "geofence audit prove: --check needs the log's --vkey\n")
		return ExitUsage
	}
	if err := audit.CheckProof(&p, keys); err != nil {
		fmt.Fprintf(env.Stderr, "geofence audit prove: %v\n", err)
		return ExitFinding
	}
	fmt.Fprintf(env.Stdout, "entry %d is in %s at tree size %d\n", p.Index, p.Origin, p.TreeSize)
	return ExitOK
}

func runAuditReport(ctx context.Context, env Env, args []string) int {
	fs := newFlags(env, "audit report", "--log DIR|URL [--config FILE...] [--from DATE] [--to DATE] [--format md|html] [--out FILE]")
	log := fs.String("log", "", "the evidence logs: a folder (one log, or one per region) or a URL")
	var configs, vkeys listFlag
	fs.Var(&configs, "config", "configs to re-check the entries against (repeatable; without, only signatures and trees are checked)")
	fs.Var(&vkeys, "vkey", "a signed-note verifier key, or a file of them (repeatable; default: the vkeys published with the logs)")
	from := fs.String("from", "", "the first day covered, YYYY-MM-DD (UTC; default: the first entry)")
	to := fs.String("to", "", "the last day covered, YYYY-MM-DD (UTC, inclusive; default: the last entry)")
	format := fs.String("format", "md", "md (Markdown) or html (one page with SVG charts, viewable offline)")
	out := fs.String("out", "", "write the report to this file (default: stdout)")
	pos, err := parse(fs, args)
	if err != nil {
		return flagErr(err)
	}
	if len(pos) != 0 {
		return usageErr(env, fs, "want no arguments, got %q", pos)
	}
	if *log == "" {
		return usageErr(env, fs, "--log is required")
	}
	if *format != "md" && *format != "html" {
		return usageErr(env, fs, "--format %q: want md or html", *format)
	}
	var fromT, toT time.Time
	if *from != "" {
		if fromT, err = time.Parse(time.DateOnly, *from); err != nil {
			return usageErr(env, fs, "--from %q: want YYYY-MM-DD", *from)
		}
	}
	if *to != "" {
		if toT, err = time.Parse(time.DateOnly, *to); err != nil {
			return usageErr(env, fs, "--to %q: want YYYY-MM-DD", *to)
		}
		toT = toT.AddDate(0, 0, 1)
	}
	var cfgs map[string]*audit.Config
	for _, p := range configs {
		c, err := audit.LoadConfig(p)
		if err != nil {
			fmt.Fprintf(env.Stderr, "geofence audit report: %v\n", err)
			return ExitUsage
		}
		if cfgs == nil {
			cfgs = map[string]*audit.Config{}
		}
		cfgs[c.Digest] = c
	}
	srcs, keys, err := openLogs(ctx, env, "report", *log, vkeys)
	if err != nil {
		fmt.Fprintf(env.Stderr, "geofence audit report: %v\n", err)
		return ExitUsage
	}
	var results []*audit.Result
	for _, src := range srcs {
		res, err := audit.Verify(ctx, audit.VerifyOptions{Source: src, VKeys: keys, Configs: cfgs})
		if err != nil {
			fmt.Fprintf(env.Stderr, "geofence audit report: %v\n", err)
			return ExitUsage
		}
		for _, f := range res.Failures {
			if f.Entry < 0 {
				fmt.Fprintf(env.Stderr, "geofence audit report: WARNING: %s: %s\n", src, f)
			}
		}
		results = append(results, res)
	}
	rep := audit.Summarize(results, fromT, toT)
	w := env.Stdout
	if *out != "" {
		f, err := os.Create(*out)
		if err != nil {
			fmt.Fprintf(env.Stderr, "geofence audit report: %v\n", err)
			return ExitUsage
		}
		defer f.Close()
		w = f
	}
	if *format == "html" {
		err = rep.HTML(w)
	} else {
		err = rep.Markdown(w)
	}
	if err != nil {
		fmt.Fprintf(env.Stderr, "geofence audit report: %v\n", err)
		return ExitUsage
	}
	return ExitOK
}

// runAuditFind lists the entries of a meeting, or of one participant: what a participant
// (told its hash by the operator, who holds the key) needs to ask for the proof of its
// ticket.
func runAuditFind(ctx context.Context, env Env, args []string) int {
	fs := newFlags(env, "audit find", "--log DIR|URL --meeting ID [--account A --participant P --hash-key FILE] [--vkey FILE|KEY]...")
	log := fs.String("log", "", "the evidence logs: a folder (one log, or one per region) or a URL")
	meeting := fs.String("meeting", "", "the meeting's id (required)")
	account := fs.String("account", "", "the participant's account, with --participant")
	participant := fs.String("participant", "", "only this participant's entries (needs --account and --hash-key)")
	hashKey := fs.String("hash-key", "", "the operator's hash key file (keys/hash.key of the evidence folder)")
	var vkeys listFlag
	fs.Var(&vkeys, "vkey", "a signed-note verifier key, or a file of them (repeatable; default: the vkeys published with the logs)")
	pos, err := parse(fs, args)
	if err != nil {
		return flagErr(err)
	}
	if len(pos) != 0 {
		return usageErr(env, fs, "want no arguments, got %q", pos)
	}
	if *log == "" || *meeting == "" {
		return usageErr(env, fs, "--log and --meeting are required")
	}
	var want string
	if *participant != "" {
		if *account == "" || *hashKey == "" {
			return usageErr(env, fs, "--participant needs --account and --hash-key")
		}
		b, err := os.ReadFile(*hashKey)
		var key []byte
		if err == nil {
			key, err = base64.StdEncoding.DecodeString(strings.TrimSpace(string(b)))
		}
		var h *audit.Hasher
		if err == nil {
			h, err = audit.NewHasher(key)
		}
		if err != nil {
			fmt.Fprintf(env.Stderr, "geofence audit find: --hash-key: %v\n", err)
			return ExitUsage
		}
		want = h.Participant(*account, *participant)
	}
	srcs, keys, err := openLogs(ctx, env, "find", *log, vkeys)
	if err != nil {
		fmt.Fprintf(env.Stderr, "geofence audit find: %v\n", err)
		return ExitUsage
	}
	found := 0
	for _, src := range srcs {
		res, err := audit.Verify(ctx, audit.VerifyOptions{Source: src, VKeys: keys})
		if err != nil {
			fmt.Fprintf(env.Stderr, "geofence audit find: %v\n", err)
			return ExitUsage
		}
		if !res.OK {
			fmt.Fprintf(env.Stderr, "geofence audit find: WARNING: %s does not verify (run audit verify)\n", src)
		}
		for i, e := range res.Entries {
			if e == nil || e.Meeting != *meeting || want != "" && e.Participant != want {
				continue
			}
			found++
			fmt.Fprintf(env.Stdout, "%s entry %d: %s %s %s\n", src, i, e.Time, e.Kind, e.Participant)
		}
	}
	if found == 0 {
		fmt.Fprintf(env.Stderr, "geofence audit find: no entry of meeting %s\n", *meeting)
		return ExitFinding
	}
	return ExitOK
}
