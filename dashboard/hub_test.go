package dashboard

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/geofence/geofence/directory"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

func testHub(t *testing.T, maxStreams, buffer int) (*hub, *metrics) {
	t.Helper()
	m, err := newMetrics(nil)
	if err != nil {
		t.Fatal(err)
	}
	init := func() []event { return []event{encodeEvent("model", []byte(`{}`)), encodeEvent("state", []byte(`{}`))} }
	return newHub(maxStreams, buffer, m, init), m
}

// TestSlowStreamDropped: a stream whose reader takes nothing is dropped when its buffer is
// full, and counted; the broadcasts never wait for it, and a reader that keeps up keeps
// everything.
func TestSlowStreamDropped(t *testing.T) {
	h, m := testHub(t, 4, 4)
	slow, ok := h.join()
	if !ok {
		t.Fatal("join refused")
	}
	fast, _ := h.join()
	got := 0
	done := make(chan struct{})
	go func() {
		defer close(done)
		for range fast.ch {
			if got++; got == 2+1000 {
				return
			}
		}
	}()
	for range 1000 {
		h.broadcast("state", encodeEvent("state", []byte(`{"x":1}`)))
		time.Sleep(0) // let the fast reader run; the slow one never does
		for len(fast.ch) == cap(fast.ch) {
			time.Sleep(time.Millisecond)
		}
	}
	<-done
	select {
	case <-slow.gone:
	default:
		t.Fatal("the slow stream was not dropped")
	}
	if n := testutil.ToFloat64(m.dropped); n != 1 {
		t.Errorf("dropped = %v, want 1", n)
	}
	if got != 1002 {
		t.Errorf("the fast reader got %d events, want 1002", got)
	}
	if n := testutil.ToFloat64(m.streams); n != 1 {
		t.Errorf("streams = %v, want 1", n)
	}
}

// TestStreamCap: streams beyond the cap are refused; a closed hub refuses every stream and
// has dropped those it had.
func TestStreamCap(t *testing.T) {
	h, _ := testHub(t, 2, 4)
	a, ok1 := h.join()
	_, ok2 := h.join()
	if _, ok3 := h.join(); !ok1 || !ok2 || ok3 {
		t.Fatalf("joins: %v %v %v, want true true false", ok1, ok2, ok3)
	}
	h.leave(a)
	if _, ok := h.join(); !ok {
		t.Fatal("a stream that left did not free its place")
	}
	ctx, cancel := context.WithCancel(context.Background())
	go h.run(ctx)
	cancel()
	for range 1000 {
		if _, ok := h.join(); !ok {
			return
		}
		time.Sleep(time.Millisecond)
	}
	t.Fatal("a closed hub still takes streams")
}

func TestEncodeEvent(t *testing.T) {
	got := string(encodeEvent("state", []byte("a\nb")))
	if want := "event: state\ndata: a\ndata: b\n\n"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

// TestFeedRing: the ring keeps the last n refusals in order, and what it keeps has no
// participant, account or meeting id and no address.
func TestFeedRing(t *testing.T) {
	f := NewFeed(3)
	for i := range 5 {
		f.JoinDecided(context.Background(), &directory.JoinDecision{
			Time: time.Unix(int64(i), 0), Meeting: "M1", Account: "acme", Participant: "alice", Where: directory.Where{Addr: "203.0.113.9"},
			Refusal: &directory.Error{Code: "residency_conflict", Rules: []string{"r" + string(rune('a'+i))}},
		})
	}
	got := f.Refusals(0)
	var seqs []uint64
	for _, r := range got {
		seqs = append(seqs, r.Seq)
	}
	if !slices.Equal(seqs, []uint64{3, 4, 5}) {
		t.Fatalf("kept %v, want [3 4 5]", seqs)
	}
	if after := f.Refusals(4); len(after) != 1 || after[0].Seq != 5 {
		t.Errorf("after 4: %v, want [5]", after)
	}
	b, _ := json.Marshal(got)
	var rows []map[string]any
	json.Unmarshal(b, &rows)
	for k := range rows[0] {
		if !slices.Contains([]string{"seq", "time", "code", "rules", "country", "region", "plan", "meeting_region", "host_plan"}, k) {
			t.Errorf("a refusal carries %q", k)
		}
	}
	for _, s := range []string{"M1", "acme", "alice", "203.0.113.9"} {
		if strings.Contains(string(b), s) {
			t.Errorf("the ring holds %q", s)
		}
	}
}
