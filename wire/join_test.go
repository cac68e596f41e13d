package wire

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"
)

// TestAppendJoinResponseMatchesEncodingJSON: the hand-built join answer is byte for byte what
// encoding/json makes of the same JoinResponse, including empty lists as [] and names that
// need escaping.
func TestAppendJoinResponseMatchesEncodingJSON(t *testing.T) {
	tests := []struct {
		name string
		c    Claims
	}{
		{"full", Claims{Meeting: "M1", Region: "na", Home: "us-den",
			Primary:   []DC{{ID: "us-den", Country: "US", Endpoint: "http://127.0.0.1:1"}, {ID: "ca-yyz", Country: "CA"}},
			Secondary: []DC{{ID: "eu-ams", Country: "NL"}}, KMS: []DC{{ID: "us-sjc", Country: "US"}}}},
		{"secondaries only", Claims{Meeting: "M2", Region: "r<&>", Home: "h\"x", Primary: []DC{}, Secondary: []DC{{ID: "a", Country: "DE"}}}},
		{"nil lists", Claims{Meeting: "M3", Region: "eu", Home: "eu-fra"}},
	}
	exp := time.Date(2026, 12, 1, 12, 5, 0, 0, time.UTC)
	for _, token := range []string{"tok.en.sig", "not a <jws> & \"quoted\""} {
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				enc := tt.c.AppendJSON(nil)
				got := AppendJoinResponse(nil, enc, tt.c.Meeting, tt.c.Region, tt.c.Home, exp, token)
				nonNil := func(d []DC) []DC {
					if d == nil {
						return []DC{}
					}
					return d
				}
				var want bytes.Buffer
				json.NewEncoder(&want).Encode(JoinResponse{Meeting: tt.c.Meeting, Region: tt.c.Region, Home: tt.c.Home,
					Primary: nonNil(tt.c.Primary), Secondary: nonNil(tt.c.Secondary), KMS: nonNil(tt.c.KMS), Expires: exp, Token: token})
				if !bytes.Equal(got, want.Bytes()) {
					t.Errorf("got  %s\nwant %s", got, want.Bytes())
				}
			})
		}
	}
}
