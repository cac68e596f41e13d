package client

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/geofence/geofence/geo"
	"github.com/geofence/geofence/ticket"
	"github.com/geofence/geofence/wire"
)

// DefaultIssuer is the issuer name ("iss") of the directory's tickets.
const DefaultIssuer = wire.TicketIssuer

// Defaults of Config.
const (
	// DefaultStagger is the delay before the next primary is tried while the previous
	// attempt is still pending: DESIGN.md section 4, and RFC 8305 section 5's recommended
	// Connection Attempt Delay.
	DefaultStagger = 250 * time.Millisecond
	// DefaultAttemptTimeout bounds one connection attempt.
	DefaultAttemptTimeout = 3 * time.Second
	// DefaultPrimaryBudget is how long the primaries have, from the first attempt, before
	// the secondaries join the race.
	DefaultPrimaryBudget = time.Second
)

var (
	// ErrNoDatacenter is matched by Join's error when no datacenter of the ticket could be
	// reached: every attempt failed, or the pinned policy dropped them all.
	ErrNoDatacenter = errors.New("no datacenter reachable")
	// ErrAllPinned is matched, with ErrNoDatacenter, when the client's pinned policy
	// (Config.PinDeny) dropped every datacenter of the ticket.
	ErrAllPinned = errors.New("every datacenter of the ticket is in a country the client refuses")
	// ErrUntrustedTicket is matched by Join's error when the directory's ticket does not
	// verify, or when its signed claims disagree with the answer or the request.
	ErrUntrustedTicket = errors.New("untrusted ticket")
	// ErrSessionLost is matched by Result.Err when the datacenter no longer holds the
	// session: it expired (the heartbeats did not reach it for its TTL) or a newer connect of
	// the same participant to the meeting replaced it. Join again for a new session.
	ErrSessionLost = errors.New("the datacenter no longer holds the session")
)

// Config configures a Client. Directory is required; every other field's zero value is its
// default. The Client keeps a copy: changing Config after New has no effect.
type Config struct {
	// Directory is the directory's base URL, https (or http to a loopback address, for
	// `geofence dev`). Required.
	Directory string
	// HTTPClient makes every request: the join, the key set fetch and the connection
	// attempts. Nil means http.DefaultClient.
	HTTPClient *http.Client
	// Issuer is the issuer name the tickets must carry; "" means DefaultIssuer.
	Issuer string
	// PinDeny lists the countries (ISO 3166-1 alpha-2, any case) the client never connects
	// to, whatever the ticket says: the client's own pinned policy.
	PinDeny []string
	// Stagger is how long an attempt on a primary gets before the next primary is started
	// beside it; zero means DefaultStagger.
	Stagger time.Duration
	// AttemptTimeout bounds each connection attempt; zero means DefaultAttemptTimeout.
	AttemptTimeout time.Duration
	// PrimaryBudget is how long the primaries have, from the first attempt, before the two
	// secondaries are started at once. The secondaries start earlier when every primary has
	// failed, and never before every primary has been started; primaries still pending go
	// on racing them. A black-holed primary never answers, so without a budget the secondaries
	// would wait for the last primary's AttemptTimeout. Zero means DefaultPrimaryBudget.
	PrimaryBudget time.Duration
	// ClientIP, when set, is sent as X-Forwarded-For with the join, for `geofence dev` and
	// tests (a directory believes it only from a trusted proxy).
	ClientIP string
	// HeartbeatInterval is the time between the heartbeats that keep a session alive; zero
	// means a third of the session TTL the datacenter announces, so that a session survives
	// two lost heartbeats. It is never longer than that third.
	HeartbeatInterval time.Duration
	// Now is the clock tickets' lifetimes are checked with; nil means time.Now. Staggers,
	// timeouts and elapsed times use the monotonic clock.
	Now func() time.Time
}

// Client joins meetings. It is safe for concurrent use.
type Client struct {
	cfg  Config
	base string // Directory without a trailing slash
	http *http.Client
	keys *ticket.RemoteKeys
	pin  map[string]bool

	// connectTo, disconnect and heartbeat are the network side of a connection attempt and
	// of a session; tests replace them to step the race and the heartbeats in virtual time.
	connectTo  func(ctx context.Context, dc wire.DC, token string) (wire.Connected, string, error)
	disconnect func(ctx context.Context, r *Result) error
	heartbeat  func(ctx context.Context, r *Result) error
}

