package directoryhttp_test

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"testing"
)

// TestEveryAnswerIsLogged: each join, answered or refused, leaves a structured log record
// saying what was decided for whom (I6; the tamper-evident log will be fed from the same
// decisions).
func TestEveryAnswerIsLogged(t *testing.T) {
	var buf bytes.Buffer
	e := newEnv(t, "../../examples/world.yaml", func(c *envConfig) {
		c.Core.Logger = slog.New(slog.NewJSONHandler(&buf, nil))
	})
	e.report(0, true)
	mt := e.meeting("acme")
	if st, _, _ := e.join(mt, "initech", "US"); st != http.StatusOK {
		t.Fatalf("join: %d", st)
	}
	if st, _, _ := e.join(mt, "initech", "CN"); st != http.StatusForbidden {
		t.Fatalf("join from China: %d", st)
	}
	var records []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
		var r map[string]any
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		if r["meeting"] == mt && strings.HasPrefix(r["msg"].(string), "join") {
			records = append(records, r)
		}
	}
	if len(records) != 2 {
		t.Fatalf("got %d log records for the meeting, want 2 (one per join): %s", len(records), buf.String())
	}
	ok, refused := records[0], records[1]
	if ok["msg"] != "join answered" || ok["participant_region"] != "na" || ok["home"] != "us-den" ||
		!slices.Equal(toStrings(ok["primary"]), []string{"us-den", "ca-yyz", "us-iad"}) {
		t.Errorf("answered join logged as %v", ok)
	}
	if refused["msg"] != "join refused" || refused["code"] != "residency_conflict" || refused["participant_region"] != "cn" {
		t.Errorf("refused join logged as %v", refused)
	}
}

func toStrings(v any) []string {
	var out []string
	for _, x := range v.([]any) {
		out = append(out, x.(string))
	}
	return out
}
