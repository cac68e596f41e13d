package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"

	"github.com/geofence/geofence/crypto/e2ee"
	"github.com/geofence/geofence/crypto/keywrap"
)

// ErrNoKey is matched by FetchKey's error when no key server of the ticket gave a key.
var ErrNoKey = errors.New("no key server gave the meeting key")

// MeetingKey is a managed meeting's key, unwrapped on the client.
type MeetingKey struct {
	KMS     string // the datacenter of the key server that issued it
	Country string
	Key     e2ee.EpochKey // redacted whenever printed
	// Attempts are the key servers tried, in order.
	Attempts []Attempt
}

// keyAnswer is a key server's 200 answer (package kms's KeyResponse).
type keyAnswer struct {
	Meeting string `json:"meeting"`
	Epoch   uint64 `json:"epoch"`
	Suite   string `json:"suite"`
	Wrapped string `json:"wrapped"`
	KMS     string `json:"kms"`
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
		key, err := c.fetchFrom(ctx, res, dc.ID, dc.Endpoint, priv)
		a.Elapsed = time.Since(began)
		if err == nil {
			a.Outcome = OutcomeConnected
			mk.Attempts = append(mk.Attempts, a)
			mk.KMS, mk.Country, mk.Key = dc.ID, dc.Country, key
			return mk, nil
		}
		a.Outcome, a.Err, last = OutcomeError, err, err
		mk.Attempts = append(mk.Attempts, a)
	}
	return mk, fmt.Errorf("fetch key: %w (last: %v)", ErrNoKey, last)
}

func (c *Client) fetchFrom(ctx context.Context, res *Result, id, endpoint string, priv keywrap.PrivateKey) (e2ee.EpochKey, error) {
	var zero e2ee.EpochKey
	u, err := endpointURL(endpoint, "/v1/meetings/"+url.PathEscape(res.Claims.Meeting)+"/key")
	if err != nil {
		return zero, fmt.Errorf("key server %s: %w", id, err)
	}
	actx, cancel := context.WithTimeout(ctx, c.cfg.AttemptTimeout)
	defer cancel()
	body, _ := json.Marshal(map[string]string{"token": res.Token, "public_key": res.Claims.PublicKey})
	resp, err := c.post(actx, u, body, nil)
	if err != nil {
		return zero, fmt.Errorf("key server %s: %w", id, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if err != nil {
		return zero, fmt.Errorf("key server %s: %w", id, err)
	}
	if resp.StatusCode != http.StatusOK {
		var e struct{ Error, Message, Rule string }
		json.Unmarshal(data, &e)
		return zero, fmt.Errorf("key server %s refused: %d %s: %s", id, resp.StatusCode, e.Error, e.Message)
	}
	var ka keyAnswer
	if err := json.Unmarshal(data, &ka); err != nil {
		return zero, fmt.Errorf("key server %s: answer: %w", id, err)
	}
	if ka.Meeting != res.Claims.Meeting || ka.KMS != id {
		return zero, fmt.Errorf("key server %s answered for meeting %q from %q", id, ka.Meeting, ka.KMS)
	}
	w, err := keywrap.ParseWrapped(ka.Wrapped)
	if err != nil {
		return zero, fmt.Errorf("key server %s: %w", id, err)
	}
	raw, err := keywrap.Unwrap(priv, w, keywrap.Binding{Meeting: res.Claims.Meeting, Epoch: ka.Epoch, Participant: res.Claims.Participant})
	if err != nil {
		return zero, fmt.Errorf("key server %s: %w", id, err)
	}
	k, err := e2ee.NewEpochKey(ka.Epoch, raw)
	clear(raw)
	return k, err
}
