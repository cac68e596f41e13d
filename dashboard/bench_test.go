package dashboard

import (
	"context"
	"testing"
	"time"

	"github.com/geofence/geofence/directory"
	"github.com/geofence/geofence/wire"
)

// BenchmarkFeedJoin is the feed's cost on an answered join's path.
func BenchmarkFeedJoin(b *testing.B) {
	f := NewFeed(0)
	d := &directory.JoinDecision{Time: time.Now(), Claims: &wire.Claims{Secondary: make([]wire.DC, 2)}}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		f.JoinDecided(ctx, d)
	}
}

// BenchmarkFeedRefusal is the feed's cost on a refused join's path (the ring is full).
func BenchmarkFeedRefusal(b *testing.B) {
	f := NewFeed(0)
	d := &directory.JoinDecision{Time: time.Now(), Refusal: &directory.Error{Code: wire.CodeResidencyConflict, Rules: []string{"china-stays-in-china"}},
		Context: wire.Context{ParticipantCountry: "CN", ParticipantRegion: "cn", ParticipantPlan: "basic", MeetingRegion: "na", HostPlan: "basic"}}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		f.JoinDecided(ctx, d)
	}
}

// BenchmarkBroadcast is one state event to DefaultMaxStreams streams that keep up.
func BenchmarkBroadcast(b *testing.B) {
	m, _ := newMetrics(nil)
	h := newHub(DefaultMaxStreams, DefaultStreamBuffer, m, func() []event { return nil })
	var ss []*stream
	for range DefaultMaxStreams {
		s, _ := h.join()
		ss = append(ss, s)
	}
	e := encodeEvent("state", make([]byte, 8<<10))
	b.ReportAllocs()
	for b.Loop() {
		h.broadcast("state", e)
		for _, s := range ss {
			<-s.ch
		}
	}
}
