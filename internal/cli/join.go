package cli

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/netip"
	"time"

	"github.com/geofence/geofence/client"
	"github.com/geofence/geofence/crypto/keywrap"
)

// joinOutput is what `geofence join --json` prints (DESIGN.md section 6). Error is set when
// no datacenter was reached.
type joinOutput struct {
	Datacenter string          `json:"datacenter"`
	List       string          `json:"list"`
	ElapsedMS  float64         `json:"elapsed_ms"`
	Attempts   []attemptOutput `json:"attempts"`
	Error      string          `json:"error,omitempty"`
	// Key is the managed meeting's key as the client obtained it (never the key itself).
	Key *keyOutput `json:"key,omitempty"`
}

type keyOutput struct {
	KMS      string          `json:"kms,omitempty"`
	Country  string          `json:"country,omitempty"`
	Epoch    uint64          `json:"epoch,omitempty"`
	Suite    string          `json:"suite"`
	Attempts []attemptOutput `json:"attempts"`
	Error    string          `json:"error,omitempty"`
}

type attemptOutput struct {
	Datacenter string  `json:"datacenter"`
	List       string  `json:"list"`
	Outcome    string  `json:"outcome"`
	ElapsedMS  float64 `json:"elapsed_ms"`
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func runJoin(ctx context.Context, env Env, args []string) int {
	fs := newFlags(env, "join", "--directory URL --meeting ID (--token JWT | --account A [--participant NAME]) [--client-ip IP] [--pin-deny CC,...] [--json]")
	directory := fs.String("directory", "", "the directory's base URL, required (https, or http to a loopback address)")
	meeting := fs.String("meeting", "", "the meeting to join, required")
	account := fs.String("account", "", "the participant's account, required")
	participant := fs.String("participant", "", "the participant's id (default: a random one)")
	token := fs.String("token", "", "a join token minted by the account's backend (geofence token): it names the account and participant; required by a production directory")
	clientIP := fs.String("client-ip", "", "the address to join from, sent as X-Forwarded-For (geofence dev trusts it from loopback)")
	var pinDeny listFlag
	fs.Var(&pinDeny, "pin-deny", "countries never to connect to, whatever the ticket says, comma-separated")
	publicKey := fs.String("public-key", "", "the participant's HPKE public key, carried in the ticket (default: a new one, and the meeting key is fetched)")
	hybrid := fs.Bool("hybrid", false, "make the new HPKE key ML-KEM-768+X25519 (post-quantum hybrid) instead of X25519")
	noKey := fs.Bool("no-key", false, "do not fetch the meeting key from the ticket's key servers")
	stagger := fs.Duration("stagger", client.DefaultStagger, "delay before trying the next primary beside a pending one")
	attemptTimeout := fs.Duration("attempt-timeout", client.DefaultAttemptTimeout, "how long one connection attempt may take")
	timeout := fs.Duration("timeout", 30*time.Second, "how long the whole join may take")
	hold := fs.Duration("hold", 0, "stay connected this long (or until interrupted), sending heartbeats, before disconnecting")
	asJSON := fs.Bool("json", false, "print the outcome as JSON")
	pos, err := parse(fs, args)
	if err != nil {
		return flagErr(err)
	}
	if len(pos) != 0 {
		return usageErr(env, fs, "unexpected arguments %q", pos)
	}
	for _, req := range []struct{ name, value string }{{"directory", *directory}, {"meeting", *meeting}} {
		if req.value == "" {
			return usageErr(env, fs, "--%s is required", req.name)
		}
	}
	switch {
	case *token == "" && *account == "":
		return usageErr(env, fs, "--account is required (or --token, which names the account)")
	case *token != "" && (*account != "" || *participant != ""):
		return usageErr(env, fs, "--token names the account and participant: leave out --account and --participant")
	}
	if *clientIP != "" {
		if _, err := netip.ParseAddr(*clientIP); err != nil {
			return usageErr(env, fs, "--client-ip: %q is not an IP address", *clientIP)
		}
	}
	if *stagger <= 0 || *attemptTimeout <= 0 || *timeout <= 0 || *hold < 0 {
		return usageErr(env, fs, "--stagger, --attempt-timeout and --timeout must be positive, --hold not negative")
	}
	if *participant == "" && *token == "" {
		var b [6]byte
		rand.Read(b[:])
		*participant = "p-" + hex.EncodeToString(b[:])
	}
	c, err := client.New(client.Config{
		Directory: *directory, PinDeny: pinDeny, ClientIP: *clientIP,
		Stagger: *stagger, AttemptTimeout: *attemptTimeout,
	})
	if err != nil {
		return usageErr(env, fs, "%v", err)
	}
	defer c.CloseIdleConnections()

	// A participant of a managed meeting gets its key from a key server, wrapped to an HPKE key
	// made here for this join; a key given with --public-key is someone else's to unwrap with.
	var priv keywrap.PrivateKey
	if *publicKey == "" && !*noKey {
		suite := keywrap.X25519
		if *hybrid {
			suite = keywrap.MLKEM768X25519
		}
		if priv, err = keywrap.GenerateKey(suite); err != nil {
			fmt.Fprintf(env.Stderr, "geofence join: %v\n", err)
			return ExitFinding
		}
		*publicKey = priv.PublicKey().String()
	}
	jctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	var res *client.Result
	if *token != "" {
		res, err = c.JoinWithToken(jctx, *meeting, *token, *publicKey)
	} else {
		res, err = c.Join(jctx, *meeting, *account, *participant, *publicKey)
	}
	var ref *client.Refusal
	if errors.As(err, &ref) {
		if *asJSON {
			writeJSON(env.Stdout, struct {
				Error      string   `json:"error"`
				Status     int      `json:"status"`
				Message    string   `json:"message"`
				Rules      []string `json:"rules,omitempty"`
				RetryAfter float64  `json:"retry_after,omitempty"`
			}{ref.Code, ref.Status, ref.Message, ref.Rules, ref.RetryAfter.Seconds()})
		}
		fmt.Fprintf(env.Stderr, "geofence join: %v\n", ref)
		return ExitFinding
	}
	if res == nil { // the ticket did not verify, or the directory could not be asked
		fmt.Fprintf(env.Stderr, "geofence join: %v\n", err)
		return ExitFinding
	}

	out := joinOutput{Datacenter: res.Datacenter, List: res.List, ElapsedMS: ms(res.Elapsed), Attempts: []attemptOutput{}}
	for _, a := range res.Attempts {
		out.Attempts = append(out.Attempts, attemptOutput{Datacenter: a.Datacenter, List: a.List, Outcome: a.Outcome, ElapsedMS: ms(a.Elapsed)})
	}
	if err != nil {
		out.Error = err.Error()
	}
	connErr := err
	if err == nil && !priv.IsZero() && res.Claims.Mode == "managed" {
		mk, kerr := c.FetchKey(jctx, res, priv)
		ko := &keyOutput{Suite: priv.Suite().String(), Attempts: []attemptOutput{}}
		for _, a := range mk.Attempts {
			ko.Attempts = append(ko.Attempts, attemptOutput{Datacenter: a.Datacenter, List: a.List, Outcome: a.Outcome, ElapsedMS: ms(a.Elapsed)})
		}
		if kerr != nil {
			ko.Error = kerr.Error()
			err = kerr
			out.Error = kerr.Error()
		} else {
			ko.KMS, ko.Country, ko.Epoch = mk.KMS, mk.Country, mk.Key.Epoch()
		}
		out.Key = ko
	}
	if *asJSON {
		writeJSON(env.Stdout, out)
	} else {
		writeJoinText(env, res, connErr)
		if out.Key != nil && out.Key.Error == "" {
			fmt.Fprintf(env.Stdout, "meeting key: epoch %d from key server %s (%s), wrapped to this client's %s key\n", out.Key.Epoch, out.Key.KMS, out.Key.Country, out.Key.Suite)
		}
	}
	// Leave, so that the datacenter drops the participant now rather than after its session
	// TTL.
	leave := func() {
		if res.Session == "" {
			return
		}
		dctx, dcancel := context.WithTimeout(context.WithoutCancel(ctx), *attemptTimeout)
		defer dcancel()
		if err := c.Disconnect(dctx, res); err != nil {
			fmt.Fprintf(env.Stderr, "geofence join: warning: %v\n", err)
		}
	}
	if err != nil {
		if !*asJSON {
			fmt.Fprintf(env.Stderr, "geofence join: %v\n", err)
		}
		leave() // connected, but no key
		return ExitFinding
	}

	code := ExitOK
	if *hold > 0 {
		// The client's heartbeats keep the session while it is held, however long.
		fmt.Fprintf(env.Stderr, "geofence join: holding the session at %s for %v (interrupt to leave)\n", res.Datacenter, *hold)
		t := time.NewTimer(*hold)
		select {
		case <-ctx.Done():
		case <-t.C:
		case <-res.Done():
			fmt.Fprintf(env.Stderr, "geofence join: the session at %s ended: %v\n", res.Datacenter, res.Err())
			code = ExitFinding
		}
		t.Stop()
	}
	leave()
	return code
}

func writeJoinText(env Env, res *client.Result, err error) {
	if err == nil {
		fmt.Fprintf(env.Stdout, "connected to %s (%s) in %.1f ms\n", res.Datacenter, res.List, ms(res.Elapsed))
	} else {
		fmt.Fprintf(env.Stdout, "no datacenter reached\n")
	}
	for _, a := range res.Attempts {
		line := fmt.Sprintf("  %-14s %-9s %-2s %-9s %8.1f ms", a.Datacenter, a.List, a.Country, a.Outcome, ms(a.Elapsed))
		if a.Err != nil && a.Outcome != client.OutcomeConnected {
			line += "  " + a.Err.Error()
		}
		fmt.Fprintln(env.Stdout, line)
	}
}
