package directoryhttp_test

import (
	"crypto/ed25519"
	"encoding/base64"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/geofence/geofence/identity"
	"github.com/geofence/geofence/internal/jws"
	"github.com/geofence/geofence/wire"
)

const operatorToken = "operator-token-0123456789-abcdefghijklmnop"

// authEnv is a production-like directory: loopback is not trusted, the operator has a token,
// and two API accounts (alpha, narrowed to na, and beta) each register a join-token key.
type authEnv struct {
	*env
	priv map[string]ed25519.PrivateKey // by account
}

func newAuthEnv(t *testing.T) *authEnv { t.Helper(); return newAuthEnvWith(t, nil) }

func newAuthEnvWith(t *testing.T, tweak func(*envConfig)) *authEnv {
	t.Helper()
	op, err := identity.NewOperator(operatorToken)
	if err != nil {
		t.Fatal(err)
	}
	e := newEnv(t, "../../examples/world.yaml", func(c *envConfig) {
		c.HTTP.TrustLoopback = false
		c.HTTP.Operator = op
		c.HTTP.Credentials = map[string]string{}
		if tweak != nil {
			tweak(c)
		}
	})
	a := &authEnv{env: e, priv: map[string]ed25519.PrivateKey{}}
	for _, acct := range []struct{ id, body string }{
		{"alpha", `{"plan":"enterprise","home_region":"na","data_regions":["na"],"keys":[{"kid":"k1","x":"%s"}]}`},
		{"beta", `{"plan":"pro","keys":[{"kid":"k1","x":"%s"}]}`},
	} {
		pub, priv, _ := ed25519.GenerateKey(nil)
		a.priv[acct.id] = priv
		body := strings.Replace(acct.body, "%s", base64.RawURLEncoding.EncodeToString(pub), 1)
		if st, _ := a.as(operatorToken, "PUT", "/v1/accounts/"+acct.id, "", body, nil); st != http.StatusCreated {
			t.Fatalf("create account %s: %d", acct.id, st)
		}
	}
	return a
}

// as sends a request with a bearer token ("" for none).
func (a *authEnv) as(token, method, path, clientIP string, body any, out any) (int, http.Header) {
	a.t.Helper()
	return a.doAuth(method, path, clientIP, token, body, out)
}

// token mints a join token of account signed with signer's key (another account's key when
// signer differs: a foreign credential).
func (a *authEnv) token(account, signer, participant, meeting string, host bool, iat time.Time, ttl time.Duration) string {
	a.t.Helper()
	if ttl > identity.MaxLifetime {
		// Mint refuses what Verify would; a hostile backend signs it by hand.
		hdr, err := jws.EncodeHeader(jws.Header{Alg: "EdDSA", Kid: "k1", Typ: wire.JoinTokenType})
		if err != nil {
			a.t.Fatal(err)
		}
		payload := fmt.Sprintf(`{"iss":%q,"sub":%q,"aud":"geofence","iat":%d,"exp":%d}`, account, participant, iat.Unix(), iat.Add(ttl).Unix())
		return jws.Sign(a.priv[signer], hdr, []byte(payload))
	}
	tok, err := identity.Mint(a.priv[signer], "k1", wire.JoinClaims{
		Account: account, Participant: participant, Audience: []string{wire.JoinAudience}, Meeting: meeting, Host: host,
		IssuedAt: iat, Expiry: iat.Add(ttl),
	})
	if err != nil {
		a.t.Fatal(err)
	}
	return tok
}

func (a *authEnv) reportAll() {
	a.t.Helper()
	for _, d := range a.model.DCs {
		if err := a.core.ReportLoad(d.ID, 0, true); err != nil {
			a.t.Fatal(err)
		}
	}
}

