package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http/httptrace"
	"sync/atomic"
	"time"

	"github.com/geofence/geofence/wire"
)

// candidate is a datacenter the client may try.
type candidate struct {
	dc   wire.DC
	list string
}

// attemptResult is what an attempt's goroutine reports.
type attemptResult struct {
	idx        int
	connected  wire.Connected
	code       string
	outcome    string
	err        error
	began, end time.Time
}

// Causes of an attempt's context ending.
var (
	errAttemptTimeout = errors.New("attempt timed out")
	errLost           = errors.New("another attempt won")
)

// maxLoserGrace bounds how long a loser that may be about to succeed is left to finish once
// another attempt has won (see race).
const maxLoserGrace = 100 * time.Millisecond

// live is a running attempt.
type live struct {
	began  time.Time
	cancel context.CancelCauseFunc
	wrote  *atomic.Bool // the connect request was written: the datacenter may admit it
}

// race connects to the first datacenter that answers, as DESIGN.md section 4 and RFC 8305
// section 5 say: primaries one after another, each started Stagger after the previous one
// (or as soon as the previous one fails) while the earlier ones go on; when every primary
// has failed or PrimaryBudget has passed since the first, the secondaries all at once. It appends the attempts to res and fills in the
// winner. Every goroutine it starts has ended when it returns.
//
// Unlike RFC 8305's TCP handshakes, an attempt leaves state behind: a datacenter that admits
// it counts a participant. So losers are not all canceled at once when an attempt wins: a
// loser whose request was sent may be admitted yet, so it is given until it has run as long as
// the winner took plus a grace of min(Stagger, maxLoserGrace), and disconnected if it connects
// meanwhile. A loser that has already run longer than that, or whose request was not sent, is
// canceled at once: a black-holed primary never delays the winner of the stagger.
func (c *Client) race(ctx context.Context, res *Result, prim, sec []candidate, start time.Time) error {
	raceCtx, cancelRace := context.WithCancelCause(ctx)
	defer cancelRace(nil)
	results := make(chan attemptResult, len(prim)+len(sec)) // never blocks a goroutine
	running := map[int]*live{}                              // by attempt index
	endpoints := map[int]string{}
	launch := func(cd candidate) {
		idx := len(res.Attempts)
		endpoints[idx] = cd.dc.Endpoint
		l := &live{began: time.Now(), wrote: new(atomic.Bool)}
		actx, cancel := context.WithCancelCause(raceCtx)
		l.cancel = cancel
		actx = httptrace.WithClientTrace(actx, &httptrace.ClientTrace{
			WroteRequest: func(i httptrace.WroteRequestInfo) {
				if i.Err == nil {
					l.wrote.Store(true)
				}
			},
		})
		res.Attempts = append(res.Attempts, Attempt{Datacenter: cd.dc.ID, Country: cd.dc.Country, List: cd.list, Started: l.began.Sub(start)})
		running[idx] = l
		go func() { results <- c.attempt(actx, idx, cd.dc, res.Token, l.began) }()
	}

	stagger := time.NewTimer(c.cfg.Stagger)
	stagger.Stop()
	defer stagger.Stop()
	var staggerC <-chan time.Time
	nextPrim := 0
	startPrimary := func() {
		launch(prim[nextPrim])
		nextPrim++
		staggerC = nil
		if nextPrim < len(prim) {
			stagger.Reset(c.cfg.Stagger)
			staggerC = stagger.C
		}
	}
	budget := time.NewTimer(c.cfg.PrimaryBudget)
	defer budget.Stop()
	budgetC, budgetSpent := budget.C, false
	secStarted := false
	startSecondariesWhenDue := func() {
		if secStarted || nextPrim < len(prim) || len(running) > 0 && !budgetSpent {
			return
		}
		secStarted = true
		for _, cd := range sec {
			launch(cd)
		}
	}
	var graceTimers []*time.Timer
	defer func() {
		for _, t := range graceTimers {
			t.Stop()
		}
	}()
	endLosers := func(winnerLatency time.Duration) {
		now := time.Now()
		grace := min(c.cfg.Stagger, maxLoserGrace)
		for _, l := range running {
			until := l.began.Add(winnerLatency + grace)
			if !l.wrote.Load() || !until.After(now) {
				l.cancel(errLost)
				continue
			}
			graceTimers = append(graceTimers, time.AfterFunc(until.Sub(now), func() { l.cancel(errLost) }))
		}
	}

	if len(prim) > 0 {
		startPrimary()
	}
	startSecondariesWhenDue() // at once when there is no primary
	winner := -1
	var extra []attemptResult // losers that connected too
	for len(running) > 0 {
		select {
		case <-budgetC:
			budgetC, budgetSpent = nil, true
			if winner < 0 && ctx.Err() == nil {
				startSecondariesWhenDue()
			}
		case <-staggerC:
			staggerC = nil
			if winner < 0 && ctx.Err() == nil && nextPrim < len(prim) {
				startPrimary()
			}
		case r := <-results:
			running[r.idx].cancel(nil)
			delete(running, r.idx)
			a := &res.Attempts[r.idx]
			a.Elapsed = r.end.Sub(r.began)
			switch {
			case r.err == nil && winner < 0 && ctx.Err() == nil:
				winner = r.idx
				a.Outcome = OutcomeConnected
				res.Datacenter, res.List, res.Endpoint = a.Datacenter, a.List, endpoints[r.idx]
				res.Session, res.SessionTTL = r.connected.Session, sessionTTL(r.connected)
				res.Elapsed = r.end.Sub(start)
				stagger.Stop()
				staggerC = nil
				endLosers(a.Elapsed)
			case r.err == nil:
				extra = append(extra, r)
				a.Outcome = OutcomeCanceled
				a.Err = errors.New("connected after another attempt won; disconnected")
			default:
				a.Outcome, a.Code, a.Err = r.outcome, r.code, r.err
			}
			if winner < 0 && ctx.Err() == nil {
				if r.err != nil && nextPrim < len(prim) {
					startPrimary() // a failure starts the next primary at once
				}
				startSecondariesWhenDue()
			}
		}
	}
	// A datacenter that admitted a loser counts it as a participant until told otherwise.
	for _, r := range extra {
		lost := &Result{Datacenter: res.Attempts[r.idx].Datacenter, Endpoint: endpoints[r.idx], Session: r.connected.Session}
		dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), c.cfg.AttemptTimeout)
		if err := c.disconnect(dctx, lost); err != nil {
			res.Attempts[r.idx].Err = fmt.Errorf("connected after another attempt won; %w", err)
		}
		cancel()
	}
	switch {
	case winner >= 0:
		return nil
	case ctx.Err() != nil:
		return fmt.Errorf("connect: %w", ctx.Err())
	}
	return fmt.Errorf("%w: %s", ErrNoDatacenter, summary(res.Attempts))
}