// New checks cfg and returns a Client.
func New(cfg Config) (*Client, error) {
	u, err := url.Parse(cfg.Directory)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("new client: directory %q is not an http(s) base URL", cfg.Directory)
	}
	if cfg.Issuer == "" {
		cfg.Issuer = DefaultIssuer
	}
	if cfg.PrimaryBudget == 0 {
		cfg.PrimaryBudget = DefaultPrimaryBudget
	}
	if cfg.Stagger < 0 || cfg.AttemptTimeout < 0 || cfg.PrimaryBudget < 0 || cfg.HeartbeatInterval < 0 {
		return nil, errors.New("new client: negative stagger, attempt timeout, primary budget or heartbeat interval")
	}
	if cfg.Stagger == 0 {
		cfg.Stagger = DefaultStagger
	}
	if cfg.AttemptTimeout == 0 {
		cfg.AttemptTimeout = DefaultAttemptTimeout
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = http.DefaultClient
	}
	pin := map[string]bool{}
	for _, cc := range cfg.PinDeny {
		k, ok := geo.LookupCountry(strings.ToUpper(strings.TrimSpace(cc)))
		if !ok {
			// A typo must not silently pin nothing.
			return nil, fmt.Errorf("new client: pinned country %q is not an ISO 3166-1 alpha-2 code", cc)
		}
		pin[k.Code()] = true
	}
	cfg.PinDeny = slices.Clone(cfg.PinDeny)
	c := &Client{cfg: cfg, base: strings.TrimRight(cfg.Directory, "/"), http: cfg.HTTPClient, pin: pin}
	c.connectTo, c.disconnect, c.heartbeat = c.connect, c.sendDisconnect, c.sendHeartbeat
	// RemoteKeys refuses plain http to anything but loopback: a key set fetched over it would
	// let anyone on the path mint tickets.
	c.keys, err = ticket.NewRemoteKeys(c.base+ticket.JWKSPath, cfg.HTTPClient, cfg.Issuer, cfg.Now)
	if err != nil {
		return nil, fmt.Errorf("new client: %w", err)
	}
	return c, nil
}

// Pinned reports whether the client's pinned policy refuses the country.
func (c *Client) Pinned(country string) bool { return c.pin[strings.ToUpper(country)] }

// CloseIdleConnections closes the idle connections of the Client's HTTP client.
func (c *Client) CloseIdleConnections() { c.http.CloseIdleConnections() }

// Attempt outcomes.
const (
	OutcomeConnected = "connected" // the winner
	OutcomeRefused   = "refused"   // the datacenter answered with a refusal (Attempt.Code says which)
	OutcomeTimeout   = "timeout"   // no answer within AttemptTimeout
	OutcomeError     = "error"     // the connection failed (reset, refused, a bad answer)
	OutcomePinned    = "pinned"    // not tried: the country is in PinDeny
	OutcomeCanceled  = "canceled"  // stopped because another attempt won, or Join's context ended
)

// Attempt is one datacenter the client tried, or dropped.
type Attempt struct {
	Datacenter string
	Country    string
	List       string // wire.ListPrimary or wire.ListSecondary
	Outcome    string // one of the Outcome constants
	// Started is when the attempt started, since Join was called; zero for pinned.
	Started time.Duration
	// Elapsed is how long the attempt ran.
	Elapsed time.Duration
	// Code is the datacenter's refusal code (invalid_ticket, not_listed, residency_conflict,
	// plan_conflict, no_capacity...) when Outcome is OutcomeRefused.
	Code string
	// Err says why the attempt did not win; nil for the winner.
	Err error
}

// Result is a successful join: the datacenter connected to, and how, and the session the
// participant holds there. Join keeps the session alive with heartbeats until Disconnect;
// Done and Err say whether the datacenter still holds it.
type Result struct {
	Datacenter string
	List       string // wire.ListPrimary or wire.ListSecondary
	Endpoint   string
	// Session identifies the connection at the datacenter; Disconnect ends it.
	Session string
	// SessionTTL is how long the datacenter keeps the session without a heartbeat; zero when
	// it expires none (and no heartbeats are sent).
	SessionTTL time.Duration
	// Elapsed is the time from Join's call to the winning connection, the directory's answer
	// included.
	Elapsed time.Duration
	// Attempts are the datacenters tried or pinned away, in the order they were started.
	Attempts []Attempt
	// Claims is the verified ticket: what the directory signed.
	Claims wire.Claims
	// Token is the signed ticket, for the key servers.
	Token string

	alive *keepAlive // the heartbeat loop; nil when none runs
}

