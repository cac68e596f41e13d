package kms

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/geofence/geofence/admission"
	"github.com/geofence/geofence/crypto/keywrap"
	"github.com/geofence/geofence/internal/jsonapi"
	"github.com/geofence/geofence/ticket"
	"github.com/geofence/geofence/wire"
)

// maxBody bounds the request bodies the key server reads: a ticket (at most
// ticket.MaxTokenSize), a public key (a hybrid one is about 1.6 KB as text) and an epoch.
const maxBody = ticket.MaxTokenSize + 8<<10

// retryAfterSeconds is the Retry-After of a 503: the ticket key set may be back soon.
const retryAfterSeconds = 2

func badRequest(msg string) *admission.Refusal {
	return &admission.Refusal{Status: http.StatusBadRequest, Code: wire.CodeBadRequest, Message: msg}
}

// decodeKeyRequest reads a key request body: one JSON object with a non-empty "token" and, if
// any, an epoch of at least 1. Unknown members are ignored, so that newer clients can send
// more.
func decodeKeyRequest(body io.Reader) (wire.KeyRequest, error) {
	var req wire.KeyRequest
	if err := jsonapi.DecodeLenient(body, &req); err != nil {
		return wire.KeyRequest{}, err
	}
	if req.Token == "" {
		return wire.KeyRequest{}, errors.New(`request has no "token"`)
	}
	if req.Epoch != nil && *req.Epoch == 0 {
		return wire.KeyRequest{}, errors.New(`"epoch" must be at least 1 (epochs start at 1), or left out for the current one`)
	}
	return req, nil
}

// decodeLeaveRequest reads a leave request body: one JSON object with a non-empty "token".
// Unknown members are ignored.
func decodeLeaveRequest(body io.Reader) (wire.LeaveRequest, error) {
	var req wire.LeaveRequest
	if err := jsonapi.DecodeLenient(body, &req); err != nil {
		return wire.LeaveRequest{}, err
	}
	if req.Token == "" {
		return wire.LeaveRequest{}, errors.New(`request has no "token"`)
	}
	return req, nil
}

// issue answers POST /v1/meetings/{id}/key.
func (s *Server) issue(w http.ResponseWriter, r *http.Request) {
	const op = "key"
	meeting := r.PathValue("id")
	req, err := decodeKeyRequest(http.MaxBytesReader(w, r.Body, maxBody))
	if err != nil {
		s.refuse(w, r, op, meeting, nil, 0, badRequest(err.Error()), 0)
		return
	}
	var want uint64
	if req.Epoch != nil {
		want = *req.Epoch
	}
	c, ref := s.authorize(r.Context(), meeting, req.Token)
	var pub keywrap.PublicKey
	if ref == nil {
		pub, ref = publicKey(c, req.PublicKey)
	}
	if ref != nil {
		s.refuse(w, r, op, meeting, c, want, ref, 0)
		return
	}

	now := s.cfg.Now()
	var (
		epoch, cur uint64
		sealed     []byte
		rotateAt   time.Time
	)
	if req.Epoch == nil {
		epoch, sealed, rotateAt, err = s.store.current(c.Meeting, c.ID, now)
	} else {
		epoch = *req.Epoch
		sealed, cur, rotateAt, err = s.store.epoch(c.Meeting, c.ID, epoch, now)
	}
	s.logRotations() // a rotation that was due
	if err == nil {
		err = s.store.record(c.Meeting, c.Context)
	}
	if ref := lookupRefusal(err, c.Meeting, epoch, cur, s.cfg.Retain); ref != nil {
		s.refuse(w, r, op, meeting, c, want, ref, cur)
		return
	}
	wrapped, err := s.wrap(pub, sealed, c.Meeting, c.Participant, epoch)
	if err != nil {
		// Cannot happen with a key this server sealed; the detail is for the operator.
		s.log.Error("cannot wrap the meeting key", "meeting", c.Meeting, "participant", c.Participant,
			"epoch", epoch, "err", err)
		s.refuse(w, r, op, meeting, c, want, &admission.Refusal{Status: http.StatusInternalServerError, Code: wire.CodeInternal,
			Message: "the key server could not wrap the meeting key; try another key server", Cause: err}, 0)
		return
	}
	if err := s.decided(r.Context(), c, epoch, nil); err != nil {
		s.log.Error("key not issued: its evidence could not be written", "meeting", c.Meeting, "err", err)
		s.refuse(w, r, op, meeting, c, want, &admission.Refusal{Status: http.StatusServiceUnavailable, Code: wire.CodeEvidenceUnavailable,
			Message: "the key server cannot record decisions right now; retry shortly or try another key server", Cause: err}, 0)
		return
	}
	suite := pub.Suite().String()
	s.metrics.issuances.WithLabelValues(suite).Inc()
	s.log.Info("key issued", "outcome", "issued", "meeting", c.Meeting, "participant", c.Participant,
		"epoch", epoch, "suite", suite, "participant_region", c.Context.ParticipantRegion,
		"meeting_region", c.Context.MeetingRegion, "ticket", c.ID)
	jsonapi.Write(w, http.StatusOK, wire.KeyResponse{
		Meeting: c.Meeting, Epoch: epoch, Suite: suite, Wrapped: wrapped.String(), KMS: s.cfg.DC,
		RotateAt: rotateAt.UTC(),
	})
}

