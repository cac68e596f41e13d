package devstack_test

import (
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/geofence/geofence/internal/devstack/devstacktest"

	"github.com/geofence/geofence/internal/devstack"
)

// TestPageAndCORS: the directory and every DC agent serve the meeting page at /meet/ to
// anyone; the participant endpoints a page of another origin calls (the directory's join and
// key set, the key servers' key and leave, the agents' sessions) answer CORS preflights, and
// the operator endpoints do not.
func TestPageAndCORS(t *testing.T) {
	st := devstacktest.Start(t, devstack.Config{})
	waitReady(t, st.URL)
	var agentURL, kmsURL string
	for _, u := range st.AgentURLs {
		agentURL = u
		break
	}
	for _, u := range st.KMSURLs {
		kmsURL = u
		break
	}

	for _, base := range []string{st.URL, agentURL} {
		resp, err := http.Get(base + "/meet/")
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), "app.js") || resp.Header.Get("Content-Security-Policy") == "" {
			t.Errorf("GET %s/meet/: %d, CSP %q, want the page with its policy", base, resp.StatusCode, resp.Header.Get("Content-Security-Policy"))
		}
		resp, err = http.Get(base + "/meet/worker.js")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/javascript") {
			t.Errorf("GET %s/meet/worker.js: %d %s", base, resp.StatusCode, resp.Header.Get("Content-Type"))
		}
	}

	preflight := func(method, url string) string {
		req, _ := http.NewRequest(http.MethodOptions, url, nil)
		req.Header.Set("Origin", "http://127.0.0.1:1")
		req.Header.Set("Access-Control-Request-Method", method)
		req.Header.Set("Access-Control-Request-Headers", "content-type, x-forwarded-for")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.Header.Get("Access-Control-Allow-Credentials") != "" {
			t.Errorf("OPTIONS %s allows credentials", url)
		}
		return resp.Header.Get("Access-Control-Allow-Origin")
	}
	for _, u := range []string{st.URL + "/v1/meetings/m1/join", kmsURL + "/v1/meetings/m1/key", kmsURL + "/v1/meetings/m1/leave", agentURL + "/v1/connect"} {
		if got := preflight(http.MethodPost, u); got != "*" {
			t.Errorf("preflight of participant endpoint %s: Access-Control-Allow-Origin %q, want *", u, got)
		}
	}
	// Operator endpoints: no CORS, so a page of another origin cannot read them.
	for _, u := range []string{st.URL + "/v1/accounts", st.URL + "/v1/datacenters", st.URL + "/metrics"} {
		if got := preflight(http.MethodGet, u); got != "" {
			t.Errorf("preflight of operator endpoint %s: Access-Control-Allow-Origin %q, want none", u, got)
		}
		req, _ := http.NewRequest(http.MethodGet, u, nil)
		req.Header.Set("Origin", "http://127.0.0.1:1")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if got := resp.Header.Get("Access-Control-Allow-Origin"); got != "" {
			t.Errorf("GET %s from another origin: Access-Control-Allow-Origin %q, want none", u, got)
		}
	}
	resp, err := http.Post(st.URL+"/meet/", "text/plain", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode == http.StatusOK {
		t.Errorf("POST /meet/: %d, want a refusal: the page is served to GET only", resp.StatusCode)
	}
}
