package client

import (
	"cmp"
	"context"
	"errors"
	"github.com/geofence/geofence/wire"
	"net/http/httptrace"
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

// behaviour is how a fake datacenter answers a connection attempt.
type behaviour struct {
	answer string // "ok", "error", "refuse", "hang", or "unsent" (hangs before the request is sent)
	after  time.Duration
}

type wantAttempt struct {
	dc, outcome      string
	started, elapsed time.Duration
}

// TestRaceScenarios steps the connection race of DESIGN.md section 4 (RFC 8305 section 5) in
// virtual time: exact start times and durations, with no real clock involved.
func TestRaceScenarios(t *testing.T) {
	const ms = time.Millisecond
	tests := []struct {
		name             string
		prim, sec        []string
		dcs              map[string]behaviour
		giveUpAfter      time.Duration // the caller's context deadline; 0 for none
		stagger          time.Duration // 0 for DefaultStagger
		budget           time.Duration // 0 for an hour: secondaries wait for every primary to fail
		wantErr          error
		want             []wantAttempt
		wantDisconnected []string
	}{
		{
			name: "the first primary answers",
			prim: []string{"p1", "p2", "p3"}, sec: []string{"s1", "s2"},
			dcs:  map[string]behaviour{"p1": {"ok", 10 * ms}},
			want: []wantAttempt{{"p1", OutcomeConnected, 0, 10 * ms}},
		},
		{
			name: "the first hangs; the second starts after the stagger, beside it, and wins",
			prim: []string{"p1", "p2", "p3"}, sec: []string{"s1", "s2"},
			dcs: map[string]behaviour{"p1": {"hang", 0}, "p2": {"ok", 10 * ms}},
			want: []wantAttempt{
				{"p1", OutcomeCanceled, 0, 260 * ms},
				{"p2", OutcomeConnected, 250 * ms, 10 * ms},
			},
		},
		{
			// p2 might still answer about as fast as p1 did: it is left to, and disconnected.
			name: "the first answers while the second is on",
			prim: []string{"p1", "p2", "p3"}, sec: []string{"s1", "s2"},
			dcs: map[string]behaviour{"p1": {"ok", 300 * ms}, "p2": {"ok", 100 * ms}},
			want: []wantAttempt{
				{"p1", OutcomeConnected, 0, 300 * ms},
				{"p2", OutcomeCanceled, 250 * ms, 100 * ms},
			},
			wantDisconnected: []string{"p2"},
		},
		{
			name: "a failure starts the next primary at once",
			prim: []string{"p1", "p2", "p3"}, sec: []string{"s1", "s2"},
			dcs: map[string]behaviour{"p1": {"error", 20 * ms}, "p2": {"ok", 10 * ms}},
			want: []wantAttempt{
				{"p1", OutcomeError, 0, 20 * ms},
				{"p2", OutcomeConnected, 20 * ms, 10 * ms},
			},
		},
		{
			name: "a refusal starts the next primary at once",
			prim: []string{"p1", "p2", "p3"}, sec: []string{"s1", "s2"},
			dcs: map[string]behaviour{"p1": {"refuse", 5 * ms}, "p2": {"ok", 10 * ms}},
			want: []wantAttempt{
				{"p1", OutcomeRefused, 0, 5 * ms},
				{"p2", OutcomeConnected, 5 * ms, 10 * ms},
			},
		},
		{
			name: "every primary hangs: the secondaries start together when the last times out",
			prim: []string{"p1", "p2", "p3"}, sec: []string{"s1", "s2"},
			dcs: map[string]behaviour{"p1": {"hang", 0}, "p2": {"hang", 0}, "p3": {"hang", 0},
				"s1": {"ok", 50 * ms}, "s2": {"ok", 30 * ms}},
			want: []wantAttempt{
				{"p1", OutcomeTimeout, 0, time.Second},
				{"p2", OutcomeTimeout, 250 * ms, time.Second},
				{"p3", OutcomeTimeout, 500 * ms, time.Second},
				{"s1", OutcomeCanceled, 1500 * ms, 50 * ms},
				{"s2", OutcomeConnected, 1500 * ms, 30 * ms},
			},
			wantDisconnected: []string{"s1"},
		},
		{
			name: "a failure restarts the stagger",
			prim: []string{"p1", "p2", "p3"}, sec: []string{"s1", "s2"},
			dcs: map[string]behaviour{"p1": {"hang", 0}, "p2": {"error", 100 * ms}, "p3": {"hang", 0},
				"s1": {"ok", 30 * ms}, "s2": {"hang", 0}},
			want: []wantAttempt{
				{"p1", OutcomeTimeout, 0, time.Second},
				{"p2", OutcomeError, 250 * ms, 100 * ms},
				{"p3", OutcomeTimeout, 350 * ms, time.Second},
				{"s1", OutcomeConnected, 1350 * ms, 30 * ms},
				{"s2", OutcomeCanceled, 1350 * ms, 130 * ms}, // 30 ms, as s1, and the grace
			},
		},
		{
			name: "no primary: the secondaries at once",
			sec:  []string{"s1", "s2"},
			dcs:  map[string]behaviour{"s1": {"ok", 10 * ms}, "s2": {"hang", 0}},
			want: []wantAttempt{
				{"s1", OutcomeConnected, 0, 10 * ms},
				{"s2", OutcomeCanceled, 0, 110 * ms},
			},
		},
		{
			name: "a loser that connects within the grace is disconnected",
			sec:  []string{"s1", "s2"},
			dcs:  map[string]behaviour{"s1": {"ok", 10 * ms}, "s2": {"ok", 20 * ms}},
			want: []wantAttempt{
				{"s1", OutcomeConnected, 0, 10 * ms},
				{"s2", OutcomeCanceled, 0, 20 * ms},
			},
			wantDisconnected: []string{"s2"},
		},
		{
			name: "a slow loser is canceled after the grace",
			sec:  []string{"s1", "s2"},
			dcs:  map[string]behaviour{"s1": {"ok", 10 * ms}, "s2": {"ok", 500 * ms}},
			want: []wantAttempt{
				{"s1", OutcomeConnected, 0, 10 * ms},
				{"s2", OutcomeCanceled, 0, 110 * ms},
			},
		},
		{
			name: "a loser whose request was not sent is canceled at once",
			sec:  []string{"s1", "s2"},
			dcs:  map[string]behaviour{"s1": {"ok", 10 * ms}, "s2": {"unsent", 0}},
			want: []wantAttempt{
				{"s1", OutcomeConnected, 0, 10 * ms},
				{"s2", OutcomeCanceled, 0, 10 * ms},
			},
		},
		{
			name:    "a small stagger makes a small grace",
			sec:     []string{"s1", "s2"},
			dcs:     map[string]behaviour{"s1": {"ok", 10 * ms}, "s2": {"hang", 0}},
			stagger: 20 * ms,
			want: []wantAttempt{
				{"s1", OutcomeConnected, 0, 10 * ms},
				{"s2", OutcomeCanceled, 0, 30 * ms},
			},
		},
		{
			name: "every primary hangs: the secondaries start when the primaries' budget is spent",
			prim: []string{"p1", "p2", "p3"}, sec: []string{"s1", "s2"},
			dcs:    map[string]behaviour{"p1": {"hang", 0}, "p2": {"hang", 0}, "p3": {"hang", 0}, "s1": {"ok", 30 * ms}, "s2": {"ok", 50 * ms}},
			budget: DefaultPrimaryBudget,
			want: []wantAttempt{
				{"p1", OutcomeTimeout, 0, time.Second},
				{"p2", OutcomeCanceled, 250 * ms, 780 * ms},
				{"p3", OutcomeCanceled, 500 * ms, 530 * ms},
				{"s1", OutcomeConnected, time.Second, 30 * ms},
				{"s2", OutcomeCanceled, time.Second, 50 * ms},
			},
			wantDisconnected: []string{"s2"},
		},
		{
			name: "a primary answering after the budget still wins the race",
			prim: []string{"p1", "p2"}, sec: []string{"s1", "s2"},
			dcs:    map[string]behaviour{"p1": {"ok", 800 * ms}, "p2": {"hang", 0}, "s1": {"ok", 400 * ms}, "s2": {"unsent", 0}},
			budget: 600 * ms,
			want: []wantAttempt{
				{"p1", OutcomeConnected, 0, 800 * ms},
				{"p2", OutcomeCanceled, 250 * ms, 900 * ms}, // sent: left until 250+800+100 ms
				{"s1", OutcomeCanceled, 600 * ms, 400 * ms}, // connected within its grace: disconnected
				{"s2", OutcomeCanceled, 600 * ms, 200 * ms}, // never sent: canceled at once
			},
			wantDisconnected: []string{"s1"},
		},
		{
			name: "nothing answers",
			prim: []string{"p1", "p2", "p3"}, sec: []string{"s1", "s2"},
			dcs: map[string]behaviour{"p1": {"error", ms}, "p2": {"refuse", ms}, "p3": {"hang", 0},
				"s1": {"error", ms}, "s2": {"hang", 0}},
			wantErr: ErrNoDatacenter,
			want: []wantAttempt{
				{"p1", OutcomeError, 0, ms},
				{"p2", OutcomeRefused, ms, ms},
				{"p3", OutcomeTimeout, 2 * ms, time.Second},
				{"s1", OutcomeError, 1002 * ms, ms},
				{"s2", OutcomeTimeout, 1002 * ms, time.Second},
			},
		},
		{
			name: "the caller gives up",
			prim: []string{"p1", "p2", "p3"}, sec: []string{"s1", "s2"},
			dcs:         map[string]behaviour{"p1": {"hang", 0}, "p2": {"hang", 0}},
			giveUpAfter: 300 * ms,
			wantErr:     context.DeadlineExceeded,
			want: []wantAttempt{
				{"p1", OutcomeCanceled, 0, 300 * ms},
				{"p2", OutcomeCanceled, 250 * ms, 50 * ms},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				var mu sync.Mutex
				var disconnected []string
				c := &Client{cfg: Config{Stagger: cmp.Or(tt.stagger, DefaultStagger), AttemptTimeout: time.Second,
					PrimaryBudget: cmp.Or(tt.budget, time.Hour)}}
				c.connectTo = func(ctx context.Context, dc wire.DC, _ string) (wire.Connected, string, error) {
					b := tt.dcs[dc.ID]
					if b.answer != "unsent" {
						if tr := httptrace.ContextClientTrace(ctx); tr != nil && tr.WroteRequest != nil {
							tr.WroteRequest(httptrace.WroteRequestInfo{})
						}
					}
					switch b.answer {
					case "hang", "unsent":
						<-ctx.Done()
						return wire.Connected{}, "", ctx.Err()
					}
					select {
					case <-time.After(b.after):
					case <-ctx.Done():
						return wire.Connected{}, "", ctx.Err()
					}
					switch b.answer {
					case "ok":
						return wire.Connected{Datacenter: dc.ID, Session: "session-" + dc.ID, SessionTTL: 30}, "", nil
					case "refuse":
						return wire.Connected{}, "plan_conflict", errors.New("refused")
					}
					return wire.Connected{}, "", errors.New("connection reset")
				}
				c.disconnect = func(_ context.Context, r *Result) error {
					mu.Lock()
					defer mu.Unlock()
					disconnected = append(disconnected, r.Datacenter)
					if r.Session != "session-"+r.Datacenter {
						t.Errorf("disconnect %s: session %q", r.Datacenter, r.Session)
					}
					return nil
				}
				cands := func(ids []string, list string) []candidate {
					var out []candidate
					for _, id := range ids {
						out = append(out, candidate{dc: wire.DC{ID: id, Country: "US"}, list: list})
					}
					return out
				}
				ctx := t.Context()
				if tt.giveUpAfter > 0 {
					var cancel context.CancelFunc
					ctx, cancel = context.WithTimeout(ctx, tt.giveUpAfter)
					defer cancel()
				}
				res := &Result{}
				err := c.race(ctx, res, cands(tt.prim, wire.ListPrimary), cands(tt.sec, wire.ListSecondary), time.Now())
				if !errors.Is(err, tt.wantErr) || (err != nil) != (tt.wantErr != nil) {
					t.Fatalf("got error %v, want %v", err, tt.wantErr)
				}
				var got []wantAttempt
				for _, a := range res.Attempts {
					got = append(got, wantAttempt{a.Datacenter, a.Outcome, a.Started, a.Elapsed})
					if (a.Err == nil) != (a.Outcome == OutcomeConnected) {
						t.Errorf("%s: outcome %s with error %v", a.Datacenter, a.Outcome, a.Err)
					}
					if a.Outcome == OutcomeRefused && a.Code != "plan_conflict" {
						t.Errorf("%s: refused with code %q, want plan_conflict", a.Datacenter, a.Code)
					}
				}
				if len(got) != len(tt.want) {
					t.Fatalf("got attempts\n%v\nwant\n%v", got, tt.want)
				}
				for i := range got {
					if got[i] != tt.want[i] {
						t.Errorf("attempt %d: got %v, want %v", i, got[i], tt.want[i])
					}
				}
				if tt.wantErr == nil {
					var winner wantAttempt
					for _, w := range tt.want {
						if w.outcome == OutcomeConnected {
							winner = w
						}
					}
					if res.Datacenter != winner.dc || res.Session != "session-"+winner.dc || res.SessionTTL != 30*time.Second ||
						res.Elapsed != winner.started+winner.elapsed {
						t.Errorf("got winner %s session %q after %v, want %s after %v", res.Datacenter, res.Session, res.Elapsed,
							winner.dc, winner.started+winner.elapsed)
					}
				}
				mu.Lock()
				defer mu.Unlock()
				if len(disconnected) != len(tt.wantDisconnected) || (len(disconnected) > 0 && disconnected[0] != tt.wantDisconnected[0]) {
					t.Errorf("disconnected %v, want %v", disconnected, tt.wantDisconnected)
				}
			})
		})
	}
}
