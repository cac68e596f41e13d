package audit_test

import (
	"context"
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/geofence/geofence/audit"
	"github.com/geofence/geofence/directory"
	"github.com/geofence/geofence/geo"
)

// ticketEntry is an entry the size of a real ticket_issued one (about 700 bytes).
func ticketEntry(i int) *audit.Entry {
	dcs := []audit.DC{{ID: "us-sjc", Country: "US"}, {ID: "us-den", Country: "US"}, {ID: "ca-yyz", Country: "CA"}}
	return &audit.Entry{Kind: audit.KindTicketIssued, Time: audit.FormatTime(testNow), Region: "na",
		Config:  "sha256:e06bf83c3458b141fb4d071c5ed7e63a1fae499a992bfe97df4cb7b4e1a17c06",
		Meeting: fmt.Sprintf("MEETING%09d", i), Participant: "hmac:0123456789abcdef0123456789abcdef", Addr: "hmac:0123456789abcdef0123456789abcdef",
		Party: &audit.Party{Account: "acme", Country: "US", Region: "na", Plan: "enterprise", MeetingRegion: "na", HostAccount: "acme", HostPlan: "enterprise"},
		Home:  &dcs[0], Primary: dcs, Secondary: []audit.DC{{ID: "eu-ams", Country: "NL"}, {ID: "eu-fra", Country: "DE"}},
		KMS: dcs[:2], Rev: 3, Countries: []string{"CA", "DE", "NL", "US"}}
}

// BenchmarkAppend is the evidence log's append throughput: entries queued asynchronously
// (as the directory does), the time including Close, which returns once every entry is
// integrated and checkpointed. It reports entries/s.
func BenchmarkAppend(b *testing.B) {
	ctx := context.Background()
	logs := openLogs(b, b.TempDir(), newKey(b), []string{"na"}, false)
	es := make([]*audit.Entry, 1024)
	for i := range es {
		es[i] = ticketEntry(i)
	}
	b.ReportAllocs()
	start := time.Now()
	n := 0
	for b.Loop() {
		if err := logs.Append(ctx, es[n%len(es)]); err != nil {
			b.Fatal(err)
		}
		n++
	}
	if err := logs.Close(ctx); err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(n)/time.Since(start).Seconds(), "entries/s")
}

// BenchmarkAppendStrict is strict mode under concurrency: each append waits until its entry
// is integrated, so throughput comes from batching many waiting appends together.
func BenchmarkAppendStrict(b *testing.B) {
	ctx := context.Background()
	logs, err := audit.Open(ctx, audit.Options{Dir: b.TempDir(), Regions: []string{"na"}, Key: newKey(b), Strict: true,
		BatchAge: 2 * time.Millisecond, CheckpointInterval: 100 * time.Millisecond})
	if err != nil {
		b.Fatal(err)
	}
	e := ticketEntry(0)
	b.SetParallelism(64)
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			c := *e
			if err := logs.Append(ctx, &c); err != nil {
				b.Error(err)
				return
			}
		}
	})
	el := time.Since(start)
	logs.Close(ctx)
	b.ReportMetric(float64(b.N)/el.Seconds(), "entries/s")
}

// BenchmarkCoreJoin is a directory core's join with the evidence log off and on (a Recorder
// as its Decisions, appending asynchronously): what the log adds to a join in process.
func BenchmarkCoreJoin(b *testing.B) {
	ctx := context.Background()
	cfg, err := audit.LoadConfig("../examples/world.yaml")
	if err != nil {
		b.Fatal(err)
	}
	us, _ := geo.LookupCountry("US")
	for _, on := range []bool{false, true} {
		b.Run(map[bool]string{false: "log=off", true: "log=on"}[on], func(b *testing.B) {
			dcfg := directory.Config{Model: cfg.Model, Logger: slog.New(slog.DiscardHandler), MaxMeetingsPerAccount: -1}
			var logs *audit.Logs
			if on {
				logs = openLogs(b, b.TempDir(), newKey(b), audit.RegionsOf(cfg.Model), false)
				rec := audit.NewRecorder(logs, hasher(b))
				rec.ConfigChanged(ctx, cfg.Model, cfg.Digest, cfg.Report, testNow)
				dcfg.Decisions = rec
			}
			core, err := directory.New(dcfg)
			if err != nil {
				b.Fatal(err)
			}
			for _, dc := range cfg.Model.DCs {
				core.ReportLoad(dc.ID, 0, true)
			}
			mt, _ := core.CreateMeeting(ctx, directory.CreateMeeting{HostAccount: "acme"})
			req := directory.JoinRequest{Meeting: mt.ID, Account: "acme", Participant: "alice",
				Where: directory.Where{Country: us, Location: us.Centroid(), Located: true, Addr: "203.0.113.7"}}
			b.ReportAllocs()
			for b.Loop() {
				if _, err := core.Join(ctx, req); err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			if logs != nil {
				logs.Close(ctx)
			}
		})
	}
}