func TestOperatorEndpointsNeedTheOperatorToken(t *testing.T) {
	a := newAuthEnv(t)
	joinTok := a.token("alpha", "alpha", "p1", "", true, a.clock.Now(), time.Hour)
	endpoints := []struct{ method, path, body string }{
		{"GET", "/v1/accounts", ""},
		{"GET", "/v1/accounts/alpha", ""},
		{"PUT", "/v1/accounts/alpha", `{"plan":"enterprise","home_region":"na"}`},
		{"DELETE", "/v1/accounts/beta", ""},
		{"GET", "/v1/datacenters", ""},
		{"GET", "/v1/explain?country=US", ""},
		{"GET", "/metrics", ""},
	}
	for _, ep := range endpoints {
		for _, who := range []struct{ name, token string }{
			{"no credential", ""}, {"wrong token", "not-the-operator-token-but-long-enough-000"}, {"a join token", joinTok},
		} {
			t.Run(ep.method+" "+ep.path+" as "+who.name, func(t *testing.T) {
				var e wire.Error
				st, h := a.as(who.token, ep.method, ep.path, "", ep.body, &e)
				if st != http.StatusUnauthorized || e.Error != wire.CodeUnauthorized || e.Message == "" {
					t.Fatalf("got %d %+v, want 401 unauthorized with a message", st, e)
				}
				if h.Get("WWW-Authenticate") == "" {
					t.Error("401 without WWW-Authenticate")
				}
			})
		}
	}
	// The attack of the issue: overwriting an account without a credential must not drop its
	// narrowing. alpha is still narrowed to na.
	var acct wire.Account
	if st, _ := a.as(operatorToken, "GET", "/v1/accounts/alpha", "", nil, &acct); st != http.StatusOK || !slices.Equal(acct.DataRegions, []string{"na"}) {
		t.Fatalf("alpha after the attempts: %d %+v, want data_regions [na]", st, acct)
	}
	for _, ep := range endpoints {
		want := http.StatusOK
		switch ep.method {
		case "DELETE":
			want = http.StatusNoContent
		}
		if st, _ := a.as(operatorToken, ep.method, ep.path, "", ep.body, nil); st != want {
			t.Errorf("%s %s as the operator: %d, want %d", ep.method, ep.path, st, want)
		}
	}
}

func TestJoinTokens(t *testing.T) {
	a := newAuthEnv(t)
	a.reportAll()
	now := a.clock.Now()
	var mt wire.Meeting
	if st, _ := a.as(a.token("alpha", "alpha", "host1", "", true, now, time.Hour), "POST", "/v1/meetings", ipOf("US"), `{}`, &mt); st != http.StatusCreated {
		t.Fatalf("create meeting as alpha's host: %d", st)
	}
	if mt.HostAccount != "alpha" || mt.Region != "na" {
		t.Fatalf("meeting %+v, want hosted by alpha in na", mt)
	}
	other := wire.Meeting{}
	if st, _ := a.as(a.token("beta", "beta", "h", "", true, now, time.Hour), "POST", "/v1/meetings", ipOf("DE"), `{}`, &other); st != http.StatusCreated {
		t.Fatalf("create beta's meeting: %d", st)
	}

	tests := []struct {
		name      string
		token     string
		body      string
		wantCode  int
		wantError string
	}{
		{"no token", "", `{"account":"alpha"}`, 401, wire.CodeUnauthorized},
		{"expired", a.token("alpha", "alpha", "p1", "", false, now.Add(-2*time.Hour), time.Hour), `{}`, 401, wire.CodeUnauthorized},
		{"not yet issued", a.token("alpha", "alpha", "p1", "", false, now.Add(time.Hour), time.Hour), `{}`, 401, wire.CodeUnauthorized},
		{"lifetime over 24h", a.token("alpha", "alpha", "p1", "", false, now, 25*time.Hour), `{}`, 401, wire.CodeUnauthorized},
		{"foreign credential: beta's key claims alpha", a.token("alpha", "beta", "p1", "", false, now, time.Hour), `{}`, 401, wire.CodeUnauthorized},
		{"unknown account", a.token("nobody", "alpha", "p1", "", false, now, time.Hour), `{}`, 401, wire.CodeUnauthorized},
		{"tampered", tamper(a.token("alpha", "alpha", "p1", "", false, now, time.Hour)), `{}`, 401, wire.CodeUnauthorized},
		{"bound to another meeting", a.token("alpha", "alpha", "p1", other.ID, false, now, time.Hour), `{}`, 403, wire.CodeForbidden},
		{"bound to this meeting", a.token("alpha", "alpha", "p1", mt.ID, false, now, time.Hour), `{}`, 200, ""},
		{"body account ignored", a.token("alpha", "alpha", "p1", "", false, now, time.Hour), `{"account":"beta","participant":"mallory"}`, 200, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var ans joinAnswer
			st, _ := a.as(tt.token, "POST", "/v1/meetings/"+mt.ID+"/join", ipOf("US"), tt.body, &ans)
			if st != tt.wantCode || ans.Error != tt.wantError {
				t.Fatalf("got %d %q (%s), want %d %q", st, ans.Error, ans.Message, tt.wantCode, tt.wantError)
			}
			if st != 200 {
				if ans.Message == "" || ans.Token != "" {
					t.Errorf("refusal %+v: want a message and no ticket", ans)
				}
				return
			}
			c, err := a.env.keys.Verify(ans.Token)
			if err != nil {
				t.Fatal(err)
			}
			// The ticket carries the token's identity, never the body's.
			if c.Account != "alpha" || c.Participant != "p1" {
				t.Errorf("ticket for %s/%s, want alpha/p1", c.Account, c.Participant)
			}
			for _, d := range slices.Concat(c.Primary, c.Secondary, c.KMS) {
				if d.Country != "US" && d.Country != "CA" && d.Country != "MX" {
					t.Errorf("alpha is narrowed to na, got %s in %s", d.ID, d.Country)
				}
			}
		})
	}
}

