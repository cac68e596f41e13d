package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/geofence/geofence/crypto/e2ee"
	"github.com/geofence/geofence/crypto/keywrap"
	"github.com/geofence/geofence/wire"
)

// ErrNoKey is matched by FetchKey's error when no key server of the ticket gave a key.
var ErrNoKey = errors.New("no key server gave the meeting key")

// MeetingKey is a managed meeting's key, unwrapped on the client.
type MeetingKey struct {
	KMS     string // the datacenter of the key server that issued it
	Country string
	Key     e2ee.EpochKey // redacted whenever printed
	// RotateAt, when set, is when the key server starts the meeting's next epoch, because
	// participants left: fetch the key again then.
	RotateAt time.Time
	// Attempts are the key servers tried, in order.
	Attempts []Attempt
}

// FetchKey asks the ticket's key servers, in the ticket's order, for the meeting key wrapped
// to priv, whose public key must be the one the ticket carries (Join's publicKey), and
// unwraps it bound to the meeting, epoch and participant (I5). A key server in a country the
// client's pin refuses is never asked; one that refuses or fails is recorded and the next is
// tried.
func (c *Client) FetchKey(ctx context.Context, res *Result, priv keywrap.PrivateKey) (*MeetingKey, error) {
	if priv.IsZero() || res.Claims.PublicKey != priv.PublicKey().String() {
		return nil, fmt.Errorf("fetch key: the ticket carries public key %q, not this private key's", res.Claims.PublicKey)
	}
	mk := &MeetingKey{}
	var last error = ErrNoKey
	for _, dc := range res.Claims.KMS {
		a := Attempt{Datacenter: dc.ID, Country: dc.Country, List: "kms"}
		if c.Pinned(dc.Country) {
			a.Outcome, a.Err = OutcomePinned, fmt.Errorf("key server %s is in %s, which the client's pin refuses", dc.ID, dc.Country)
			mk.Attempts = append(mk.Attempts, a)
			continue
		}
		began := time.Now()
		key, rotateAt, err := c.fetchFrom(ctx, res, dc.ID, dc.Endpoint, priv)
		a.Elapsed = time.Since(began)
		if err == nil {
			a.Outcome = OutcomeConnected
			mk.Attempts = append(mk.Attempts, a)
			mk.KMS, mk.Country, mk.Key, mk.RotateAt = dc.ID, dc.Country, key, rotateAt
			return mk, nil
		}
		a.Outcome, a.Err, last = OutcomeError, err, err
		mk.Attempts = append(mk.Attempts, a)
	}
	return mk, fmt.Errorf("fetch key: %w (last: %v)", ErrNoKey, last)
}

func (c *Client) fetchFrom(ctx context.Context, res *Result, id, endpoint string, priv keywrap.PrivateKey) (e2ee.EpochKey, time.Time, error) {
	var zero e2ee.EpochKey
	u, err := endpointURL(endpoint, strings.Replace(wire.KeyPath, "{id}", url.PathEscape(res.Claims.Meeting), 1))
	if err != nil {
		return zero, time.Time{}, fmt.Errorf("key server %s: %w", id, err)
	}
	actx, cancel := context.WithTimeout(ctx, c.cfg.AttemptTimeout)
	defer cancel()
	body, _ := json.Marshal(wire.KeyRequest{Token: res.Token, PublicKey: res.Claims.PublicKey})
	resp, err := c.post(actx, u, body, nil)
	if err != nil {
		return zero, time.Time{}, fmt.Errorf("key server %s: %w", id, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if err != nil {
		return zero, time.Time{}, fmt.Errorf("key server %s: %w", id, err)
	}
	if resp.StatusCode != http.StatusOK {
		e, _ := parseError(data)
		msg := e.Message
		if len(e.Rules) > 0 {
			msg += " (rules: " + strings.Join(e.Rules, ", ") + ")"
		}
		return zero, time.Time{}, fmt.Errorf("key server %s refused: %d %s: %s", id, resp.StatusCode, e.Error, msg)
	}
	var ka wire.KeyResponse
	if err := json.Unmarshal(data, &ka); err != nil {
		return zero, time.Time{}, fmt.Errorf("key server %s: answer: %w", id, err)
	}
	if ka.Meeting != res.Claims.Meeting || ka.KMS != id {
		return zero, time.Time{}, fmt.Errorf("key server %s answered for meeting %q from %q", id, ka.Meeting, ka.KMS)
	}
	w, err := keywrap.ParseWrapped(ka.Wrapped)
	if err != nil {
		return zero, time.Time{}, fmt.Errorf("key server %s: %w", id, err)
	}
	raw, err := keywrap.Unwrap(priv, w, keywrap.Binding{Meeting: res.Claims.Meeting, Epoch: ka.Epoch, Participant: res.Claims.Participant})
	if err != nil {
		return zero, time.Time{}, fmt.Errorf("key server %s: %w", id, err)
	}
	k, err := e2ee.NewEpochKey(ka.Epoch, raw)
	clear(raw)
	return k, ka.RotateAt, err
}
