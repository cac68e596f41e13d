package cli

import (
	"context"
	"crypto/ed25519"
	"errors"
	"flag"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/geofence/geofence/client"
	"github.com/geofence/geofence/identity"
)

const tokenSynopsis = "--key FILE --account A --participant P [--kid K] [--meeting M] [--host] [--ttl D]\n" +
	"       geofence token --new-key FILE [--kid K] [--account A]"

// runToken mints a join token with an account's private key, as the account's backend would
// (DESIGN.md section 10), or with --new-key makes such a key and prints its public half as
// the config line that registers it.
func runToken(ctx context.Context, env Env, args []string) int {
	fs := newFlags(env, "token", tokenSynopsis)
	keyFile := fs.String("key", "", "the account's private key: a PEM \"PRIVATE KEY\" file (PKCS #8 Ed25519)")
	newKey := fs.String("new-key", "", "write a new private key to this file (mode 0600, never overwritten) and print the line that registers it")
	account := fs.String("account", "", "the account id (iss)")
	participant := fs.String("participant", "", "the participant id (sub)")
	kid := fs.String("kid", "", "the key's id in the account's keys (default: the key's RFC 7638 thumbprint)")
	meeting := fs.String("meeting", "", "the only meeting the token may join (default: any)")
	host := fs.Bool("host", false, "the participant may create and end the account's meetings")
	ttl := fs.Duration("ttl", client.DefaultJoinTokenTTL, "how long the token is valid, at most 24h")
	pos, err := parse(fs, args)
	if err != nil {
		return flagErr(err)
	}
	if len(pos) > 0 {
		return usageErr(env, fs, "unexpected argument %q", pos[0])
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	if *kid != "" && !identity.ValidID(*kid) {
		return usageErr(env, fs, "--kid %q is not an id: want 1 to 128 of A-Z a-z 0-9 . _ -", *kid)
	}
	if *account != "" && !identity.ValidID(*account) {
		return usageErr(env, fs, "--account %q is not an id: want 1 to 128 of A-Z a-z 0-9 . _ -", *account)
	}

	if set["new-key"] {
		for _, f := range []string{"key", "participant", "meeting", "host", "ttl"} {
			if set[f] {
				return usageErr(env, fs, "--new-key makes a key and mints no token: drop --%s", f)
			}
		}
		if *newKey == "" {
			return usageErr(env, fs, "--new-key needs a file name")
		}
		return writeNewKey(env, *newKey, *kid, *account)
	}

	switch {
	case *keyFile == "":
		return usageErr(env, fs, "--key is required (or --new-key, to make one)")
	case *account == "":
		return usageErr(env, fs, "--account is required")
	case *participant == "":
		return usageErr(env, fs, "--participant is required")
	case *ttl < time.Second:
		return usageErr(env, fs, "--ttl %v is under 1s", *ttl)
	case *ttl > identity.MaxLifetime:
		return usageErr(env, fs, "--ttl %v is over the maximum 24h: a join token lives at most a day", *ttl)
	}
	data, err := os.ReadFile(*keyFile)
	if err != nil {
		fmt.Fprintf(env.Stderr, "geofence token: read key: %v\n", err)
		return ExitUsage
	}
	priv, err := identity.ParsePrivateKey(data)
	clear(data)
	if err != nil {
		fmt.Fprintf(env.Stderr, "geofence token: %s: %v\n", *keyFile, err)
		return ExitUsage
	}
	if *kid == "" {
		*kid = identity.Thumbprint(priv.Public().(ed25519.PublicKey))
	}
	tok, err := client.MintJoinToken(priv, *kid, *account, *participant, client.JoinTokenOptions{
		Meeting: *meeting, Host: *host, TTL: *ttl,
	})
	if err != nil {
		fmt.Fprintf(env.Stderr, "geofence token: %v\n", err)
		return ExitUsage
	}
	fmt.Fprintln(env.Stdout, tok)
	return ExitOK
}

// writeNewKey writes a fresh Ed25519 key to path, which must not exist, and prints the
// config line that registers its public half.
func writeNewKey(env Env, path, kid, account string) int {
	pub, priv, err := ed25519.GenerateKey(nil)
	if err != nil {
		fmt.Fprintf(env.Stderr, "geofence token: generate key: %v\n", err)
		return ExitFinding
	}
	pemBytes, err := identity.EncodePrivateKey(priv)
	if err != nil {
		fmt.Fprintf(env.Stderr, "geofence token: %v\n", err)
		return ExitFinding
	}
	// O_EXCL: an existing key is someone's registered key; overwriting it would lock its
	// backend out, and a symlink planted at path is not followed.
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, os.ErrExist) {
		fmt.Fprintf(env.Stderr, "geofence token: %s exists: refusing to overwrite a key; remove it or choose another file\n", path)
		return ExitFinding
	}
	if err != nil {
		fmt.Fprintf(env.Stderr, "geofence token: write key: %v\n", err)
		return ExitUsage
	}
	_, err = f.Write(pemBytes)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(path)
		fmt.Fprintf(env.Stderr, "geofence token: write key: %v\n", err)
		return ExitFinding
	}
	if kid == "" {
		kid = identity.Thumbprint(pub)
	}
	fmt.Fprintf(env.Stdout, "{kid: %s, x: %q}\n", yamlScalar(kid), identity.EncodePublicKey(pub))
	where, acct := "under the account's keys", "A"
	if account != "" {
		where, acct = "under accounts."+account+".keys", account
	}
	fmt.Fprintf(env.Stderr, "geofence token: wrote the private key to %s; keep it on the account's backend only.\n"+
		"Register its public key: add the line above %s in the config, or to the account's keys\n"+
		"through the operator API. Then mint tokens with:\n"+
		"  geofence token --key %s --kid %s --account %s --participant P\n", path, where, path, kid, acct)
	return ExitOK
}

// yamlScalar returns s as a YAML flow scalar that reads back as the string s: plain when it
// is an id YAML would not take for a number, a boolean or null, quoted otherwise.
func yamlScalar(s string) string {
	lower := strings.ToLower(s)
	switch lower {
	case "true", "false", "yes", "no", "on", "off", "y", "n", "null", "~", ".inf", "-.inf", "+.inf", ".nan":
		return strconv.Quote(s)
	}
	if _, err := strconv.ParseFloat(s, 64); err == nil {
		return strconv.Quote(s)
	}
	if _, err := strconv.ParseInt(s, 0, 64); err == nil {
		return strconv.Quote(s)
	}
	// A leading digit may make a date or a sexagesimal number; a leading - or . an
	// indicator or .inf: quote them rather than know every YAML 1.1 and 1.2 rule.
	if s == "" || strings.ContainsAny(s[:1], "-.0123456789") || strings.ContainsAny(s, " :#,[]{}'\"") {
		return strconv.Quote(s)
	}
	return s
}
