// Package cors lets pages of any origin call the participant endpoints of Geofence's servers
// (the directory's join and key set, a key server's key and leave, a DC agent's sessions):
// the meeting page served by one server calls the others. Those endpoints authenticate with
// tickets and join tokens in bodies and headers, never cookies, so allowing any origin
// grants a page nothing its own fetch could not do; credentials are never allowed
// (no Access-Control-Allow-Credentials). Operator endpoints are not registered here and keep
// the browser's same-origin rule.
package cors

import (
	"net/http"
	"strings"
)

// AllowedHeaders are the request headers a participant call may carry: JSON bodies, join
// tokens, and the client address a trusted proxy passes (honoured from trusted proxies only).
var AllowedHeaders = []string{"Content-Type", "Authorization", "X-Forwarded-For"}

// maxAge is how long a browser may cache a preflight's answer, in seconds.
const maxAge = "600"

// Handle registers h on mux for "METHOD /path" (a ServeMux pattern with a method) with the
// CORS headers, and the preflight (OPTIONS) of that path. Each path may be registered once.
func Handle(mux *http.ServeMux, pattern string, h http.Handler) {
	method, path, ok := strings.Cut(pattern, " ")
	if !ok {
		panic("cors: pattern " + pattern + " has no method")
	}
	mux.Handle(pattern, Allow(h))
	mux.HandleFunc("OPTIONS "+path, func(w http.ResponseWriter, r *http.Request) {
		hd := w.Header()
		hd.Set("Access-Control-Allow-Origin", "*")
		hd.Set("Access-Control-Allow-Methods", method)
		hd.Set("Access-Control-Allow-Headers", strings.Join(AllowedHeaders, ", "))
		hd.Set("Access-Control-Max-Age", maxAge)
		hd.Add("Vary", "Origin")
		w.WriteHeader(http.StatusNoContent)
	})
}

// HandleFunc is Handle for a function.
func HandleFunc(mux *http.ServeMux, pattern string, h func(http.ResponseWriter, *http.Request)) {
	Handle(mux, pattern, http.HandlerFunc(h))
}

// Allow lets any origin read h's answers (simple requests, and the request after a
// preflight): Access-Control-Allow-Origin: *, never with credentials.
func Allow(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Access-Control-Allow-Origin", "*")
		h.ServeHTTP(w, r)
	})
}
