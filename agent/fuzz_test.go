package agent

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/geofence/geofence/ticket"
	"github.com/geofence/geofence/wire"
)

// FuzzConnect feeds arbitrary bodies to POST /v1/connect: the agent must never panic, and
// must answer 200 with a session or a JSON refusal with a known code, never anything else.
func FuzzConnect(f *testing.F) {
	m := loadModel(f, "../examples/world.yaml")
	s, err := ticket.NewSigner(testIssuer, detRand(1), nil)
	if err != nil {
		f.Fatal(err)
	}
	v, err := ticket.NewVerifier(s.JWKS(), testIssuer, nil)
	if err != nil {
		f.Fatal(err)
	}
	a := newAgent(f, Config{ID: "us-sjc", Model: m, Keys: staticKeys{v}})
	h := a.handler()

	tok := mustSign(f, s, naClaims(m, []string{"us-sjc"}, nil), time.Hour)
	for _, seed := range []string{
		`{"token":"` + tok + `"}`,
		`{"token":"` + tok + `","extra":[1,2,{"a":null}]}`,
		`{"token":"` + tok[:len(tok)-3] + `"}`,
		`{"token":"` + strings.Replace(tok, ".", "..", 1) + `"}`,
		`{"token":null}`,
		`{"TOKEN":"x"}`,
		`{"token":"a","token":"b"}`,
		"",
		"null",
	} {
		f.Add([]byte(seed))
	}
	codes := []string{wire.CodeBadRequest, wire.CodeInvalidTicket, wire.CodeNotListed, wire.CodeResidencyConflict,
		wire.CodePlanConflict, wire.CodeNoCapacity, wire.CodeKeysUnavailable}
	f.Fuzz(func(t *testing.T, body []byte) {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest(http.MethodPost, ConnectPath, strings.NewReader(string(body))))
		if w.Code == http.StatusOK {
			var got wire.Connected
			if err := json.Unmarshal(w.Body.Bytes(), &got); err != nil || got.Session == "" || got.Datacenter != "us-sjc" {
				t.Fatalf("200 answer %q: %v", w.Body.Bytes(), err)
			}
			return
		}
		var got wire.Error
		if err := json.Unmarshal(w.Body.Bytes(), &got); err != nil {
			t.Fatalf("%d answer %q is not JSON: %v", w.Code, w.Body.Bytes(), err)
		}
		if !slices.Contains(codes, got.Error) || got.Message == "" {
			t.Fatalf("%d answer has error %q, message %q", w.Code, got.Error, got.Message)
		}
	})
}

// FuzzSessionBody feeds arbitrary bodies to POST /v1/heartbeat and POST /v1/disconnect: the
// agent never panics, answers 204 only for the session it holds, and otherwise a JSON
// bad_request or unknown_session.
func FuzzSessionBody(f *testing.F) {
	m := loadModel(f, "../examples/world.yaml")
	a := newAgent(f, Config{ID: "us-sjc", Model: m, Keys: staticKeys{}})
	const held = "AAAAAAAAAAAAAAAAAAAAAA"
	for _, seed := range []string{
		`{"session":"` + held + `"}`,
		`{"session":"` + held + `","v":2}`,
		`{"session":"nope"}`,
		`{"session":""}`,
		`{"session":null}`,
		`{"session":["a"]}`,
		`{"session":"a"}{"session":"b"}`,
		"",
		"null",
	} {
		f.Add([]byte(seed))
	}
	h := a.handler()
	f.Fuzz(func(t *testing.T, body []byte) {
		// The held session exists before each input (a disconnect ends it).
		a.open(&session{id: held, who: identity{"m-1", "globex", "alice"}})
		for _, path := range []string{HeartbeatPath, DisconnectPath} {
			w := httptest.NewRecorder()
			h.ServeHTTP(w, httptest.NewRequest(http.MethodPost, path, strings.NewReader(string(body))))
			switch w.Code {
			case http.StatusNoContent:
				var req wire.Session
				if json.Unmarshal(body, &req) != nil || req.Session != held {
					t.Fatalf("%s: 204 for body %q, which does not name the held session", path, body)
				}
			case http.StatusBadRequest, http.StatusNotFound:
				var got wire.Error
				if err := json.Unmarshal(w.Body.Bytes(), &got); err != nil || got.Message == "" ||
					(got.Error != wire.CodeBadRequest && got.Error != wire.CodeUnknownSession) {
					t.Fatalf("%s: %d answer %q: %v", path, w.Code, w.Body.Bytes(), err)
				}
			default:
				t.Fatalf("%s: got %d for body %q", path, w.Code, body)
			}
		}
	})
}