// leave answers POST /v1/meetings/{id}/leave: the ticket is retired at once, and the
// meeting's key rotates at once or, when it rotated less than RotateInterval ago, at the end of
// that interval with every other leave until then (DESIGN.md section 8).
func (s *Server) leave(w http.ResponseWriter, r *http.Request) {
	const op = "leave"
	meeting := r.PathValue("id")
	req, err := decodeLeaveRequest(http.MaxBytesReader(w, r.Body, maxBody))
	if err != nil {
		s.refuse(w, r, op, meeting, nil, 0, badRequest(err.Error()), 0)
		return
	}
	c, ref := s.authorize(r.Context(), meeting, req.Token)
	if ref != nil {
		s.refuse(w, r, op, meeting, c, 0, ref, 0)
		return
	}
	// The ticket stays retired until it could no longer be verified anyway.
	until := c.Expiry.Add(ticket.Leeway)
	epoch, rotateAt, outcome := s.store.leave(c.Meeting, c.ID, until, s.cfg.Now())
	s.metrics.leaves.WithLabelValues(outcome).Inc()
	if outcome == leaveUnavailable {
		s.refuse(w, r, op, meeting, c, 0, &admission.Refusal{Status: http.StatusServiceUnavailable, Code: wire.CodeStoreUnavailable,
			Message: "the key store cannot be reached right now: the leave is not recorded; retry shortly"}, 0)
		return
	}
	s.logRotations()
	attrs := []any{"outcome", "left", "leave", outcome, "meeting", c.Meeting, "participant", c.Participant,
		"epoch", epoch, "ticket", c.ID}
	if !rotateAt.IsZero() {
		attrs = append(attrs, "rotate_at", rotateAt)
	}
	s.log.Info("leave recorded", attrs...)
	jsonapi.Write(w, http.StatusOK, wire.LeaveResponse{Meeting: c.Meeting, Epoch: epoch, RotateAt: rotateAt.UTC()})
}

// logRotations counts and logs the rotations the store made (I6).
func (s *Server) logRotations() {
	for _, rot := range s.store.takeRotations() {
		s.metrics.rotations.Inc()
		s.log.Info("key rotated", "outcome", "rotated", "meeting", rot.meeting, "epoch", rot.next,
			"previous_epoch", rot.prev, "at", rot.at, "leaves", rot.leaves, "retain", s.cfg.Retain)
	}
}

