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
		name, in string
		lenient  bool
		wantErr  string
	}{
		{"ok", `{"token":"t"}`, false, ""},
		{"empty", ``, false, "empty"},
		{"unknown field", `{"token":"t","admin":true}`, false, "unknown field"},
		{"trailing data", `{"token":"t"} {}`, false, "data after"},
		{"not an object", `[1]`, false, "expected shape"},
		{"wrong type", `{"token":1}`, false, "expected shape"},

		{"lenient: ok", `{"token":"t"}`, true, ""},
		{"lenient: unknown members ignored", `{"token":"t","newer":{"a":[1,null]},"x":1}`, true, ""},
		{"lenient: empty", ``, true, "empty"},
		{"lenient: trailing data", `{"token":"t"} {}`, true, "data after"},
		{"lenient: not an object", `[1]`, true, "expected shape"},
		{"lenient: wrong type", `{"token":1}`, true, "expected shape"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var b body
			decode := Decode
			if tt.lenient {
				decode = DecodeLenient
			}
			err := decode(strings.NewReader(tt.in), &b)
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
	t.Run("too big after the object", func(t *testing.T) {
		rec := httptest.NewRecorder()
		r := http.MaxBytesReader(rec, io.NopCloser(strings.NewReader(`{"token":"t"}`+strings.Repeat(" ", 100))), 20)
		var b body
		if err := DecodeLenient(r, &b); err == nil || !strings.Contains(err.Error(), "larger than 20 bytes") {
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
