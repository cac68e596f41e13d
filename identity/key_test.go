package identity

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"strings"
	"testing"
)

// RFC 8037 appendix A.1 and A.3: an Ed25519 public key and its JWK thumbprint.
const (
	rfc8037X          = "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"
	rfc8037Thumbprint = "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k"
)

// A key made by `openssl genpkey -algorithm ed25519` (OpenSSL 3.0.19) and its public key as
// `openssl pkey -pubout` gives it, in base64url: a key a customer makes with OpenSSL works.
const (
	opensslKey = `-----BEGIN PRIVATE KEY-----
MC4CAQAwBQYDK2VwBCIEIJKlOldvK/BLsQih/vkjZX4GeL+nC4AePMGM0TgAu+pT
-----END PRIVATE KEY-----
`
	opensslX = "zgtY0A0dEPd6BANk-NQtYIAnT_JD3jTx8BlE-tBu6LQ"
)

func TestParsePublicKey(t *testing.T) {
	tests := []struct {
		name    string
		x       string
		wantErr string // empty: parses
	}{
		{"RFC 8037 A.1", rfc8037X, ""},
		{"openssl", opensslX, ""},
		{"empty", "", "x is empty"},
		{"padded", rfc8037X + "=", "not base64url without padding"},
		{"standard alphabet", "11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo", "not base64url"},
		{"newline", rfc8037X[:20] + "\n" + rfc8037X[20:], "not base64url"},
		{"non-canonical", rfc8037X[:42] + "p", "non-canonical base64"},
		{"short", rfc8037X[:40], "x is 30 bytes, want 32"},
		{"long", rfc8037X + "AAAA", "x is 35 bytes, want 32"},
		{"impossible length", rfc8037X[:41], "impossible base64 length"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pub, err := ParsePublicKey(tt.x)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("got error %v, want none", err)
				}
				if got := EncodePublicKey(pub); got != tt.x {
					t.Errorf("round trip: got %q, want %q", got, tt.x)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("got error %v, want it to contain %q", err, tt.wantErr)
			}
		})
	}
}

func TestThumbprintRFC8037(t *testing.T) {
	pub, err := ParsePublicKey(rfc8037X)
	if err != nil {
		t.Fatal(err)
	}
	if got := Thumbprint(pub); got != rfc8037Thumbprint {
		t.Errorf("got %q, want %q", got, rfc8037Thumbprint)
	}
}

func TestPrivateKeyPEM(t *testing.T) {
	priv, err := ParsePrivateKey([]byte(opensslKey))
	if err != nil {
		t.Fatal(err)
	}
	if got := EncodePublicKey(priv.Public().(ed25519.PublicKey)); got != opensslX {
		t.Errorf("public key of the openssl key: got %q, want %q", got, opensslX)
	}
	enc, err := EncodePrivateKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	if string(enc) != opensslKey {
		t.Errorf("EncodePrivateKey: got\n%s\nwant (as openssl writes it)\n%s", enc, opensslKey)
	}

	ec, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	ecDER, err := x509.MarshalPKCS8PrivateKey(ec)
	if err != nil {
		t.Fatal(err)
	}
	block := func(typ string, der []byte, headers map[string]string) string {
		return string(pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der, Headers: headers}))
	}
	der, _ := pem.Decode([]byte(opensslKey))
	tests := []struct {
		name    string
		data    string
		wantErr string
	}{
		{"empty", "", "no PEM block"},
		{"raw base64", strings.Split(opensslKey, "\n")[1], "no PEM block"},
		{"public key", block("PUBLIC KEY", der.Bytes, nil), `the PEM block is "PUBLIC KEY", want "PRIVATE KEY"`},
		{"OpenSSH key", block("OPENSSH PRIVATE KEY", der.Bytes, nil), `"OPENSSH PRIVATE KEY"`},
		{"encrypted", block("PRIVATE KEY", der.Bytes, map[string]string{"Proc-Type": "4,ENCRYPTED"}), "encrypted key is not supported"},
		{"two keys", opensslKey + opensslKey, "want one key per file"},
		{"ECDSA key", block("PRIVATE KEY", ecDER, nil), "want an Ed25519 key"},
		{"garbage DER", block("PRIVATE KEY", []byte("nope"), nil), "parse private key: the PEM block is not a PKCS #8 key"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParsePrivateKey([]byte(tt.data))
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("got error %v, want it to contain %q", err, tt.wantErr)
			}
		})
	}
	if _, err := EncodePrivateKey(priv[:32]); err == nil {
		t.Error("EncodePrivateKey took a 32-byte key")
	}
}