// authorize checks a ticket for a request about meeting with package admission: valid, for
// this meeting, managed, listing this key server, and allowed here by this key server's own
// policy (I1, I3). It returns the claims once the ticket verifies, nil before.
func (s *Server) authorize(ctx context.Context, meeting, token string) (*wire.Claims, *admission.Refusal) {
	c, ref := s.admitter.Verify(ctx, token, admission.KMS)
	if ref != nil {
		return nil, ref
	}
	// What only a key server asks: the request's meeting, the meeting's mode, ids that fit a
	// key wrap's binding. Checked before the listing, so that an E2EE ticket (which lists no
	// key server) hears why.
	if c.Meeting != meeting {
		return c, &admission.Refusal{Status: http.StatusForbidden, Code: wire.CodeMeetingMismatch,
			Message: fmt.Sprintf("the ticket is for meeting %q, not %q", c.Meeting, meeting)}
	}
	if c.Mode != wire.ModeManaged {
		return c, &admission.Refusal{Status: http.StatusConflict, Code: wire.CodeE2EEMeeting,
			Message: fmt.Sprintf("meeting %s is end-to-end encrypted: its key comes from the meeting leader's client and no key server holds one", c.Meeting)}
	}
	if len(c.Meeting) > keywrap.MaxIDLen || len(c.Participant) > keywrap.MaxIDLen {
		return c, badRequest(fmt.Sprintf("meeting and participant ids must be at most %d bytes", keywrap.MaxIDLen))
	}
	// I1 at the key server: the key is issued only where the ticket lists this key server and
	// its own policy allows this datacenter for both the participant and the meeting.
	return c, s.admitter.Check(c, admission.KMS)
}

// publicKey returns the key to wrap to: the ticket's, which the directory signed. A request
// may repeat it, never substitute another: whoever steals a ticket must not get a key wrapped
// to a key of their own.
func publicKey(c *wire.Claims, requested string) (keywrap.PublicKey, *admission.Refusal) {
	if c.PublicKey == "" {
		return keywrap.PublicKey{}, &admission.Refusal{Status: http.StatusBadRequest, Code: wire.CodeBadPublicKey,
			Message: "the ticket carries no public key to wrap the meeting key to; join again with a public_key"}
	}
	if requested != "" && requested != c.PublicKey {
		return keywrap.PublicKey{}, &admission.Refusal{Status: http.StatusForbidden, Code: wire.CodePublicKeyMismatch,
			Message: "the request's public_key is not the one the ticket carries; the key is only ever wrapped to the ticket's public key"}
	}
	pub, err := keywrap.ParsePublicKey(c.PublicKey)
	if err != nil {
		return keywrap.PublicKey{}, &admission.Refusal{Status: http.StatusBadRequest, Code: wire.CodeBadPublicKey,
			Message: fmt.Sprintf("the ticket's public key cannot be used: %v; join again with a valid public_key", err)}
	}
	return pub, nil
}

// lookupRefusal is the answer to a failed key lookup; the caller adds the current epoch.
func lookupRefusal(err error, meeting string, epoch, current uint64, retain time.Duration) *admission.Refusal {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, errLeft):
		// A participant that left must not open the media of the epochs that follow: its
		// ticket is retired here until it expires. Joining again gives a new ticket.
		return &admission.Refusal{Status: http.StatusForbidden, Code: wire.CodeLeft,
			Message: fmt.Sprintf("this ticket was used to leave meeting %s; join again for a new ticket", meeting)}
	case errors.Is(err, errHolderForbidden):
		return &admission.Refusal{Status: http.StatusForbidden, Code: wire.CodeResidencyConflict, Message: err.Error()}
	case errors.Is(err, errStoreUnavailable):
		// Fail closed: without the shared store no key server may make up a key of its own.
		return &admission.Refusal{Status: http.StatusServiceUnavailable, Code: wire.CodeStoreUnavailable, Cause: err,
			Message: "the key store cannot be reached right now; retry shortly, or try the ticket's other key server"}
	case errors.Is(err, errNoKey):
		return &admission.Refusal{Status: http.StatusNotFound, Code: wire.CodeUnknownEpoch,
			Message: fmt.Sprintf("meeting %s has no key yet; ask without an epoch for the current one", meeting)}
	case errors.Is(err, errFutureEpoch):
		return &admission.Refusal{Status: http.StatusNotFound, Code: wire.CodeUnknownEpoch,
			Message: fmt.Sprintf("meeting %s has no epoch %d yet; its current epoch is %d", meeting, epoch, current)}
	default:
		return &admission.Refusal{Status: http.StatusGone, Code: wire.CodeEpochExpired,
			Message: fmt.Sprintf("epoch %d of meeting %s was superseded more than %s ago and is deleted; its current epoch is %d",
				epoch, meeting, retain, current)}
	}
}

