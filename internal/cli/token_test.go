package cli_test

import (
	"crypto/ed25519"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/geofence/geofence/identity"
	"github.com/geofence/geofence/internal/cli"
)

// registered is the config line --new-key prints, read as the config reads it.
type registered struct {
	KID string `yaml:"kid"`
	X   string `yaml:"x"`
}

func readKeyLine(t *testing.T, stdout string) (string, ed25519.PublicKey) {
	t.Helper()
	if strings.Count(stdout, "\n") != 1 || !strings.HasPrefix(stdout, "{kid: ") {
		t.Fatalf("got stdout %q, want one line {kid: K, x: \"...\"}", stdout)
	}
	var r registered
	if err := yaml.Unmarshal([]byte(stdout), &r); err != nil {
		t.Fatalf("the line %q is not YAML: %v", stdout, err)
	}
	pub, err := identity.ParsePublicKey(r.X)
	if err != nil {
		t.Fatal(err)
	}
	return r.KID, pub
}

func verifier(account, kid string, pub ed25519.PublicKey) *identity.Verifier {
	return &identity.Verifier{Keys: identity.KeysFunc(func(a, k string) (ed25519.PublicKey, error) {
		if a != account {
			return nil, identity.ErrUnknownAccount
		}
		if k != kid {
			return nil, identity.ErrUnknownKey
		}
		return pub, nil
	})}
}

func TestTokenNewKeyThenMint(t *testing.T) {
	dir := t.TempDir()
	keyFile := filepath.Join(dir, "acme.pem")
	code, stdout, stderr := run("token", "--new-key", keyFile, "--kid", "acme-2026", "--account", "acme")
	if code != cli.ExitOK {
		t.Fatalf("--new-key: got exit status %d, want 0\n%s", code, stderr)
	}
	kid, pub := readKeyLine(t, stdout)
	if kid != "acme-2026" || !strings.HasPrefix(stdout, "{kid: acme-2026, x: \"") {
		t.Errorf("got %q, want {kid: acme-2026, x: ...}", stdout)
	}
	if !strings.Contains(stderr, "under accounts.acme.keys") {
		t.Errorf("got stderr %q, want it to say where the line goes", stderr)
	}
	fi, err := os.Stat(keyFile)
	if err != nil {
		t.Fatal(err)
	}
	if mode := fi.Mode().Perm(); mode&0o077 != 0 {
		t.Errorf("got key file mode %v, want 0600 or narrower", mode)
	}
	data, err := os.ReadFile(keyFile)
	if err != nil {
		t.Fatal(err)
	}
	priv, err := identity.ParsePrivateKey(data)
	if err != nil {
		t.Fatal(err)
	}
	if !priv.Public().(ed25519.PublicKey).Equal(pub) {
		t.Fatal("the printed x is not the public half of the written key")
	}

	tests := []struct {
		name string
		args []string
		want identity.Identity // Expiry checked apart
		ttl  time.Duration
	}{
		{"defaults", []string{"--account", "acme", "--participant", "alice"},
			identity.Identity{Account: "acme", Participant: "alice", KID: "acme-2026"}, time.Hour},
		{"meeting, host, ttl", []string{"--account", "acme", "--participant", "bob", "--meeting", "m-42", "--host", "--ttl", "10m"},
			identity.Identity{Account: "acme", Participant: "bob", Meeting: "m-42", Host: true, KID: "acme-2026"}, 10 * time.Minute},
		{"a whole day", []string{"--account", "acme", "--participant", "carol", "--ttl", "24h"},
			identity.Identity{Account: "acme", Participant: "carol", KID: "acme-2026"}, 24 * time.Hour},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := time.Now().Truncate(time.Second)
			code, stdout, stderr := run(append([]string{"token", "--key", keyFile, "--kid", "acme-2026"}, tt.args...)...)
			if code != cli.ExitOK || stderr != "" {
				t.Fatalf("got exit status %d, stderr %q; want 0 and nothing", code, stderr)
			}
			tok, ok := strings.CutSuffix(stdout, "\n")
			if !ok || strings.Contains(tok, "\n") {
				t.Fatalf("got stdout %q, want one token on one line", stdout)
			}
			id, err := verifier("acme", "acme-2026", pub).Verify(tok)
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			if exp := id.Expiry.Sub(before); exp < tt.ttl || exp > tt.ttl+2*time.Second {
				t.Errorf("got expiry %v after the call, want %v", exp, tt.ttl)
			}
			id.Expiry = time.Time{}
			if id != tt.want {
				t.Errorf("got %+v, want %+v", id, tt.want)
			}
		})
	}

	// Another account's key is a foreign credential: the directory refuses it.
	code, stdout, _ = run("token", "--key", keyFile, "--kid", "acme-2026", "--account", "globex", "--participant", "eve")
	if code != cli.ExitOK {
		t.Fatal(code)
	}
	if _, err := verifier("globex", "acme-2026", make(ed25519.PublicKey, 32)).Verify(strings.TrimSpace(stdout)); err == nil {
		t.Error("a token signed with acme's key verified for globex")
	}
}