// Join asks the directory for a ticket to join meeting as participant of account, checks it,
// and connects to a datacenter (see the package documentation). participant may be empty:
// the directory then names the participant (Result.Claims.Participant). publicKey is the
// participant's HPKE public key, which the ticket must carry unchanged.
//
// Join returns when every attempt has ended. A loser whose request was sent may yet be
// admitted, so it is given as long as the winner took plus min(Stagger, 100 ms), from its own
// start, to finish, and is disconnected if it connects; Result.Elapsed is the time to the
// winner. The winner's session is then kept alive by heartbeats (Config.HeartbeatInterval),
// in a goroutine that runs until Disconnect or until the datacenter no longer holds the
// session (Result.Done): a caller that joined must call Disconnect.
//
// Errors: a *Refusal when the directory refuses; ErrUntrustedTicket when the ticket does not
// verify or disagrees with the answer; ErrNoDatacenter when no datacenter could be reached,
// in which case the Result is returned too, with its Attempts; ctx's error when it ends first
// (with the Result too).
func (c *Client) Join(ctx context.Context, meeting, account, participant, publicKey string) (*Result, error) {
	if meeting == "" || account == "" {
		return nil, errors.New("join: meeting and account are required")
	}
	return c.join(ctx, meeting, account, participant, publicKey, "")
}

// JoinWithToken is Join with a join token minted by the account's backend (see
// MintJoinToken): the directory takes the account and participant from the token, and the
// ticket must name the same. This is how a participant joins a production directory; Join
// without a token works only where the directory trusts the caller (`geofence dev` on
// loopback).
func (c *Client) JoinWithToken(ctx context.Context, meeting, token, publicKey string) (*Result, error) {
	if meeting == "" || token == "" {
		return nil, errors.New("join: meeting and token are required")
	}
	account, participant, err := tokenIdentity(token)
	if err != nil {
		return nil, fmt.Errorf("join meeting %s: %w", meeting, err)
	}
	return c.join(ctx, meeting, account, participant, publicKey, token)
}

// tokenIdentity reads the account and participant a join token names, without verifying it:
// it is the caller's own token, and the directory verifies it. They are what the ticket must
// name.
func tokenIdentity(token string) (account, participant string, err error) {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return "", "", errors.New("the join token is not a compact JWS (header.payload.signature)")
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return "", "", fmt.Errorf("the join token's payload is not base64url: %w", err)
	}
	var jc wire.JoinClaims
	if err := json.Unmarshal(payload, &jc); err != nil {
		return "", "", fmt.Errorf("the join token's claims: %w", err)
	}
	if jc.Account == "" || jc.Participant == "" {
		return "", "", errors.New("the join token names no account (iss) or participant (sub)")
	}
	return jc.Account, jc.Participant, nil
}

func (c *Client) join(ctx context.Context, meeting, account, participant, publicKey, token string) (*Result, error) {
	start := time.Now()
	ans, err := c.requestJoin(ctx, meeting, token, wire.JoinRequest{Account: account, Participant: participant, PublicKey: publicKey})
	if err != nil {
		return nil, fmt.Errorf("join meeting %s: %w", meeting, err)
	}
	claims, err := c.keys.Verify(ctx, ans.Token)
	if err != nil {
		return nil, fmt.Errorf("join meeting %s: %w: %w", meeting, ErrUntrustedTicket, err)
	}
	if err := checkTicket(ans, &claims, meeting, account, participant, publicKey); err != nil {
		return nil, fmt.Errorf("join meeting %s: %w: %w", meeting, ErrUntrustedTicket, err)
	}
	res := &Result{Claims: claims, Token: ans.Token}
	// The home carries this participant's media too, through a bridge (I1): a home in a
	// pinned country is as unacceptable as a pinned primary.
	if claims.HomeCountry != "" && c.Pinned(claims.HomeCountry) {
		return res, fmt.Errorf("join meeting %s: %w: the meeting's home datacenter %s is in %s, which the client pins away",
			meeting, ErrNoDatacenter, claims.Home, claims.HomeCountry)
	}

	// From here on only the signed lists are used.
	var prim, sec []candidate
	for _, l := range []struct {
		name string
		dcs  []wire.DC
		to   *[]candidate
	}{{wire.ListPrimary, claims.Primary, &prim}, {wire.ListSecondary, claims.Secondary, &sec}} {
		for _, dc := range l.dcs {
			if c.Pinned(dc.Country) {
				res.Attempts = append(res.Attempts, Attempt{Datacenter: dc.ID, Country: dc.Country, List: l.name,
					Outcome: OutcomePinned, Err: fmt.Errorf("country %s is in the client's pinned deny list", dc.Country)})
				continue
			}
			*l.to = append(*l.to, candidate{dc: dc, list: l.name})
		}
	}
	if len(prim)+len(sec) == 0 {
		return res, fmt.Errorf("join meeting %s: %w: %w (%s); the directory offered nothing else",
			meeting, ErrNoDatacenter, ErrAllPinned, summary(res.Attempts))
	}
	if err := c.race(ctx, res, prim, sec, start); err != nil {
		return res, fmt.Errorf("join meeting %s: %w", meeting, err)
	}
	c.keepAlive(res)
	return res, nil
}

