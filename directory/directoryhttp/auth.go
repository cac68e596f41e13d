package directoryhttp

import (
	"crypto/subtle"
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"strings"

	"github.com/geofence/geofence/directory"
	"github.com/geofence/geofence/identity"
	"github.com/geofence/geofence/wire"
)

// Reasons a request was refused for its credential, the label of
// geofence_directory_auth_refusals_total.
const (
	denyNoCredential   = "no_credential"         // 401: nothing presented
	denyInvalidToken   = "invalid_token"         // 401: a join token that does not verify
	denyOperator       = "operator_token"        // 401: a missing or wrong operator token
	denyOtherMeeting   = "other_meeting"         // 403: a token bound to another meeting
	denyNotHost        = "not_host"              // 403: a token without the host right
	denyOtherAccount   = "other_account"         // 403: a token of another account
	denyDCCredential   = "datacenter_credential" // 401: a load report without its DC's credential
	denyUnknownAccount = "unknown_account"       // 401: a token naming an account that does not exist
	denyParticipant    = "participant_token"     // 403: a participant's join token on an operator page
)

func (s *Server) deny(reason, code, format string, args ...any) error {
	s.metrics.denied.WithLabelValues(reason).Inc()
	return &directory.Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// trustedPeer reports whether the request comes straight from loopback and loopback is
// trusted (`geofence dev`). It looks at the connection, never at X-Forwarded-For.
func (s *Server) trustedPeer(r *http.Request) bool {
	if !s.cfg.TrustLoopback {
		return false
	}
	ap, err := netip.ParseAddrPort(r.RemoteAddr)
	return err == nil && ap.Addr().Unmap().IsLoopback()
}

// isOperator reports whether the request carries the operator's token, or comes from trusted
// loopback.
func (s *Server) isOperator(r *http.Request) bool {
	if s.trustedPeer(r) {
		if _, has := identity.BearerToken(r); !has {
			return true
		}
	}
	return s.cfg.Operator != nil && s.cfg.Operator.Check(r) == nil
}

// operatorOnly wraps an operator endpoint.
func (s *Server) operatorOnly(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if s.isOperator(r) {
			h(w, r)
			return
		}
		msg := "this endpoint is for the operator: send the operator token (Authorization: Bearer ...), as given to the directory with --admin-token-file"
		if s.cfg.Operator == nil {
			msg = "this endpoint is for the operator, and this directory was started without an operator token (--admin-token-file)"
		} else if _, has := identity.BearerToken(r); has {
			msg = "the bearer token is not the operator token"
		}
		writeError(w, s.deny(denyOperator, wire.CodeUnauthorized, "%s", msg))
	}
}

// token verifies the request's join token; ok is false when it has none.
func (s *Server) token(r *http.Request) (identity.Identity, bool, error) {
	tok, has := identity.BearerToken(r)
	if !has {
		return identity.Identity{}, false, nil
	}
	id, err := s.tokens.Verify(tok)
	if err != nil && !errors.Is(err, identity.ErrInvalid) {
		s.log.Error("verify join token", "err", err)
		return identity.Identity{}, true, &directory.Error{Code: wire.CodeInternal, Message: "the directory could not look the token's key up; retry shortly"}
	}
	if err != nil {
		reason := denyInvalidToken
		if errors.Is(err, identity.ErrUnknownAccount) {
			reason = denyUnknownAccount
		}
		return identity.Identity{}, true, s.deny(reason, wire.CodeUnauthorized, "join token: %v", err)
	}
	return id, true, nil
}

// authParticipant establishes who joins meeting: the join token's account and participant
// (the body's are ignored), or, from trusted loopback without a token, the body's.
func (s *Server) authParticipant(r *http.Request, meeting, bodyAccount, bodyParticipant string) (identity.Identity, error) {
	id, has, err := s.token(r)
	if err != nil {
		return id, err
	}
	if !has {
		if s.trustedPeer(r) {
			return identity.Identity{Account: bodyAccount, Participant: bodyParticipant}, nil
		}
		return id, s.deny(denyNoCredential, wire.CodeUnauthorized,
			"a join needs a join token signed by the account's backend (Authorization: Bearer ...); see `geofence token`")
	}
	if id.Meeting != "" && id.Meeting != meeting {
		return id, s.deny(denyOtherMeeting, wire.CodeForbidden, "the join token is for meeting %s only, not %s", id.Meeting, meeting)
	}
	return id, nil
}

// authHost establishes the account that hosts (creates, reads, ends) a meeting: the join
// token's, which must carry the host right and be that of account when one is given; the
// operator and trusted loopback act for any account (account must then be given).
func (s *Server) authHost(r *http.Request, account string) (string, error) {
	if s.isOperator(r) {
		if account == "" {
			return "", &directory.Error{Code: wire.CodeBadRequest, Message: `name the host account ("host_account")`}
		}
		return account, nil
	}
	id, has, err := s.token(r)
	if err != nil {
		return "", err
	}
	if !has {
		return "", s.deny(denyNoCredential, wire.CodeUnauthorized,
			"hosting needs a join token with the host right (Authorization: Bearer ...), or the operator token")
	}
	switch {
	case !id.Host:
		return "", s.deny(denyNotHost, wire.CodeForbidden, "the join token of %s/%s has no host right; mint one with host: true", id.Account, id.Participant)
	case id.Meeting != "" && (r.Method == http.MethodPost || id.Meeting != r.PathValue("id")):
		return "", s.deny(denyOtherMeeting, wire.CodeForbidden, "the join token is for meeting %s only", id.Meeting)
	case account != "" && account != id.Account:
		return "", s.deny(denyOtherAccount, wire.CodeForbidden, "the join token is account %s's, not %s's", id.Account, account)
	}
	return id.Account, nil
}

// datacenterCredential reports whether a load report for dc carries dc's credential (or comes
// from trusted loopback).
func (s *Server) datacenterCredential(r *http.Request, dc string) bool {
	if want := s.cfg.Credentials[dc]; want != "" {
		got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		return ok && subtle.ConstantTimeCompare([]byte(got), []byte(want)) == 1
	}
	return s.trustedPeer(r)
}
