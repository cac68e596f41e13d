package jsonapi

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestDecode(t *testing.T) {
	type body struct {
		Token string `json:"token"`
	}
	tests := []struct {
		name, in, wantErr string
	}{
		{"ok", `{"token":"t"}`, ""},
		{"empty", ``, "empty"},
		{"unknown field", `{"token":"t","admin":true}`, "unknown field"},
		{"trailing data", `{"token":"t"} {}`, "data after"},
		{"not an object", `[1]`, "expected shape"},
		{"wrong type", `{"token":1}`, "expected shape"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var b body
			err := Decode(strings.NewReader(tt.in), &b)
			if tt.wantErr == "" {
				if err != nil || b.Token != "t" {
					t.Fatalf("got %v %+v, want token t", err, b)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("got error %v, want one containing %q", err, tt.wantErr)
			}
		})
	}
	t.Run("too big", func(t *testing.T) {
		rec := httptest.NewRecorder()
		r := http.MaxBytesReader(rec, io.NopCloser(strings.NewReader(strings.Repeat(" ", 100)+`{"token":"t"}`)), 10)
		var b body
		if err := Decode(r, &b); err == nil || !strings.Contains(err.Error(), "larger than 10 bytes") {
			t.Fatalf("got %v, want a size error", err)
		}
	})
}

func TestWrite(t *testing.T) {
	rec := httptest.NewRecorder()
	Write(rec, http.StatusTeapot, map[string]string{"error": "x"})
	if rec.Code != http.StatusTeapot || rec.Header().Get("Content-Type") != "application/json" || rec.Body.String() != "{\"error\":\"x\"}\n" {
		t.Errorf("got %d %q %q", rec.Code, rec.Header().Get("Content-Type"), rec.Body.String())
	}
}
