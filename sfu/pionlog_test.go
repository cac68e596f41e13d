package sfu

import (
	"io"
	"log/slog"
	"testing"
)

type formatted struct{ n *int }

func (f formatted) String() string { *f.n++; return "x" }

// TestPionLogsFormatOnlyWhenWanted: Pion's formatted logs are not formatted when debug logs
// are off (Pion formats some structs its other goroutines write: a data race under -race).
func TestPionLogsFormatOnlyWhenWanted(t *testing.T) {
	n := 0
	quiet := pionLogs{slog.New(slog.NewTextHandler(io.Discard, &slog.HandlerOptions{Level: slog.LevelInfo}))}.NewLogger("pc")
	quiet.Debugf("%v", formatted{&n})
	quiet.Warnf("%v", formatted{&n})
	if n != 0 {
		t.Errorf("formatted %d times with debug logs off, want 0", n)
	}
	loud := pionLogs{slog.New(slog.NewTextHandler(io.Discard, &slog.HandlerOptions{Level: slog.LevelDebug}))}.NewLogger("pc")
	loud.Errorf("%v", formatted{&n})
	if n != 1 {
		t.Errorf("formatted %d times with debug logs on, want 1", n)
	}
}
