package identity

import (
	"errors"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const opToken = "0123456789abcdefghijABCDEFGHIJ+/=="

func TestBearerToken(t *testing.T) {
	tests := []struct {
		name    string
		headers []string
		want    string
		wantOK  bool
	}{
		{"bearer", []string{"Bearer abc.def"}, "abc.def", true},
		{"scheme in lower case", []string{"bearer abc"}, "abc", true},
		{"two spaces", []string{"Bearer  abc"}, "abc", true},
		{"none", nil, "", false},
		{"basic", []string{"Basic YWxhZGRpbjpvcGVuc2VzYW1l"}, "", false},
		{"scheme only", []string{"Bearer"}, "", false},
		{"empty token", []string{"Bearer "}, "", false},
		{"no space", []string{"Bearerabc"}, "", false},
		{"space in token", []string{"Bearer abc def"}, "", false},
		{"two headers", []string{"Bearer abc", "Bearer def"}, "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", "/v1/accounts", nil)
			for _, h := range tt.headers {
				r.Header.Add("Authorization", h)
			}
			got, ok := BearerToken(r)
			if got != tt.want || ok != tt.wantOK {
				t.Errorf("got %q, %v, want %q, %v", got, ok, tt.want, tt.wantOK)
			}
		})
	}
}

func TestNewOperator(t *testing.T) {
	tests := []struct {
		name    string
		token   string
		wantErr string
	}{
		{"32 characters", strings.Repeat("a", 32), ""},
		{"base64 with padding", opToken, ""},
		{"31 characters", strings.Repeat("a", 31), "operator token is 31 characters, want at least 32 (make one with: openssl rand -base64 32)"},
		{"empty", "", "is 0 characters"},
		{"too long", strings.Repeat("a", MaxOperatorTokenLen+1), "want at most 1024"},
		{"space", strings.Repeat("a", 32) + " b", "has byte 0x20 at 32"},
		{"newline", strings.Repeat("a", 32) + "\n", "has byte 0x0a at 32"},
		{"non-ASCII", strings.Repeat("a", 32) + "é", "has byte 0xc3 at 32"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := NewOperator(tt.token)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("got error %v, want none", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("got error %v, want it to contain %q", err, tt.wantErr)
			}
		})
	}
}

func TestLoadOperator(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	tests := []struct {
		name    string
		path    string
		wantErr string
	}{
		{"with a final newline", write("ok", opToken+"\n"), ""},
		{"with white space around", write("spaces", "  \t"+opToken+"\r\n\n"), ""},
		{"missing", filepath.Join(dir, "nope"), "load operator token: open " + filepath.Join(dir, "nope") + ": no such file or directory"},
		{"a directory", dir, "is a directory"},
		{"empty", write("empty", "\n"), "empty is empty"},
		{"too short", write("short", "hunter2\n"), "short: operator token is 7 characters, want at least 32"},
		{"too large", write("large", strings.Repeat("a", 5000)), "large is over 4096 bytes: is it the token file?"},
		{"two lines", write("lines", opToken+"\n"+opToken+"\n"), "has byte 0x0a"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o, err := LoadOperator(tt.path)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("got error %v, want none", err)
				}
				r := httptest.NewRequest("GET", "/", nil)
				r.Header.Set("Authorization", "Bearer "+opToken)
				if err := o.Check(r); err != nil {
					t.Errorf("the loaded token does not check: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("got error %v, want it to contain %q", err, tt.wantErr)
			}
		})
	}
}

func TestOperatorCheck(t *testing.T) {
	o, err := NewOperator(opToken)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		op      *Operator
		header  []string
		wantErr error // nil: accepted
		wantMsg string
	}{
		{"right token", o, []string{"Bearer " + opToken}, nil, ""},
		{"scheme in lower case", o, []string{"bearer " + opToken}, nil, ""},
		{"no header", o, nil, ErrNoCredential, "check operator token: no credential: send Authorization: Bearer <operator token>"},
		{"wrong token", o, []string{"Bearer " + strings.Repeat("x", 34)}, ErrInvalid, "check operator token: the token is not the operator's"},
		{"prefix of the token", o, []string{"Bearer " + opToken[:33]}, ErrInvalid, "not the operator's"},
		{"token and more", o, []string{"Bearer " + opToken + "x"}, ErrInvalid, "not the operator's"},
		{"basic", o, []string{"Basic " + opToken}, ErrInvalid, "not one Bearer token"},
		{"empty header", o, []string{""}, ErrInvalid, "not one Bearer token"},
		{"two headers", o, []string{"Bearer " + opToken, "Bearer " + opToken}, ErrInvalid, "not one Bearer token"},
		{"nil operator", nil, []string{"Bearer " + opToken}, ErrInvalid, "no operator token is configured"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest("PUT", "/v1/accounts/acme", nil)
			for _, h := range tt.header {
				r.Header.Add("Authorization", h)
			}
			err := tt.op.Check(r)
			if tt.wantErr == nil {
				if err != nil {
					t.Fatalf("got error %v, want none", err)
				}
				return
			}
			if !errors.Is(err, tt.wantErr) {
				t.Errorf("got error %v, want it to match %v", err, tt.wantErr)
			}
			if other := map[error]error{ErrInvalid: ErrNoCredential, ErrNoCredential: ErrInvalid}[tt.wantErr]; errors.Is(err, other) {
				t.Errorf("got error %v matching %v too", err, other)
			}
			if err == nil || err.Error() != tt.wantMsg && !strings.Contains(err.Error(), tt.wantMsg) {
				t.Errorf("got error %v, want it to contain %q", err, tt.wantMsg)
			}
		})
	}
}

func BenchmarkOperatorCheck(b *testing.B) {
	o, err := NewOperator(opToken)
	if err != nil {
		b.Fatal(err)
	}
	r := httptest.NewRequest("GET", "/v1/accounts", nil)
	r.Header.Set("Authorization", "Bearer "+opToken)
	b.ReportAllocs()
	for b.Loop() {
		if err := o.Check(r); err != nil {
			b.Fatal(err)
		}
	}
}
