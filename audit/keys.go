package audit

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// The files of an evidence folder besides the logs: the private keys in keys/ (never served)
// and the verifier keys anyone may have.
const (
	SigningKeyFile = "keys/checkpoint.key" // base64 Ed25519 seed
	HashKeyFile    = "keys/hash.key"       // base64 key of the keyed hashes
	VKeysFile      = "vkeys"               // one signed-note verifier key per region, a line each
)

// Keys are an evidence folder's keys.
type Keys struct {
	Signing ed25519.PrivateKey
	Hash    []byte
}

// LoadOrCreateKeys reads the keys of the evidence folder dir, making them (and the folder)
// on first use, so that a restart resumes the same logs with the same keys.
func LoadOrCreateKeys(dir string) (*Keys, error) {
	seed, err := readOrCreate(filepath.Join(dir, SigningKeyFile), ed25519.SeedSize)
	if err != nil {
		return nil, fmt.Errorf("checkpoint key: %w", err)
	}
	h, err := readOrCreate(filepath.Join(dir, HashKeyFile), HashKeySize)
	if err != nil {
		return nil, fmt.Errorf("hash key: %w", err)
	}
	return &Keys{Signing: ed25519.NewKeyFromSeed(seed), Hash: h}, nil
}

func readOrCreate(path string, size int) ([]byte, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		k := make([]byte, size)
		rand.Read(k)
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			return nil, err
		}
		if err := os.WriteFile(path, []byte(base64.StdEncoding.EncodeToString(k)+"\n"), 0o600); err != nil {
			return nil, err
		}
		return k, nil
	}
	if err != nil {
		return nil, err
	}
	k, err := base64.StdEncoding.DecodeString(strings.TrimSpace(string(b)))
	if err != nil || len(k) != size {
		return nil, fmt.Errorf("%s: want %d bytes of base64", path, size)
	}
	return k, nil
}

// WriteVKeys writes the verifier keys of every region's log to dir/vkeys and returns them.
func WriteVKeys(dir, origin string, regions []string, pub ed25519.PublicKey) ([]string, error) {
	if origin == "" {
		origin = DefaultOrigin
	}
	var vkeys []string
	for _, r := range regions {
		v, err := VerifierKey(origin+"/"+r, pub)
		if err != nil {
			return nil, err
		}
		vkeys = append(vkeys, v)
	}
	return vkeys, os.WriteFile(filepath.Join(dir, VKeysFile), []byte(strings.Join(vkeys, "\n")+"\n"), 0o644)
}

// ParseVKeys reads verifier keys, one a line; blank lines and # comments are skipped.
func ParseVKeys(b []byte) []string {
	var out []string
	for _, l := range strings.Split(string(b), "\n") {
		if l = strings.TrimSpace(l); l != "" && !strings.HasPrefix(l, "#") {
			out = append(out, l)
		}
	}
	return out
}