func TestHostRight(t *testing.T) {
	a := newAuthEnv(t)
	a.reportAll()
	now := a.clock.Now()
	host := a.token("alpha", "alpha", "h", "", true, now, time.Hour)
	var mt wire.Meeting
	tests := []struct {
		name, token, body string
		want              int
	}{
		{"participant token without the host right", a.token("alpha", "alpha", "p", "", false, now, time.Hour), `{}`, 403},
		{"host token naming another account", host, `{"host_account":"beta"}`, 403},
		{"meeting-bound host token", a.token("alpha", "alpha", "h", "m1", true, now, time.Hour), `{}`, 403},
		{"no credential", "", `{"host_account":"alpha"}`, 401},
		{"host token", host, `{"host_account":"alpha"}`, 201},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st, _ := a.as(tt.token, "POST", "/v1/meetings", ipOf("US"), tt.body, &mt)
			if st != tt.want {
				t.Fatalf("create: %d, want %d", st, tt.want)
			}
		})
	}
	// Ending: only the host's account (or the operator).
	if st, _ := a.as(a.token("beta", "beta", "h", "", true, now, time.Hour), "DELETE", "/v1/meetings/"+mt.ID, "", nil, nil); st != http.StatusForbidden {
		t.Errorf("beta ends alpha's meeting: %d, want 403", st)
	}
	if st, _ := a.as("", "DELETE", "/v1/meetings/"+mt.ID, "", nil, nil); st != http.StatusUnauthorized {
		t.Errorf("anonymous end: %d, want 401", st)
	}
	if st, _ := a.as(host, "DELETE", "/v1/meetings/"+mt.ID, "", nil, nil); st != http.StatusNoContent {
		t.Fatalf("host ends its meeting: %d, want 204", st)
	}
	if st, _ := a.as(a.token("alpha", "alpha", "p", "", false, now, time.Hour), "POST", "/v1/meetings/"+mt.ID+"/join", ipOf("US"), `{}`, nil); st != http.StatusNotFound {
		t.Errorf("join after the end: %d, want 404", st)
	}
	// Refusals are counted by reason.
	body := a.metricsText()
	for _, want := range []string{`geofence_directory_auth_refusals_total{reason="not_host"} 1`, `geofence_directory_auth_refusals_total{reason="other_account"} 2`} {
		if !strings.Contains(body, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
}

func tamper(tok string) string {
	parts := strings.Split(tok, ".")
	p, _ := base64.RawURLEncoding.DecodeString(parts[1])
	p = []byte(strings.Replace(string(p), `"sub":"p1"`, `"sub":"p2"`, 1))
	parts[1] = base64.RawURLEncoding.EncodeToString(p)
	return strings.Join(parts, ".")
}
