package wire

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"
)

var t0 = time.Date(2026, 3, 14, 9, 26, 53, 0, time.UTC)

func testClaims() Claims {
	return Claims{
		Meeting: "m-42", Participant: "p-7", Account: "acme", Mode: ModeManaged,
		Region: "north-america", Home: "yyz1", HomeCountry: "CA", Revision: 7,
		Primary: []DC{
			{ID: "yyz1", Country: "CA", Endpoint: "wss://yyz1.media.geofence.test"},
			{ID: "ord1", Country: "US", Endpoint: "wss://ord1.media.geofence.test"},
		},
		Secondary: []DC{{ID: "iad1", Country: "US", Endpoint: "wss://iad1.media.geofence.test"}},
		KMS:       []DC{{ID: "yyz1", Country: "CA"}, {ID: "iad1", Country: "US"}},
		Context: Context{
			ParticipantCountry: "CA", ParticipantRegion: "north-america", ParticipantPlan: "enterprise",
			MeetingRegion: "north-america", HostAccount: "acme", HostPlan: "enterprise",
			HostDataRegions: []string{"north-america"},
		},
		PublicKey: "hpke-x25519:8rnQKqXwLh1Zb5VfCwbYhlE2M3hRpfGrCKUNq9g7tBk",
		Issuer:    "https://directory.geofence.test", Audience: []string{"yyz1"},
		IssuedAt: t0, NotBefore: t0, Expiry: t0.Add(5 * time.Minute), ID: "AAECAwQFBgcICQoLDA0ODw",
	}
}

// reflectJSON is the encoding AppendJSON replaces: encoding/json on the method-less fields.
func reflectJSON(t testing.TB, c Claims) []byte {
	t.Helper()
	b, err := json.Marshal(claimsJSON{
		claimsFields: claimsFields(c),
		IssuedAt:     numericDate(c.IssuedAt),
		NotBefore:    numericDate(c.NotBefore),
		Expiry:       numericDate(c.Expiry),
	})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestClaimsJSONMatchesReflection(t *testing.T) {
	tests := []struct {
		name string
		edit func(*Claims)
	}{
		{"full", func(*Claims) {}},
		{"zero", func(c *Claims) { *c = Claims{} }},
		{"nil primary", func(c *Claims) { c.Primary = nil }},
		{"empty primary", func(c *Claims) { c.Primary = []DC{} }},
		{"empty secondary and kms", func(c *Claims) { c.Secondary, c.KMS = []DC{}, nil }},
		{"no narrowing", func(c *Claims) { c.Context.HostDataRegions = nil }},
		{"narrowing to nothing", func(c *Claims) { c.Context.HostDataRegions = []string{} }},
		{"no optional members", func(c *Claims) {
			c.HomeCountry, c.Revision, c.PublicKey, c.Audience = "", 0, "", nil
			c.Primary[0].Endpoint = ""
		}},
		{"negative revision", func(c *Claims) { c.Revision = -1 }},
		{"epoch and pre-epoch times", func(c *Claims) {
			c.IssuedAt, c.NotBefore, c.Expiry = time.Unix(0, 0), time.Unix(-5, 0), time.Unix(1<<40, 999)
		}},
		{"html and quotes", func(c *Claims) { c.Meeting = `<script>"a"&'b'\</script>` }},
		{"control characters", func(c *Claims) { c.Participant = "\x00\x01\b\f\n\r\t\x1f\x7f" }},
		{"line separators", func(c *Claims) { c.Context.HostPlan = "a\u2028b\u2029c" }},
		{"invalid utf-8", func(c *Claims) { c.Primary[1].ID = "a\xffb\xc3" }},
		{"multi-byte utf-8", func(c *Claims) { c.Home = "東京-1 🌍 ü" }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := testClaims()
			tt.edit(&c)
			want := reflectJSON(t, c)
			got := c.AppendJSON(nil).JSON
			if !bytes.Equal(got, want) {
				t.Errorf("got\n%s\nwant\n%s", got, want)
			}
			viaMarshal, err := json.Marshal(c)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(viaMarshal, want) {
				t.Errorf("json.Marshal: got\n%s\nwant\n%s", viaMarshal, want)
			}
		})
	}
}

func TestEncodedClaimsList(t *testing.T) {
	c := testClaims()
	c.KMS = nil
	prefix := []byte("prefix")
	e := c.AppendJSON(prefix)
	if !bytes.Equal(e.JSON, reflectJSON(t, c)) {
		t.Fatalf("JSON after a prefix: got %s", e.JSON)
	}
	tests := []struct {
		list string
		want string
	}{
		{ListPrimary, `[{"id":"yyz1","country":"CA","endpoint":"wss://yyz1.media.geofence.test"},{"id":"ord1","country":"US","endpoint":"wss://ord1.media.geofence.test"}]`},
		{ListSecondary, `[{"id":"iad1","country":"US","endpoint":"wss://iad1.media.geofence.test"}]`},
		{ListKMS, `[]`},
		{"other", ``},
	}
	for _, tt := range tests {
		t.Run(tt.list, func(t *testing.T) {
			if got := string(e.List(tt.list)); got != tt.want {
				t.Errorf("got %s, want %s", got, tt.want)
			}
		})
	}
	// A list's bytes are a capped view: appending to one never writes into the claims.
	_ = append(e.List(ListPrimary), 'x')
	if !bytes.Equal(e.JSON, reflectJSON(t, c)) {
		t.Errorf("appending to a list changed the claims' JSON: %s", e.JSON)
	}
	c.Primary = nil
	if got := string(c.AppendJSON(nil).List(ListPrimary)); got != "[]" {
		t.Errorf("nil primary: got %s, want []", got)
	}
}

// FuzzClaimsJSON holds AppendJSON to encoding/json's output for arbitrary strings, the
// part of the encoding that is not a fixed member name.
func FuzzClaimsJSON(f *testing.F) {
	f.Add("m-42", "p-7", "wss://yyz1.media.geofence.test", int64(7))
	f.Add(`<"&>`, "\u2028\u2029", "\xff\xfe", int64(-1))
	f.Add("", "\x00\x7f", "é東", int64(0))
	f.Fuzz(func(t *testing.T, a, b, d string, n int64) {
		c := testClaims()
		c.Meeting, c.Participant, c.Primary[0].Endpoint, c.Revision = a, b, d, n
		c.Context.HostDataRegions = []string{a, b}
		c.Audience = []string{d}
		c.IssuedAt = time.Unix(n, 0)
		want := reflectJSON(t, c)
		if got := c.AppendJSON(nil).JSON; !bytes.Equal(got, want) {
			t.Fatalf("got\n%s\nwant\n%s", got, want)
		}
		var back Claims
		if err := back.UnmarshalJSON(want); err != nil {
			t.Fatalf("the encoding does not decode: %v", err)
		}
	})
}

// The directory encodes one ticket per join.
func BenchmarkClaimsAppendJSON(b *testing.B) {
	c := testClaims()
	buf := make([]byte, 0, 2048)
	b.ReportAllocs()
	for b.Loop() {
		buf = c.AppendJSON(buf[:0]).JSON
	}
}

func BenchmarkClaimsMarshal(b *testing.B) {
	c := testClaims()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := json.Marshal(c); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkClaimsReflect is the encoding before AppendJSON, for comparison.
func BenchmarkClaimsReflect(b *testing.B) {
	c := testClaims()
	b.ReportAllocs()
	for b.Loop() {
		reflectJSON(b, c)
	}
}
