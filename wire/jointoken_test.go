package wire

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestJoinClaimsJSON(t *testing.T) {
	full := JoinClaims{
		Account: "acme", Participant: "alice", Audience: []string{JoinAudience},
		IssuedAt: t0, NotBefore: t0.Add(time.Second), Expiry: t0.Add(time.Hour), Meeting: "m-42", Host: true,
	}
	tests := []struct {
		name string
		c    JoinClaims
		want string
	}{
		{"full", full, `{"iss":"acme","sub":"alice","aud":"geofence","iat":1773480413,"nbf":1773480414,"exp":1773484013,"meeting":"m-42","host":true}`},
		{"minimal", JoinClaims{Account: "a", Participant: "p", Audience: []string{"geofence"}, IssuedAt: t0, Expiry: t0.Add(time.Minute)},
			`{"iss":"a","sub":"p","aud":"geofence","iat":1773480413,"exp":1773480473}`},
		{"audience array", JoinClaims{Account: "a", Participant: "p", Audience: []string{"geofence", "x"}},
			`{"iss":"a","sub":"p","aud":["geofence","x"]}`},
		{"zero", JoinClaims{}, `{"iss":"","sub":""}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := json.Marshal(tt.c)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tt.want {
				t.Fatalf("got %s, want %s", got, tt.want)
			}
			var back JoinClaims
			if err := json.Unmarshal(got, &back); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(back, tt.c) {
				t.Errorf("round trip: got %+v, want %+v", back, tt.c)
			}
		})
	}
}

func TestJoinClaimsDecodeStrict(t *testing.T) {
	tests := []struct {
		name    string
		json    string
		wantErr string // empty: decodes
		want    JoinClaims
	}{
		{"aud string", `{"aud":"geofence"}`, "", JoinClaims{Audience: []string{"geofence"}}},
		{"aud array", `{"aud":["a","geofence"]}`, "", JoinClaims{Audience: []string{"a", "geofence"}}},
		{"aud empty array", `{"aud":[]}`, "", JoinClaims{Audience: []string{}}},
		{"unknown member", `{"sub":"p","x-acme":{"a":1}}`, "", JoinClaims{Participant: "p"}},
		{"meeting null", `{"meeting":null}`, "", JoinClaims{}},
		{"epoch", `{"iat":0}`, "", JoinClaims{IssuedAt: time.Unix(0, 0).UTC()}},
		{"aud null", `{"aud":null}`, "aud is neither a string nor an array of strings", JoinClaims{}},
		{"aud number", `{"aud":1}`, "aud is neither", JoinClaims{}},
		{"aud array of numbers", `{"aud":[1]}`, "aud: json: cannot unmarshal number", JoinClaims{}},
		{"duplicate", `{"iss":"a","iss":"b"}`, "duplicate key 'iss'", JoinClaims{}},
		{"duplicate spelled differently", `{"iss":"a","\u0069ss":"b"}`, "duplicate key 'iss'", JoinClaims{}},
		{"iat fractional", `{"iat":1.5}`, "iat is 1.5, not a NumericDate: want whole seconds since 1970", JoinClaims{}},
		{"iat exponent", `{"iat":1e9}`, "iat is 1e9, not a NumericDate", JoinClaims{}},
		{"exp string", `{"exp":"1"}`, `exp is "1", not a NumericDate`, JoinClaims{}},
		{"exp null", `{"exp":null}`, "exp is null, not a NumericDate", JoinClaims{}},
		{"nbf negative", `{"nbf":-1}`, "nbf is -1", JoinClaims{}},
		{"nbf past 2500", `{"nbf":16725225601}`, "nbf is 16725225601", JoinClaims{}},
		{"nbf huge", `{"nbf":99999999999999999999}`, "not a NumericDate", JoinClaims{}},
		{"meeting empty", `{"meeting":""}`, "meeting is empty: leave it out", JoinClaims{}},
		{"host string", `{"host":"yes"}`, "cannot unmarshal", JoinClaims{}},
		{"sub number", `{"sub":7}`, "cannot unmarshal", JoinClaims{}},
		{"not an object", `[]`, "cannot unmarshal", JoinClaims{}},
		{"trailing data", `{}x`, "invalid character", JoinClaims{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var c JoinClaims
			err := c.UnmarshalJSON([]byte(tt.json))
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("got error %v, want none", err)
				}
				if !reflect.DeepEqual(c, tt.want) {
					t.Errorf("got %+v, want %+v", c, tt.want)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("got error %v, want it to contain %q", err, tt.wantErr)
			}
		})
	}
}