func TestTokenDefaultKID(t *testing.T) {
	keyFile := filepath.Join(t.TempDir(), "k.pem")
	code, stdout, stderr := run("token", "--new-key", keyFile)
	if code != cli.ExitOK {
		t.Fatalf("got exit status %d\n%s", code, stderr)
	}
	kid, pub := readKeyLine(t, stdout)
	if kid != identity.Thumbprint(pub) {
		t.Errorf("got kid %q, want the key's thumbprint %q", kid, identity.Thumbprint(pub))
	}
	if !strings.Contains(stderr, "under the account's keys") {
		t.Errorf("got stderr %q", stderr)
	}
	code, stdout, stderr = run("token", "--key", keyFile, "--account", "acme", "--participant", "alice")
	if code != cli.ExitOK {
		t.Fatalf("got exit status %d\n%s", code, stderr)
	}
	if _, err := verifier("acme", kid, pub).Verify(strings.TrimSpace(stdout)); err != nil {
		t.Errorf("a token minted without --kid does not verify under the thumbprint kid: %v", err)
	}
}

// TestTokenKIDsReadBackAsYAML: kids that YAML would read as a number, a boolean or a date are
// quoted, so that the line pasted into the config registers the kid given.
func TestTokenKIDsReadBackAsYAML(t *testing.T) {
	dir := t.TempDir()
	for i, kid := range []string{"acme-2026", "2026", "true", "NO", "null", "1e3", "0x1f", "2026-03-14", "-k", ".inf", "k.1_2"} {
		t.Run(kid, func(t *testing.T) {
			code, stdout, stderr := run("token", "--new-key", filepath.Join(dir, strings.Repeat("k", i+1)), "--kid", kid)
			if code != cli.ExitOK {
				t.Fatalf("got exit status %d\n%s", code, stderr)
			}
			if got, _ := readKeyLine(t, stdout); got != kid {
				t.Errorf("the line %q reads back as kid %q, want %q", stdout, got, kid)
			}
		})
	}
}

func TestTokenNewKeyRefusesToOverwrite(t *testing.T) {
	dir := t.TempDir()
	keyFile := filepath.Join(dir, "acme.pem")
	if err := os.WriteFile(keyFile, []byte("someone's key\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "link.pem")
	if err := os.Symlink(filepath.Join(dir, "elsewhere.pem"), link); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name      string
		path      string
		wantCode  int
		wantFirst string
	}{
		{"existing file", keyFile, cli.ExitFinding, "geofence token: " + keyFile + " exists: refusing to overwrite a key; remove it or choose another file"},
		{"dangling symlink", link, cli.ExitFinding, "geofence token: " + link + " exists: refusing to overwrite a key"},
		{"no such directory", filepath.Join(dir, "no", "k.pem"), cli.ExitUsage, "geofence token: write key: open " + filepath.Join(dir, "no", "k.pem") + ": no such file or directory"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, stdout, stderr := run("token", "--new-key", tt.path)
			if code != tt.wantCode {
				t.Errorf("got exit status %d, want %d", code, tt.wantCode)
			}
			if stdout != "" {
				t.Errorf("got stdout %q, want nothing", stdout)
			}
			if first, _, _ := strings.Cut(stderr, "\n"); !strings.HasPrefix(first, tt.wantFirst) {
				t.Errorf("got stderr %q, want it to start with %q", first, tt.wantFirst)
			}
		})
	}
	if b, _ := os.ReadFile(keyFile); string(b) != "someone's key\n" {
		t.Errorf("the existing key was changed: %q", b)
	}
	if _, err := os.Lstat(filepath.Join(dir, "elsewhere.pem")); err == nil {
		t.Error("the symlink was followed")
	}
}