// attempt is one connection attempt: the DC agent's POST /v1/connect with the ticket, within
// AttemptTimeout.
func (c *Client) attempt(ctx context.Context, idx int, dc wire.DC, token string, began time.Time) attemptResult {
	r := attemptResult{idx: idx, began: began}
	actx, cancel := context.WithTimeoutCause(ctx, c.cfg.AttemptTimeout, errAttemptTimeout)
	defer cancel()
	r.connected, r.code, r.err = c.connectTo(actx, dc, token)
	r.end = time.Now()
	switch {
	case r.err == nil:
		r.outcome = OutcomeConnected
	case r.code != "":
		r.outcome = OutcomeRefused
	case errors.Is(context.Cause(actx), errAttemptTimeout):
		r.outcome = OutcomeTimeout
		r.err = fmt.Errorf("datacenter %s did not answer within %v", dc.ID, c.cfg.AttemptTimeout)
	case actx.Err() != nil:
		r.outcome = OutcomeCanceled
		r.err = context.Cause(actx)
	default:
		r.outcome = OutcomeError
	}
	return r
}

func (c *Client) connect(ctx context.Context, dc wire.DC, token string) (wire.Connected, string, error) {
	u, err := endpointURL(dc.Endpoint, wire.ConnectPath)
	if err != nil {
		return wire.Connected{}, "", fmt.Errorf("datacenter %s: %w", dc.ID, err)
	}
	body, _ := json.Marshal(wire.Connect{Token: token})
	resp, err := c.post(ctx, u, body, nil)
	if err != nil {
		return wire.Connected{}, "", fmt.Errorf("connect to datacenter %s: %w", dc.ID, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxAgentResponse))
	if err != nil {
		return wire.Connected{}, "", fmt.Errorf("connect to datacenter %s: read the answer: %w", dc.ID, err)
	}
	return parseConnectResponse(dc.ID, resp.StatusCode, b)
}
