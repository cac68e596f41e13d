package audit_test

import (
	"bytes"
	"context"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/geofence/geofence/audit"
	"github.com/geofence/geofence/internal/browsertest"
)

var update = flag.Bool("update", false, "rewrite docs/img/audit-report.png with the report's screenshot")

func worldReport(t *testing.T) *audit.Report {
	t.Helper()
	w := writeWorld(t, "../examples/world.yaml")
	var results []*audit.Result
	for _, r := range []string{"na", "eu", "cn"} {
		results = append(results, w.verify(t, filepath.Join(w.dir, r), nil))
	}
	return audit.Summarize(results, time.Time{}, time.Time{})
}

func TestReportMarkdown(t *testing.T) {
	rep := worldReport(t)
	var b bytes.Buffer
	if err := rep.Markdown(&b); err != nil {
		t.Fatal(err)
	}
	md := b.String()
	for _, want := range []string{
		"# Transparency report",
		"| 2026-11-24 | na | 5 | 1 | 5 | 0 |", // 5 tickets, the join from China refused, 5 keys
		"join residency_conflict: ",
		"## Key issuances per jurisdiction",
		"| US |",
		"yes (0 warnings)",
		"5 tickets issued, 1 joins refused, 5 meeting keys issued",
		"every entry was re-checked against the config in force",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("the report lacks %q:\n%s", want, md)
		}
	}
	// A period that excludes every entry.
	rep2 := worldReport(t)
	*rep2 = *audit.Summarize(nil, time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC), time.Time{})
	if len(rep2.Days) != 0 {
		t.Errorf("got %d days for an empty period", len(rep2.Days))
	}
}

// TestReportPage opens the HTML report in headless Chromium: its charts are SVG in the
// page itself, so it renders offline; with -update its screenshot goes to the README's image.
func TestReportPage(t *testing.T) {
	browsertest.Path(t)
	rep := worldReport(t)
	dir := t.TempDir()
	page := filepath.Join(dir, "report.html")
	f, err := os.Create(page)
	if err != nil {
		t.Fatal(err)
	}
	if err := rep.HTML(f); err != nil {
		t.Fatal(err)
	}
	f.Close()
	dom := browsertest.DOM(t, "file://"+page, time.Second)
	for _, want := range []string{"<h1>Transparency report</h1>", "<svg", "<rect", "Key issuances per jurisdiction", "Refusals per rule"} {
		if !strings.Contains(dom, want) {
			t.Errorf("the rendered page lacks %q", want)
		}
	}
	if strings.Contains(dom, "http://") || strings.Contains(dom, "https://") {
		t.Error("the page refers to the network; it must render offline")
	}
	png := filepath.Join(dir, "report.png")
	browsertest.Screenshot(t, "file://"+page, png, 900, 1400)
	if *update {
		b, _ := os.ReadFile(png)
		if err := os.WriteFile("../docs/img/audit-report.png", b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	_ = context.Background
}
