package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/geofence/geofence/wire"
)

// keepAlive is the heartbeat loop of one session.
type keepAlive struct {
	cancel context.CancelFunc // stops the loop, and the heartbeat in flight
	done   chan struct{}      // closed when the loop has ended
	err    error              // why it ended by itself; set before done is closed
}

// keepAlive starts the heartbeats of r's session, when its datacenter expires sessions: one
// every Config.HeartbeatInterval, at most a third of the TTL, until Disconnect or until the
// datacenter answers that it no longer holds the session. A heartbeat that fails otherwise (a
// network error, a 5xx) is not retried before the next: the session outlives two of them.
func (c *Client) keepAlive(r *Result) {
	if r.SessionTTL <= 0 {
		return
	}
	interval := r.SessionTTL / 3
	if c.cfg.HeartbeatInterval > 0 {
		interval = min(interval, c.cfg.HeartbeatInterval)
	}
	ctx, cancel := context.WithCancel(context.Background())
	k := &keepAlive{cancel: cancel, done: make(chan struct{})}
	r.alive = k
	go func() {
		defer close(k.done)
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			hctx, hcancel := context.WithTimeout(ctx, min(c.cfg.AttemptTimeout, interval))
			err := c.heartbeat(hctx, r)
			hcancel()
			if errors.Is(err, ErrSessionLost) {
				k.err = err
				return
			}
		}
	}()
}

// Done returns a channel that is closed when the session has ended: Disconnect was called, or
// the datacenter no longer holds it (Err says so). It is nil, and never closed, for a session
// that is not kept alive (a datacenter that expires none, a Result without a session).
func (r *Result) Done() <-chan struct{} {
	if r.alive == nil {
		return nil
	}
	return r.alive.done
}

// Err is nil while the session lives and after Disconnect; once the datacenter no longer holds
// the session it matches ErrSessionLost.
func (r *Result) Err() error {
	if r.alive == nil {
		return nil
	}
	select {
	case <-r.alive.done:
		return r.alive.err
	default:
		return nil
	}
}

// Disconnect stops the heartbeats of the session r holds and ends it at its datacenter. A
// session the datacenter no longer holds (Result.Err) needs no request.
func (c *Client) Disconnect(ctx context.Context, r *Result) error {
	if r.alive != nil {
		r.alive.cancel()
		<-r.alive.done
		if r.alive.err != nil {
			return nil
		}
	}
	return c.disconnect(ctx, r)
}

func (c *Client) sendDisconnect(ctx context.Context, r *Result) error {
	u, err := endpointURL(r.Endpoint, wire.DisconnectPath)
	if err != nil {
		return fmt.Errorf("disconnect from %s: %w", r.Datacenter, err)
	}
	body, _ := json.Marshal(wire.Session{Session: r.Session})
	resp, err := c.post(ctx, u, body, nil)
	if err != nil {
		return fmt.Errorf("disconnect from %s: %w", r.Datacenter, err)
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, io.LimitReader(resp.Body, maxAgentResponse)) // keep the connection reusable
	if resp.StatusCode != http.StatusNoContent && resp.StatusCode != http.StatusOK {
		return fmt.Errorf("disconnect from %s: %s", r.Datacenter, resp.Status)
	}
	return nil
}

// sendHeartbeat renews r's session. An answer saying the session is unknown (or the request
// wrong, which only a datacenter that no longer speaks this protocol gives) matches
// ErrSessionLost; other failures may pass.
func (c *Client) sendHeartbeat(ctx context.Context, r *Result) error {
	u, err := endpointURL(r.Endpoint, wire.HeartbeatPath)
	if err != nil {
		return fmt.Errorf("heartbeat to %s: %w: %w", r.Datacenter, ErrSessionLost, err)
	}
	body, _ := json.Marshal(wire.Session{Session: r.Session})
	resp, err := c.post(ctx, u, body, nil)
	if err != nil {
		return fmt.Errorf("heartbeat to %s: %w", r.Datacenter, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, maxAgentResponse))
	switch {
	case resp.StatusCode == http.StatusNoContent || resp.StatusCode == http.StatusOK:
		return nil
	case resp.StatusCode >= 400 && resp.StatusCode < 500 && resp.StatusCode != http.StatusTooManyRequests:
		e, _ := parseError(b)
		return fmt.Errorf("heartbeat to %s: %w: %s %s: %s", r.Datacenter, ErrSessionLost, resp.Status, e.Error, e.Message)
	}
	return fmt.Errorf("heartbeat to %s: %s", r.Datacenter, resp.Status)
}
