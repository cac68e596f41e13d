package audit_test

import (
	"bytes"
	"testing"

	"github.com/geofence/geofence/audit"
)

// FuzzParseEntry: Parse accepts only what Marshal writes back byte for byte.
func FuzzParseEntry(f *testing.F) {
	f.Add([]byte(`{"config":"sha256:00","kind":"join_refused","region":"na","time":"2026-11-24T12:00:00.000Z","v":1}`))
	f.Add([]byte(`{"config":"sha256:00","countries":["US"],"home":{"country":"US","id":"us-sjc"},"kind":"ticket_issued","party":{"account":"acme","country":"US","host_account":"acme","host_data_regions":null,"host_plan":"enterprise","meeting_region":"na","plan":"enterprise","region":"na"},"primary":[{"country":"US","id":"us-sjc"}],"region":"na","time":"2026-11-24T12:00:00.000Z","v":1}`))
	f.Add([]byte(`{"kind":"join_refused","config":"sha256:00","region":"na","time":"2026-11-24T12:00:00.000Z","v":1}`))
	f.Add([]byte(`{"config":"<&>","kind":"config_change","region":"na","time":"2026-11-24T12:00:00.000Z","v":1,"verify":{"errors":0,"ok":true,"warnings":0}}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		e, err := audit.Parse(b)
		if err != nil {
			return
		}
		again, err := audit.Marshal(e)
		if err != nil {
			t.Fatalf("a parsed entry does not marshal: %v", err)
		}
		if !bytes.Equal(again, b) {
			t.Fatalf("parsed %q, marshals to %q", b, again)
		}
		if ref := reference(t, e); !bytes.Equal(ref, b) {
			t.Fatalf("parsed %q, which encoding/json writes %q", b, ref)
		}
	})
}

// FuzzParseCheckpoint: a parsed checkpoint formats back to the text it came from.
func FuzzParseCheckpoint(f *testing.F) {
	f.Add("geofence.example/audit/na\n9\ntNndtetGGMOfBcepYsdB2iuE/od6bx2HtJ5Iq//owOU=\n")
	f.Add("o\n0\n47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\next\n")
	f.Add("o\n01\nAA==\n")
	f.Fuzz(func(t *testing.T, text string) {
		cp, err := audit.ParseCheckpoint(text)
		if err != nil {
			return
		}
		if cp.Origin == "" || bytes.ContainsRune([]byte(cp.Origin), '\n') {
			t.Fatalf("origin %q", cp.Origin)
		}
		// Opening it unsigned must fail, never panic.
		if _, err := audit.OpenCheckpoint([]byte(text), nil); err == nil {
			t.Fatal("an unsigned checkpoint opened")
		}
	})
}
