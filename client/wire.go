package client

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/geofence/geofence/ticket"
	"github.com/geofence/geofence/wire"
)

// The bodies are package wire's, the one definition the servers use too; this file reads
// them defensively: nothing in an answer is trusted before it is checked.

const (
	// maxJoinResponse bounds the directory's answer: a ticket (at most ticket.MaxTokenSize)
	// and the same lists in JSON.
	maxJoinResponse = 4 * ticket.MaxTokenSize
	// maxAgentResponse bounds a DC agent's answer.
	maxAgentResponse = 64 << 10
	// maxRetryAfter caps the retry hint a server can make a caller wait.
	maxRetryAfter = time.Hour
	// maxSessionTTL caps the session TTL a DC can announce, and so the interval between
	// heartbeats.
	maxSessionTTL = time.Hour
)

// parseJoinResponse decodes the directory's 200 answer. Nothing in it is trusted until
// checkTicket has compared it with the signed claims; its Expires is informational (the
// signed exp is what counts).
func parseJoinResponse(b []byte) (*wire.JoinResponse, error) {
	var ans wire.JoinResponse
	if err := json.Unmarshal(b, &ans); err != nil {
		return nil, fmt.Errorf("decode: %w", err)
	}
	if ans.Token == "" {
		return nil, errors.New(`no "token"`)
	}
	return &ans, nil
}

// Refusal is the directory's refusal of a join (DESIGN.md sections 4 and 7):
// residency_conflict and plan_conflict (403, naming the rules), no_capacity (503, with a
// retry hint), unknown_meeting and unknown_account (404), or another error.
type Refusal struct {
	// Status is the HTTP status.
	Status int
	// Code is the directory's error code; "" when its answer had none.
	Code string
	// Message is the directory's explanation.
	Message string
	// Rules names the residency rules behind a residency_conflict.
	Rules []string
	// RetryAfter is how long to wait before trying again (no_capacity); zero when the
	// directory gave no hint.
	RetryAfter time.Duration
}

func (r *Refusal) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "the directory refused the join: %d", r.Status)
	if r.Code != "" {
		b.WriteString(" " + r.Code)
	}
	if r.Message != "" {
		b.WriteString(": " + r.Message)
	}
	if len(r.Rules) > 0 {
		b.WriteString(" (rules: " + strings.Join(r.Rules, ", ") + ")")
	}
	if r.RetryAfter > 0 {
		fmt.Fprintf(&b, "; retry after %v", r.RetryAfter)
	}
	return b.String()
}

// parseError reads a server's error body, as far as it is the documented JSON: a member of
// the wrong type is left out, the others are kept.
func parseError(b []byte) (wire.Error, bool) {
	var e wire.Error
	err := json.Unmarshal(b, &e)
	var te *json.UnmarshalTypeError
	return e, err == nil || errors.As(err, &te)
}

// parseRefusal reads a non-200 answer of the directory. It never fails: an answer that is
// not the documented JSON still makes a Refusal, with the status.
func parseRefusal(status int, h http.Header, b []byte, now func() time.Time) *Refusal {
	r := &Refusal{Status: status}
	if e, ok := parseError(b); ok {
		r.Code, r.Message, r.Rules = e.Error, e.Message, e.Rules
		if e.RetryAfter > 0 {
			r.RetryAfter = seconds(float64(e.RetryAfter))
		}
	}
	if r.Message == "" {
		r.Message = http.StatusText(status)
	}
	if r.RetryAfter == 0 {
		r.RetryAfter = retryAfter(h.Get("Retry-After"), now)
	}
	return r
}

func seconds(s float64) time.Duration {
	if s >= maxRetryAfter.Seconds() {
		return maxRetryAfter
	}
	return time.Duration(s * float64(time.Second))
}

// retryAfter parses a Retry-After header: delay-seconds or an HTTP-date (RFC 9110 section
// 10.2.3); zero when absent or malformed.
func retryAfter(v string, now func() time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if n, err := strconv.ParseUint(v, 10, 32); err == nil {
		return seconds(float64(n))
	}
	t, err := http.ParseTime(v)
	if err != nil {
		return 0
	}
	if now == nil {
		now = time.Now
	}
	d := t.Sub(now())
	if d <= 0 {
		return 0
	}
	return min(d, maxRetryAfter)
}

// parseConnectResponse reads a DC agent's answer to a connect: the session on 200, the
// refusal code otherwise.
func parseConnectResponse(dc string, status int, b []byte) (ok wire.Connected, code string, err error) {
	if status == http.StatusOK {
		if err := json.Unmarshal(b, &ok); err != nil {
			return wire.Connected{}, "", fmt.Errorf("datacenter %s answered 200 with a body that is not its JSON: %w", dc, err)
		}
		if ok.Datacenter != dc {
			return wire.Connected{}, "", fmt.Errorf("the endpoint of datacenter %s answered as datacenter %q", dc, ok.Datacenter)
		}
		if ok.Session == "" {
			return wire.Connected{}, "", fmt.Errorf("datacenter %s answered without a session", dc)
		}
		return ok, "", nil
	}
	e, _ := parseError(b) // a refusal without JSON still refuses
	msg := e.Message
	if msg == "" {
		msg = http.StatusText(status)
	}
	if len(e.Rules) > 0 {
		msg += " (rules: " + strings.Join(e.Rules, ", ") + ")"
	}
	switch status {
	case http.StatusUnauthorized, http.StatusForbidden, http.StatusTooManyRequests, http.StatusServiceUnavailable:
		code = e.Error
		if code == "" {
			code = strconv.Itoa(status)
		}
		return wire.Connected{}, code, fmt.Errorf("datacenter %s refused: %s: %s", dc, code, msg)
	}
	return wire.Connected{}, "", fmt.Errorf("datacenter %s answered %d: %s", dc, status, msg)
}

// sessionTTL is the TTL a DC announced, capped.
func sessionTTL(c wire.Connected) time.Duration {
	switch {
	case c.SessionTTL <= 0:
		return 0
	case c.SessionTTL >= int(maxSessionTTL/time.Second):
		return maxSessionTTL
	}
	return time.Duration(c.SessionTTL) * time.Second
}

// endpointURL joins a datacenter's endpoint (from the signed ticket) and a path. Like the key
// set, tickets only travel over https, or plain http to a loopback address (`geofence dev`):
// a ticket is a bearer token.
func endpointURL(endpoint, path string) (string, error) {
	if endpoint == "" {
		return "", errors.New("the ticket gives no endpoint")
	}
	u, err := url.Parse(endpoint)
	if err != nil {
		return "", fmt.Errorf("endpoint %q: %w", endpoint, err)
	}
	switch {
	case u.Scheme == "https" && u.Host != "":
	case u.Scheme == "http" && isLoopback(u.Hostname()):
	default:
		return "", fmt.Errorf("endpoint %q: want https (plain http only to a loopback address)", endpoint)
	}
	return strings.TrimRight(u.String(), "/") + path, nil
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
