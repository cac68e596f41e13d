package ticket

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/geofence/geofence/wire"
	"io"
	"net"
	"net/http"
	"net/url"
	"sync/atomic"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

const (
	// DefaultMinInterval is RemoteKeys' default MinInterval.
	DefaultMinInterval = 10 * time.Second

	// maxJWKSSize bounds the key set RemoteKeys reads; a set of ten Ed25519 keys is about 1.5 KiB.
	maxJWKSSize = 1 << 20
)

// RemoteKeys verifies tickets with the key set the directory publishes at a URL. It fetches
// the set on first use and caches it; it fetches it again when the cached set is older than
// MaxAge, and when a ticket names a kid the cached set lacks, which is how a verifier follows
// Signer.Rotate. Fetches for unknown kids are at least MinInterval apart, so tokens with
// made-up kids cannot turn a verifier into a load generator against the directory; so are
// the retries of a failed fetch.
//
// When a fetch fails, RemoteKeys keeps verifying with the last set it fetched, however old
// (static stability: the directory being down must not stop media servers admitting
// participants with valid tickets). Until a first fetch succeeds, Verify fails.
//
// A RemoteKeys is safe for concurrent use. Set its fields before the first Verify.
type RemoteKeys struct {
	// Audience is the Verifier.Audience of every verifier built; empty means not checked.
	Audience string
	// MaxAge is how long a fetched set is used before it is fetched again. Zero means
	// DefaultMaxAge.
	MaxAge time.Duration
	// MinInterval is the least time between two fetches for unknown kids, and between a failed
	// fetch and its retry. Zero means DefaultMinInterval.
	MinInterval time.Duration

	url    string
	client *http.Client
	issuer string
	now    func() time.Time

	// fetching is a one-slot semaphore: one fetch at a time. It guards the two times below.
	fetching    chan struct{}
	lastFetch   time.Time // when the last fetch started, whatever its reason
	lastUnknown time.Time // when the last fetch for an unknown kid started
	cur         atomic.Pointer[remoteSet]
}

type remoteSet struct {
	v       *Verifier
	fetched time.Time
}

// NewRemoteKeys returns a RemoteKeys that fetches the key set from rawURL with client (nil
// means http.DefaultClient) and accepts tickets issued by issuer. now is the clock; nil means
// time.Now. rawURL must be https, or http to a loopback address (for `geofence dev`): a key
// set fetched over plain HTTP lets anyone on the path mint tickets.
func NewRemoteKeys(rawURL string, client *http.Client, issuer string, now func() time.Time) (*RemoteKeys, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, fmt.Errorf("new remote ticket keys: %w", err)
	}
	switch {
	case u.Scheme == "https" && u.Host != "":
	case u.Scheme == "http" && isLoopback(u.Hostname()):
	default:
		return nil, fmt.Errorf("new remote ticket keys: url %q: use https (plain http only to a loopback address)", rawURL)
	}
	if issuer == "" {
		return nil, errors.New("new remote ticket keys: empty issuer")
	}
	if client == nil {
		client = http.DefaultClient
	}
	if now == nil {
		now = time.Now
	}
	return &RemoteKeys{
		url:      u.String(),
		client:   client,
		issuer:   issuer,
		now:      now,
		fetching: make(chan struct{}, 1),
	}, nil
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func (r *RemoteKeys) maxAge() time.Duration {
	if r.MaxAge > 0 {
		return r.MaxAge
	}
	return DefaultMaxAge
}

func (r *RemoteKeys) minInterval() time.Duration {
	if r.MinInterval > 0 {
		return r.MinInterval
	}
	return DefaultMinInterval
}

// Verify checks token as Verifier.Verify does, with the directory's current key set. ctx
// bounds the fetch Verify may make.
func (r *RemoteKeys) Verify(ctx context.Context, token string) (wire.Claims, error) {
	// Parse first: a malformed token costs no fetch.
	p, err := parse(token)
	if err != nil {
		return wire.Claims{}, err
	}
	set := r.cur.Load()
	if set == nil || !r.now().Before(set.fetched.Add(r.maxAge())) {
		fresh, err := r.refresh(ctx, set, fetchStale)
		switch {
		case err == nil:
			set = fresh
		case set == nil:
			return wire.Claims{}, err
		}
	}
	key, ok := set.v.keys[p.kid]
	if !ok {
		// Perhaps the directory rotated to a key published after our last fetch.
		fresh, err := r.refresh(ctx, set, fetchUnknown)
		if err == nil {
			set = fresh
			key, ok = set.v.keys[p.kid]
		}
		if !ok {
			if err != nil && !errors.Is(err, errTooSoon) {
				return wire.Claims{}, fmt.Errorf("%w: %w: kid %q (refreshing the key set: %w)", ErrInvalid, ErrUnknownKey, p.kid, err)
			}
			return wire.Claims{}, fmt.Errorf("%w: %w: kid %q", ErrInvalid, ErrUnknownKey, p.kid)
		}
	}
	return set.v.verify(p, key)
}