func TestTokenUsageErrors(t *testing.T) {
	dir := t.TempDir()
	keyFile := filepath.Join(dir, "acme.pem")
	if code, _, stderr := run("token", "--new-key", keyFile, "--kid", "acme-2026"); code != cli.ExitOK {
		t.Fatal(stderr)
	}
	pubFile := filepath.Join(dir, "pub.pem")
	if err := os.WriteFile(pubFile, []byte("-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VwAyEAGb9ECWmEzf6FQbrBZ9w7lshQhqowtrbLDFw4rXAxZuE=\n-----END PUBLIC KEY-----\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	mint := []string{"token", "--key", keyFile, "--kid", "acme-2026", "--account", "acme", "--participant", "alice"}
	tests := []struct {
		name      string
		args      []string
		wantCode  int
		wantFirst string
		wantUsage bool
	}{
		{"help", []string{"token", "-h"}, cli.ExitOK, "usage: geofence token --key FILE --account A --participant P [--kid K] [--meeting M] [--host] [--ttl D]", true},
		{"ttl over a day", append(mint, "--ttl", "25h"), cli.ExitUsage, "geofence token: --ttl 25h0m0s is over the maximum 24h: a join token lives at most a day", true},
		{"ttl zero", append(mint, "--ttl", "0"), cli.ExitUsage, "geofence token: --ttl 0s is under 1s", true},
		{"ttl negative", append(mint, "--ttl", "-1h"), cli.ExitUsage, "geofence token: --ttl -1h0m0s is under 1s", true},
		{"ttl not a duration", append(mint, "--ttl", "1 day"), cli.ExitUsage, `invalid value "1 day" for flag -ttl: parse error`, true},
		{"no key", []string{"token", "--account", "acme", "--participant", "alice"}, cli.ExitUsage, "geofence token: --key is required (or --new-key, to make one)", true},
		{"no account", []string{"token", "--key", keyFile, "--participant", "alice"}, cli.ExitUsage, "geofence token: --account is required", true},
		{"no participant", []string{"token", "--key", keyFile, "--account", "acme"}, cli.ExitUsage, "geofence token: --participant is required", true},
		{"account not an id", []string{"token", "--key", keyFile, "--account", "acme corp", "--participant", "alice"}, cli.ExitUsage, `geofence token: --account "acme corp" is not an id: want 1 to 128 of A-Z a-z 0-9 . _ -`, true},
		{"participant not an id", []string{"token", "--key", keyFile, "--account", "acme", "--participant", "alice@acme"}, cli.ExitUsage, `geofence token: mint join token: sub "alice@acme" is not an id`, false},
		{"meeting not an id", append(mint, "--meeting", "m/1"), cli.ExitUsage, `geofence token: mint join token: meeting "m/1" is not an id`, false},
		{"kid not an id", []string{"token", "--new-key", filepath.Join(dir, "x.pem"), "--kid", "k 1"}, cli.ExitUsage, `geofence token: --kid "k 1" is not an id`, true},
		{"positional argument", append(mint, "extra"), cli.ExitUsage, `geofence token: unexpected argument "extra"`, true},
		{"new key with a participant", []string{"token", "--new-key", filepath.Join(dir, "y.pem"), "--participant", "alice"}, cli.ExitUsage, "geofence token: --new-key makes a key and mints no token: drop --participant", true},
		{"new key with key", []string{"token", "--new-key", filepath.Join(dir, "y.pem"), "--key", keyFile}, cli.ExitUsage, "geofence token: --new-key makes a key and mints no token: drop --key", true},
		{"new key without a name", []string{"token", "--new-key", ""}, cli.ExitUsage, "geofence token: --new-key needs a file name", true},
		{"key file missing", []string{"token", "--key", filepath.Join(dir, "none.pem"), "--account", "acme", "--participant", "alice"}, cli.ExitUsage, "geofence token: read key: open " + filepath.Join(dir, "none.pem") + ": no such file or directory", false},
		{"key file is a public key", []string{"token", "--key", pubFile, "--account", "acme", "--participant", "alice"}, cli.ExitUsage, "geofence token: " + pubFile + `: parse private key: the PEM block is "PUBLIC KEY", want "PRIVATE KEY" (PKCS #8 Ed25519)`, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, stdout, stderr := run(tt.args...)
			if code != tt.wantCode {
				t.Errorf("got exit status %d, want %d\nstderr:\n%s", code, tt.wantCode, stderr)
			}
			if stdout != "" {
				t.Errorf("got stdout %q, want nothing", stdout)
			}
			first, rest, _ := strings.Cut(stderr, "\n")
			if !strings.HasPrefix(first, tt.wantFirst) {
				t.Errorf("got first line of stderr %q, want %q", first, tt.wantFirst)
			}
			usage := "usage: geofence token "
			if gotUsage := strings.HasPrefix(first, usage) || strings.HasPrefix(rest, usage); gotUsage != tt.wantUsage {
				t.Errorf("got usage %v, want %v; stderr:\n%s", gotUsage, tt.wantUsage, stderr)
			}
		})
	}
}

func TestTokenIsACommand(t *testing.T) {
	code, stdout, _ := run("help")
	if code != cli.ExitOK || !strings.Contains(stdout, "\n  token ") {
		t.Errorf("got %q, want the usage to list token", stdout)
	}
}
