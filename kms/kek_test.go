package kms

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestLoadKEK(t *testing.T) {
	kek := testKEK(42)
	dir := t.TempDir()
	file := func(name string, data []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	env := func(v string) func(string) string {
		return func(k string) string {
			if k == EnvKEK {
				return v
			}
			return ""
		}
	}
	hexKEK := hex.EncodeToString(kek)
	tests := []struct {
		name    string
		path    string
		getenv  func(string) string
		want    []byte
		wantErr string
	}{
		{name: "raw file", path: file("raw", kek), want: kek},
		{name: "hex file", path: file("hex", []byte(hexKEK+"\n")), want: kek},
		{name: "upper-case hex file", path: file("HEX", []byte(strings.ToUpper(hexKEK))), want: kek},
		{name: "base64 file", path: file("b64", []byte(base64.StdEncoding.EncodeToString(kek)+"\n")), want: kek},
		{name: "unpadded base64url file", path: file("b64url", []byte(base64.RawURLEncoding.EncodeToString(kek))), want: kek},
		{name: "file wins over the environment", path: file("raw2", kek), getenv: env(hex.EncodeToString(testKEK(9))), want: kek},
		{name: "hex environment", getenv: env(hexKEK), want: kek},
		{name: "base64 environment", getenv: env(" " + base64.StdEncoding.EncodeToString(kek) + "\n"), want: kek},
		{name: "nothing", getenv: env(""), wantErr: "no key-encryption key: name a file holding one, or set GEOFENCE_KMS_KEK"},
		{name: "blank environment", getenv: env("  \n"), wantErr: "set GEOFENCE_KMS_KEK"},
		{name: "missing file", path: filepath.Join(dir, "nope"), wantErr: "no such file"},
		{name: "directory", path: dir, wantErr: "not a regular file"},
		{name: "empty file", path: file("empty", nil), wantErr: "empty"},
		{name: "short raw file", path: file("short", kek[:31]), wantErr: "31 characters"},
		{name: "short hex", getenv: env(hexKEK[:62]), wantErr: "62 characters"},
		{name: "64 characters not hex", getenv: env(strings.Repeat("z", 64)), wantErr: "not hexadecimal"},
		{name: "base64 of 16 bytes", getenv: env(base64.StdEncoding.EncodeToString(kek[:16])), wantErr: "24 characters in no accepted form"},
		{name: "raw environment is not accepted", getenv: env(string(kek)), wantErr: "GEOFENCE_KMS_KEK"},
		{name: "zero key", getenv: env(strings.Repeat("0", 64)), wantErr: "all zero"},
		{name: "zero raw file", path: file("zero", make([]byte, 32)), wantErr: "all zero"},
		{name: "huge file", path: file("huge", bytes.Repeat([]byte("a"), 1<<20)), wantErr: "larger than"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			getenv := tt.getenv
			if getenv == nil {
				getenv = env("")
			}
			got, err := LoadKEK(tt.path, getenv)
			if tt.wantErr != "" {
				if err == nil {
					t.Fatalf("got no error, want one containing %q", tt.wantErr)
				}
				if !strings.Contains(err.Error(), tt.wantErr) {
					t.Errorf("got %q, want it to contain %q", err, tt.wantErr)
				}
				if !strings.HasPrefix(err.Error(), "load key-encryption key") {
					t.Errorf("got %q, want it to start with the operation", err)
				}
				// An error never quotes the material it was given.
				for _, leak := range []string{hexKEK[:16], string(kek[:8])} {
					if strings.Contains(err.Error(), leak) {
						t.Errorf("error %q quotes key material", err)
					}
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, tt.want) {
				t.Errorf("got a different key")
			}
		})
	}
}
