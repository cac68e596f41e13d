package audit_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/geofence/geofence/audit"
)

// fullEntry sets every member, so the order test sees them all.
func fullEntry() *audit.Entry {
	dc := &audit.DC{ID: "us-sjc", Country: "US"}
	return &audit.Entry{Addr: "hmac:a", Code: "c", Config: "sha256:00", Countries: []string{"US"}, Epoch: 1, Home: dc,
		Kind: audit.KindTicketIssued, KMS: []audit.DC{*dc}, Meeting: "m", Participant: "hmac:p",
		Party:    &audit.Party{Account: "a", Country: "US", HostAccount: "a", HostDataRegions: []string{}, HostPlan: "p", MeetingRegion: "na", Plan: "p", Region: "na"},
		Previous: "sha256:ff", Primary: []audit.DC{*dc}, Region: "na", Rev: 2, Rules: []string{"r"}, Secondary: []audit.DC{*dc},
		Server: dc, Time: audit.FormatTime(testNow), V: audit.Version, Verify: &audit.VerifyResult{Errors: 1, Findings: []string{"f.yaml:1:2: error[residency]: x"}, Warnings: 2}}
}

// checkSorted walks JSON and fails when an object's members are not in lexicographic order
// (RFC 8785 section 3.2.3, for the ASCII member names entries have).
func checkSorted(t *testing.T, dec *json.Decoder) {
	t.Helper()
	tok, err := dec.Token()
	if err != nil {
		t.Fatal(err)
	}
	switch tok {
	case json.Delim('{'):
		var keys []string
		for dec.More() {
			k, _ := dec.Token()
			keys = append(keys, k.(string))
			checkSorted(t, dec)
		}
		dec.Token()
		if !slices.IsSorted(keys) {
			t.Errorf("members %v are not sorted", keys)
		}
	case json.Delim('['):
		for dec.More() {
			checkSorted(t, dec)
		}
		dec.Token()
	}
}

func TestEntryIsCanonical(t *testing.T) {
	b, err := audit.Marshal(fullEntry())
	if err != nil {
		t.Fatal(err)
	}
	checkSorted(t, json.NewDecoder(bytes.NewReader(b)))
	// No whitespace outside strings: the only spaces are inside the finding.
	if bytes.ContainsAny(bytes.ReplaceAll(b, []byte("f.yaml:1:2: error[residency]: x"), nil), " \n") {
		t.Errorf("whitespace in %s", b)
	}
	if _, err := audit.Parse(b); err != nil {
		t.Errorf("Parse of a marshalled entry: %v", err)
	}
	tests := []struct {
		name, in string
		want     error
		msg      string
	}{
		{"reordered", strings.Replace(string(b), `"addr":"hmac:a","code":"c"`, `"code":"c","addr":"hmac:a"`, 1), audit.ErrNotCanonical, ""},
		{"whitespace", strings.Replace(string(b), `"code":"c"`, `"code": "c"`, 1), audit.ErrNotCanonical, ""},
		{"escaped", strings.Replace(string(b), `"meeting":"m"`, `"meeting":"\u006d"`, 1), audit.ErrNotCanonical, ""},
		{"unknown member", strings.Replace(string(b), `{"addr"`, `{"aaa":1,"addr"`, 1), nil, "unknown field"},
		{"other version", strings.Replace(string(b), `"v":1`, `"v":2`, 1), nil, "schema version"},
		{"unknown kind", strings.Replace(string(b), `"ticket_issued"`, `"ticket_eaten"`, 1), nil, "unknown kind"},
		{"bad time", strings.Replace(string(b), `.000Z`, `Z`, 1), nil, "time"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := audit.Parse([]byte(tc.in))
			if err == nil || tc.want != nil && !errors.Is(err, tc.want) || tc.msg != "" && !strings.Contains(err.Error(), tc.msg) {
				t.Errorf("got %v, want %v %q", err, tc.want, tc.msg)
			}
		})
	}
}

func TestHasher(t *testing.T) {
	h := hasher(t)
	if h.Participant("acme", "alice") == h.Participant("acme", "bob") || h.Participant("acme", "alice") == h.Participant("globex", "alice") {
		t.Error("distinct participants hash alike")
	}
	if h.Participant("a", "b\x00c") == h.Participant("a\x00b", "c") {
		t.Error("the parts of a hash are ambiguous")
	}
	if h.Addr("") != "" || !strings.HasPrefix(h.Addr("192.0.2.1"), "hmac:") {
		t.Error("address hashes")
	}
	other, _ := audit.NewHasher(bytes.Repeat([]byte{8}, audit.HashKeySize))
	if other.Addr("192.0.2.1") == h.Addr("192.0.2.1") {
		t.Error("the hash does not depend on the key")
	}
}

// reference is encoding/json's encoding of an entry, which Marshal must equal.
func reference(t testing.TB, e *audit.Entry) []byte {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(e); err != nil {
		t.Fatal(err)
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n"))
}

func TestMarshalIsEncodingJSON(t *testing.T) {
	odd := fullEntry()
	odd.Meeting, odd.Code, odd.Rules = "a\"b\\c\n\t\x01<>&\u2028é\xff", "", []string{"ü", ""}
	odd.Party.HostDataRegions = nil
	odd.Verify = &audit.VerifyResult{OK: true}
	for _, e := range []*audit.Entry{fullEntry(), odd, {}, entryN("na", 3), ticketEntry(1)} {
		got, err := audit.Marshal(e)
		if err != nil {
			t.Fatal(err)
		}
		if want := reference(t, e); !bytes.Equal(got, want) {
			t.Errorf("Marshal:\n%s\nencoding/json:\n%s", got, want)
		}
	}
}
