package cors

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

func TestHandle(t *testing.T) {
	mux := http.NewServeMux()
	HandleFunc(mux, "POST /v1/meetings/{id}/join", func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("ok")) })
	mux.HandleFunc("GET /v1/accounts", func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("operator")) })

	pre := httptest.NewRequest(http.MethodOptions, "/v1/meetings/m1/join", nil)
	pre.Header.Set("Origin", "http://127.0.0.1:9")
	pre.Header.Set("Access-Control-Request-Method", "POST")
	rec := httptest.NewRecorder()
	mux.ServeHTTP(rec, pre)
	if rec.Code != http.StatusNoContent || rec.Header().Get("Access-Control-Allow-Origin") != "*" ||
		rec.Header().Get("Access-Control-Allow-Methods") != "POST" || rec.Header().Get("Access-Control-Allow-Credentials") != "" {
		t.Errorf("preflight: %d %v", rec.Code, rec.Header())
	}

	req := httptest.NewRequest(http.MethodPost, "/v1/meetings/m1/join", nil)
	req.Header.Set("Origin", "http://127.0.0.1:9")
	rec = httptest.NewRecorder()
	mux.ServeHTTP(rec, req)
	if rec.Header().Get("Access-Control-Allow-Origin") != "*" {
		t.Errorf("participant endpoint: no Access-Control-Allow-Origin: %v", rec.Header())
	}

	// An operator endpoint gets no CORS: a page of another origin cannot read it.
	for _, m := range []string{http.MethodGet, http.MethodOptions} {
		req = httptest.NewRequest(m, "/v1/accounts", nil)
		req.Header.Set("Origin", "http://127.0.0.1:9")
		req.Header.Set("Access-Control-Request-Method", "GET")
		rec = httptest.NewRecorder()
		mux.ServeHTTP(rec, req)
		if got := rec.Header().Get("Access-Control-Allow-Origin"); got != "" {
			t.Errorf("%s operator endpoint: Access-Control-Allow-Origin %q, want none", m, got)
		}
	}
}