// Refresh fetches the key set now, whatever MinInterval says. Call it at start-up to fail
// early on a wrong URL or a key set with no usable key.
func (r *RemoteKeys) Refresh(ctx context.Context) error {
	_, err := r.refresh(ctx, r.cur.Load(), fetchForced)
	return err
}

var errTooSoon = errors.New("fetched less than MinInterval ago")

// Why refresh fetches; each is rate limited on its own, so that a scheduled refresh does not
// delay learning a key the directory has just rotated to, while tokens with made-up kids
// still cost at most one fetch per MinInterval.
type fetchReason int

const (
	fetchStale   fetchReason = iota // the cached set is older than MaxAge, or there is none
	fetchUnknown                    // a token names a kid the cached set lacks
	fetchForced                     // Refresh
)

// refresh fetches the key set, unless another fetch replaced seen while it waited, or the
// last fetch (for fetchUnknown, the last fetch for an unknown kid) started less than
// MinInterval ago.
func (r *RemoteKeys) refresh(ctx context.Context, seen *remoteSet, why fetchReason) (*remoteSet, error) {
	select {
	case r.fetching <- struct{}{}:
	case <-ctx.Done():
		return nil, fmt.Errorf("fetch ticket keys: %w", ctx.Err())
	}
	defer func() { <-r.fetching }()
	if cur := r.cur.Load(); cur != seen && why != fetchForced {
		return cur, nil // someone fetched while we waited
	}
	now := r.now()
	if why != fetchForced {
		last := r.lastFetch
		if why == fetchUnknown {
			last = r.lastUnknown
		}
		if !last.IsZero() && now.Sub(last) < r.minInterval() {
			return nil, fmt.Errorf("fetch ticket keys: %w", errTooSoon)
		}
	}
	r.lastFetch = now
	if why == fetchUnknown {
		r.lastUnknown = now
	}
	v, err := r.fetch(ctx)
	if err != nil {
		return nil, fmt.Errorf("fetch ticket keys from %s: %w", r.url, err)
	}
	set := &remoteSet{v: v, fetched: now}
	r.cur.Store(set)
	return set, nil
}

func (r *RemoteKeys) fetch(ctx context.Context) (*Verifier, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, r.url, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/jwk-set+json, application/json")
	resp, err := r.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("status %s", resp.Status)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxJWKSSize+1))
	if err != nil {
		return nil, err
	}
	if len(body) > maxJWKSSize {
		return nil, fmt.Errorf("key set is larger than %d bytes", maxJWKSSize)
	}
	set, err := parseJWKS(body)
	if err != nil {
		return nil, err
	}
	v, err := NewVerifier(set, r.issuer, r.now)
	if err != nil {
		return nil, err
	}
	v.Audience = r.Audience
	return v, nil
}

// parseJWKS decodes a key set, skipping the keys of types go-jose does not know, as RFC 7517
// section 5 asks: go-jose's JSONWebKeySet would reject the whole set for one of them, so a
// directory publishing a newer kind of key beside its Ed25519 keys would break every verifier.
func parseJWKS(body []byte) (jose.JSONWebKeySet, error) {
	var raw struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := json.Unmarshal(body, &raw); err != nil {
		return jose.JSONWebKeySet{}, fmt.Errorf("decode key set: %w", err)
	}
	if raw.Keys == nil {
		return jose.JSONWebKeySet{}, errors.New(`decode key set: no "keys" member`)
	}
	var set jose.JSONWebKeySet
	for i, m := range raw.Keys {
		var k jose.JSONWebKey
		if err := k.UnmarshalJSON(m); err != nil {
			if errors.Is(err, jose.ErrUnsupportedKeyType) {
				continue
			}
			return jose.JSONWebKeySet{}, fmt.Errorf("decode key set: key %d: %w", i, err)
		}
		set.Keys = append(set.Keys, k)
	}
	return set, nil
}