func (c *Client) requestJoin(ctx context.Context, meeting, token string, req wire.JoinRequest) (*wire.JoinResponse, error) {
	body, err := json.Marshal(req)
	if err != nil {
		return nil, err
	}
	u := c.base + "/v1/meetings/" + url.PathEscape(meeting) + "/join"
	hdr := http.Header{}
	if c.cfg.ClientIP != "" {
		hdr.Set("X-Forwarded-For", c.cfg.ClientIP)
	}
	if token != "" {
		hdr.Set("Authorization", "Bearer "+token)
	}
	resp, err := c.post(ctx, u, body, hdr)
	if err != nil {
		return nil, fmt.Errorf("ask the directory: %w", err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxJoinResponse+1))
	if err != nil {
		return nil, fmt.Errorf("read the directory's answer: %w", err)
	}
	if len(b) > maxJoinResponse {
		return nil, fmt.Errorf("the directory's answer is larger than %d bytes", maxJoinResponse)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, parseRefusal(resp.StatusCode, resp.Header, b, c.cfg.Now)
	}
	ans, err := parseJoinResponse(b)
	if err != nil {
		return nil, fmt.Errorf("the directory's answer: %w", err)
	}
	return ans, nil
}

func (c *Client) post(ctx context.Context, u string, body []byte, hdr http.Header) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	for k, v := range hdr {
		req.Header[k] = v
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	return c.http.Do(req)
}

// checkTicket checks that the signed claims are for what was asked, and say what the
// unsigned answer says: never trust unsigned JSON, and never accept a ticket for someone
// else (it would carry another public key, to which a key server would wrap the meeting key).
func checkTicket(ans *wire.JoinResponse, c *wire.Claims, meeting, account, participant, publicKey string) error {
	var bad []string
	differ := func(what, signed, other string) {
		if signed != other {
			bad = append(bad, fmt.Sprintf("%s: signed %q, %q", what, signed, other))
		}
	}
	differ("meeting asked for", c.Meeting, meeting)
	differ("account asked for", c.Account, account)
	if participant != "" {
		differ("participant asked for", c.Participant, participant)
	}
	differ("public key sent", c.PublicKey, publicKey)
	differ("meeting in the answer", c.Meeting, ans.Meeting)
	differ("region in the answer", c.Region, ans.Region)
	differ("home in the answer", c.Home, ans.Home)
	for _, l := range []struct {
		name           string
		signed, answer []wire.DC
	}{{wire.ListPrimary, c.Primary, ans.Primary}, {wire.ListSecondary, c.Secondary, ans.Secondary}, {wire.ListKMS, c.KMS, ans.KMS}} {
		if !slices.Equal(l.signed, l.answer) {
			bad = append(bad, fmt.Sprintf("%s in the answer: signed %s, %s", l.name, dcList(l.signed), dcList(l.answer)))
		}
	}
	if len(bad) > 0 {
		return fmt.Errorf("the signed ticket disagrees: %s", strings.Join(bad, "; "))
	}
	return nil
}

func dcList(dcs []wire.DC) string {
	parts := make([]string, len(dcs))
	for i, d := range dcs {
		parts[i] = d.ID + "/" + d.Country + "@" + d.Endpoint
	}
	return "[" + strings.Join(parts, " ") + "]"
}

// summary lists attempts for an error message.
func summary(as []Attempt) string {
	parts := make([]string, len(as))
	for i, a := range as {
		parts[i] = fmt.Sprintf("%s (%s, %s): %s", a.Datacenter, a.List, a.Country, a.Outcome)
		if a.Err != nil && a.Outcome != OutcomePinned {
			parts[i] += ": " + a.Err.Error()
		}
	}
	return strings.Join(parts, "; ")
}