// newSealed makes the key of a new epoch and returns it sealed; the plaintext is cleared.
func (s *Server) newSealed(meeting string, epoch uint64) []byte {
	k := newMeetingKey(epoch)
	defer k.destroy()
	return s.sealer.seal(k, meeting)
}

// wrap unseals a key for the moment of wrapping it to pub.
func (s *Server) wrap(pub keywrap.PublicKey, sealed []byte, meeting, participant string, epoch uint64) (keywrap.Wrapped, error) {
	k, err := s.sealer.open(sealed, meeting, epoch)
	if err != nil {
		return keywrap.Wrapped{}, fmt.Errorf("unseal key of meeting %s epoch %d: %w", meeting, epoch, err)
	}
	defer k.destroy()
	return keywrap.Wrap(pub, k.bytes(), keywrap.Binding{Meeting: meeting, Epoch: epoch, Participant: participant})
}

// decided tells Config.Decisions of a decision on a ticket that verified.
func (s *Server) decided(ctx context.Context, c *wire.Claims, epoch uint64, ref *admission.Refusal) error {
	if s.cfg.Decisions == nil || c == nil {
		return nil
	}
	return s.cfg.Decisions.KeyDecided(ctx, &KeyDecision{Time: s.cfg.Now(), DC: s.cfg.DC, Model: s.admitter.Model(), Claims: c, Epoch: epoch, Refusal: ref})
}

// refuse answers with ref, counts and logs it. c is nil when the ticket did not verify; then
// meeting is the unauthenticated id of the path. current, when not 0, is the meeting's current
// epoch, for the answer to a request for an epoch that is not available.
func (s *Server) refuse(w http.ResponseWriter, r *http.Request, op, meeting string, c *wire.Claims, epoch uint64, ref *admission.Refusal, current uint64) {
	s.metrics.refusals.WithLabelValues(ref.Code, ref.Rule).Inc()
	if ref.Code != wire.CodeEvidenceUnavailable {
		// A refusal's evidence is best effort even in strict mode: the refusal stands.
		s.decided(r.Context(), c, epoch, ref)
	}
	attrs := []any{"outcome", ref.Code, "op", op, "status", ref.Status, "rule", ref.Rule,
		"message", ref.Message, "remote", r.RemoteAddr}
	if ref.Cause != nil {
		attrs = append(attrs, "err", ref.Cause)
	}
	if c != nil {
		attrs = append(attrs, "meeting", c.Meeting, "participant", c.Participant,
			"participant_region", c.Context.ParticipantRegion, "meeting_region", c.Context.MeetingRegion,
			"ticket", c.ID)
	} else {
		// Unauthenticated: the path's meeting, and no participant.
		attrs = append(attrs, "meeting", meeting, "participant", "")
	}
	// The epoch asked for; 0 when the request named none (the current one) or is a leave.
	attrs = append(attrs, "epoch", epoch)
	level := slog.LevelWarn
	switch ref.Code {
	case wire.CodeBadRequest, wire.CodeBadPublicKey, wire.CodeUnknownEpoch, wire.CodeEpochExpired, wire.CodeLeft:
		level = slog.LevelInfo
	case wire.CodeInternal, wire.CodeKeysUnavailable:
		level = slog.LevelError
	}
	// Warn: the directory or the client should never have sent this ticket here, so the
	// run-time layer caught what an earlier one missed, or someone is probing.
	s.log.Log(r.Context(), level, op+" refused", attrs...)
	body := ref.Body()
	body.CurrentEpoch = current
	if ref.Status == http.StatusServiceUnavailable {
		w.Header().Set("Retry-After", strconv.Itoa(retryAfterSeconds))
		body.RetryAfter = retryAfterSeconds
	}
	jsonapi.Write(w, ref.Status, body)
}
