package directoryhttp

import (
	"net/http"
	"strings"

	"github.com/geofence/geofence/identity"
	"github.com/geofence/geofence/internal/jsonapi"
	"github.com/geofence/geofence/wire"
)

// dashboardRealm is the HTTP Basic realm of the dashboard. A browser cannot send a bearer
// token when it opens a page or an EventSource, so the dashboard also takes the operator
// token as the password of HTTP Basic authentication (RFC 7617; any user name): the browser
// asks once and sends it with every request of the page.
const dashboardRealm = "geofence dashboard"

// mountDashboard serves Config.Dashboard under /ui/ and /v1/dashboard/, and the directory's
// explain as /v1/dashboard/explain (the page's what-if, with the page's credentials), all to
// the operator only.
func (s *Server) mountDashboard(mux *http.ServeMux) {
	h := s.dashboardOnly(s.cfg.Dashboard)
	mux.Handle("/ui/", h)
	mux.Handle("GET /ui", h)
	mux.Handle("GET /v1/dashboard/explain", s.dashboardOnly(http.HandlerFunc(s.explain)))
	mux.Handle("/v1/dashboard/", h)
}

// dashboardOnly lets the operator through: the operator token as a bearer token or as the
// HTTP Basic password, or trusted loopback. A participant's valid join token gets 403 (a
// credential, but not the operator's); anything else 401 with both challenges.
func (s *Server) dashboardOnly(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if s.isOperator(r) || s.basicOperator(r) {
			h.ServeHTTP(w, r)
			return
		}
		if tok, has := identity.BearerToken(r); has {
			if _, err := s.tokens.Verify(tok); err == nil {
				writeError(w, s.deny(denyParticipant, wire.CodeForbidden,
					"a join token is a participant's credential; the dashboard is for the operator (send the operator token)"))
				return
			}
		}
		s.metrics.denied.WithLabelValues(denyOperator).Inc()
		msg := "the dashboard is for the operator: send the operator token (Authorization: Bearer ..., or as the password of HTTP Basic)"
		if s.cfg.Operator == nil {
			msg = "the dashboard is for the operator, and this directory was started without an operator token (--admin-token-file)"
		}
		w.Header().Set("WWW-Authenticate", `Basic realm="`+dashboardRealm+`", charset="UTF-8"`)
		w.Header().Add("WWW-Authenticate", `Bearer realm="geofence"`)
		jsonapi.Write(w, http.StatusUnauthorized, wire.Error{Error: wire.CodeUnauthorized, Message: msg})
	})
}

// basicOperator reports whether the request carries the operator token as its HTTP Basic
// password.
func (s *Server) basicOperator(r *http.Request) bool {
	if s.cfg.Operator == nil {
		return false
	}
	_, pass, ok := r.BasicAuth()
	if !ok || pass == "" || strings.ContainsAny(pass, "\r\n") {
		return false
	}
	// The operator check reads a bearer token: present the password as one, on a copy.
	rr := r.Clone(r.Context())
	rr.Header = http.Header{"Authorization": {"Bearer " + pass}}
	return s.cfg.Operator.Check(rr) == nil
}
