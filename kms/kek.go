package kms

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
)

// EnvKEK is the environment variable LoadKEK reads the key-encryption key from when no file
// is named.
const EnvKEK = "GEOFENCE_KMS_KEK"

// maxKEKFile bounds what LoadKEK reads: a KEK in any of its encodings is well under it.
const maxKEKFile = 4 << 10

// LoadKEK returns the 32-byte key-encryption key from the file at path, or, when path is "",
// from the environment variable GEOFENCE_KMS_KEK read with getenv. A file holds either exactly
// 32 raw bytes, or text: 64 hexadecimal characters or the base64 (standard or URL alphabet,
// padded or not) of 32 bytes, with surrounding white space ignored. The variable holds the
// text forms only. An all-zero key is refused.
//
// Errors never quote the key material.
func LoadKEK(path string, getenv func(string) string) ([]byte, error) {
	if path != "" {
		data, err := readKEKFile(path)
		if err != nil {
			return nil, fmt.Errorf("load key-encryption key: %w", err)
		}
		defer clear(data)
		if len(data) == KeySize {
			kek := bytes.Clone(data)
			if err := checkKEK(kek); err != nil {
				return nil, fmt.Errorf("load key-encryption key from %s: %w", path, err)
			}
			return kek, nil
		}
		kek, err := decodeKEK(string(data), "want exactly 32 raw bytes, 64 hex characters or the base64 of 32 bytes")
		if err != nil {
			return nil, fmt.Errorf("load key-encryption key from %s: %w", path, err)
		}
		return kek, nil
	}
	if getenv == nil {
		getenv = os.Getenv
	}
	v := getenv(EnvKEK)
	if strings.TrimSpace(v) == "" {
		return nil, fmt.Errorf("load key-encryption key: no key-encryption key: name a file holding one, or set %s "+
			"(for example to the output of `openssl rand -hex 32`)", EnvKEK)
	}
	kek, err := decodeKEK(v, "want 64 hex characters or the base64 of 32 bytes")
	if err != nil {
		return nil, fmt.Errorf("load key-encryption key from %s: %w", EnvKEK, err)
	}
	return kek, nil
}

func readKEKFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%s is not a regular file", path)
	}
	data, err := io.ReadAll(io.LimitReader(f, maxKEKFile+1))
	if err != nil {
		clear(data)
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	if len(data) > maxKEKFile {
		clear(data)
		return nil, fmt.Errorf("%s is larger than %d bytes: it does not hold a 32-byte key", path, maxKEKFile)
	}
	return data, nil
}

// decodeKEK decodes the text forms of a KEK.
// want says which forms are accepted, for the errors.
func decodeKEK(s, want string) ([]byte, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return nil, errors.New("empty: " + want)
	}
	var kek []byte
	if len(s) == 2*KeySize {
		b, err := hex.DecodeString(s)
		if err != nil {
			return nil, errors.New("64 characters but not hexadecimal: " + want)
		}
		kek = b
	} else {
		for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
			if b, err := enc.Strict().DecodeString(s); err == nil && len(b) == KeySize {
				kek = b
				break
			}
		}
		if kek == nil {
			return nil, fmt.Errorf("%d characters in no accepted form: %s", len(s), want)
		}
	}
	if err := checkKEK(kek); err != nil {
		clear(kek)
		return nil, err
	}
	return kek, nil
}
