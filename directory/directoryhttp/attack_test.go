package directoryhttp_test

import (
	"flag"
	"fmt"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/geofence/geofence/directory"
	"github.com/geofence/geofence/directory/directoryhttp"
	"github.com/geofence/geofence/ticket"
	"github.com/geofence/geofence/wire"
)

var attackMeetings = flag.Int("attack.meetings", 20000, "meetings TestMeetingFlood tries to create (docs/benchmarks.md used 200000)")

// TestMeetingFlood is the attack of the trust issue: one account's host token creating
// meetings in a loop. The directory holds at most MaxMeetingsPerAccount of them (429 after
// that), and idle ones expire; before the bound, 200,000 meetings were held for good.
func TestMeetingFlood(t *testing.T) {
	const limit = 1000
	a := newAuthEnvWith(t, func(c *envConfig) { c.Core.MaxMeetingsPerAccount = limit; c.Core.MeetingIdle = time.Hour })
	host := a.token("alpha", "alpha", "h", "", true, a.clock.Now(), time.Hour)
	h := a.api.Handler()
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	codes := map[int]int{}
	for range *attackMeetings {
		req := httptest.NewRequest("POST", "/v1/meetings", strings.NewReader(`{}`))
		req.Header.Set("Authorization", "Bearer "+host)
		req.RemoteAddr = "192.0.2.7:4000"
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		codes[rec.Code]++
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	if codes[http.StatusCreated] != limit || codes[http.StatusTooManyRequests] != *attackMeetings-limit {
		t.Fatalf("answers %v, want %d created and the rest 429", codes, limit)
	}
	t.Logf("%d create attempts: %v; heap %+.1f MB", *attackMeetings, codes, float64(int64(after.HeapAlloc)-int64(before.HeapAlloc))/1e6)
	// An hour and a bit later every one has expired: the account may create again.
	a.clock.Add(61 * time.Minute)
	if n, err := a.core.Sweep(t.Context()); err != nil || n != limit {
		t.Fatalf("sweep: %d %v, want %d", n, err, limit)
	}
	var e wire.Error
	host = a.token("alpha", "alpha", "h", "", true, a.clock.Now(), time.Hour)
	if st, _ := a.as(host, "POST", "/v1/meetings", "", `{}`, &e); st != http.StatusCreated {
		t.Fatalf("create after expiry: %d %+v", st, e)
	}
}

// TestStartRefusesBadTicketTTL: a ticket lifetime the signer would refuse is refused when the
// directory starts, not at the first join.
func TestStartRefusesBadTicketTTL(t *testing.T) {
	for _, ttl := range []time.Duration{25 * time.Hour, -time.Minute, time.Millisecond} {
		t.Run(fmt.Sprint(ttl), func(t *testing.T) {
			e := newEnv(t, "../../examples/world.yaml", nil)
			_, err := newAPI(e, ttl)
			if err == nil || !strings.Contains(err.Error(), "ttl") {
				t.Fatalf("ttl %v: err %v, want a refusal naming the ttl", ttl, err)
			}
		})
	}
}

func newAPI(e *env, ttl time.Duration) (*directoryhttp.Server, error) {
	c, err := directory.New(directory.Config{Model: e.model})
	if err != nil {
		return nil, err
	}
	signer, err := ticket.NewSigner("geofence", nil, nil)
	if err != nil {
		return nil, err
	}
	return directoryhttp.New(directoryhttp.Config{Core: c, Signer: signer, TicketTTL: ttl})
}
