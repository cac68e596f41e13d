package keywrap_test

import (
	"bytes"
	"crypto/hpke"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"testing"

	"github.com/geofence/geofence/crypto/keywrap"
	"github.com/geofence/geofence/internal/sharedtest"
)

// hexBytes is a hex string of the RFC 9180 test vector file.
type hexBytes []byte

func (h *hexBytes) UnmarshalText(text []byte) error {
	b, err := hex.DecodeString(string(text))
	*h = b
	return err
}

type hpkeVector struct {
	Mode        int      `json:"mode"`
	KEM         uint16   `json:"kem_id"`
	KDF         uint16   `json:"kdf_id"`
	AEAD        uint16   `json:"aead_id"`
	Info        hexBytes `json:"info"`
	IKMR        hexBytes `json:"ikmR"`
	SKRm        hexBytes `json:"skRm"`
	PKRm        hexBytes `json:"pkRm"`
	Enc         hexBytes `json:"enc"`
	Encryptions []struct {
		AAD hexBytes `json:"aad"`
		CT  hexBytes `json:"ct"`
		PT  hexBytes `json:"pt"`
	} `json:"encryptions"`
	Exports []struct {
		Context hexBytes `json:"exporter_context"`
		L       int      `json:"L"`
		Value   hexBytes `json:"exported_value"`
	} `json:"exports"`
}

// TestRFC9180Vectors runs the recipient side of every RFC 9180 Appendix A test vector that
// crypto/hpke can run, keywrap's own suite (KEM 0x0020, KDF 0x0001, AEAD 0x0002) among them.
//
// crypto/hpke implements base mode (0) only, so the psk, auth and auth-psk entries (modes 1-3)
// are skipped, and it has no X448 (KEM 0x0021), whose entries are skipped because NewKEM
// refuses it. That leaves mode 0 x KEMs {P-256, P-521, X25519} x KDFs {HKDF-SHA256,
// HKDF-SHA512} x AEADs {AES-128-GCM, AES-256-GCM, ChaCha20Poly1305, export-only} = 3x2x4 = 24
// entries of the 128. The six export-only (AEAD 0xFFFF) entries have no encryptions and are
// checked through their exports; the other 18 have 257 encryptions each. If Go gains X448, the
// count assertion fails and the expected numbers below must be raised.
func TestRFC9180Vectors(t *testing.T) {
	const (
		wantApplicable  = 24
		wantEncryptions = 18 * 257
		wantExports     = 24 * 3
	)
	data, err := os.ReadFile(sharedtest.Path(t, "vectors/hpke-rfc9180-test-vectors.json"))
	if err != nil {
		t.Fatal(err)
	}
	var vectors []hpkeVector
	if err := json.Unmarshal(data, &vectors); err != nil {
		t.Fatal(err)
	}
	if got, want := len(vectors), 128; got != want {
		t.Fatalf("vector file has %d entries, want %d", got, want)
	}
	var applicable, opened, exported int
	for i, v := range vectors {
		if v.Mode != 0 {
			continue
		}
		kem, err := hpke.NewKEM(v.KEM)
		if err != nil {
			if v.KEM != 0x0021 {
				t.Errorf("vector %d: NewKEM(%#04x): %v; only X448 (0x0021) is expected to be missing", i, v.KEM, err)
			}
			continue
		}
		applicable++
		name := fmt.Sprintf("kem%04x_kdf%04x_aead%04x", v.KEM, v.KDF, v.AEAD)
		t.Run(name, func(t *testing.T) {
			kdf, err := hpke.NewKDF(v.KDF)
			if err != nil {
				t.Fatalf("NewKDF(%#04x): %v", v.KDF, err)
			}
			aead, err := hpke.NewAEAD(v.AEAD)
			if err != nil {
				t.Fatalf("NewAEAD(%#04x): %v", v.AEAD, err)
			}
			sk, err := kem.NewPrivateKey(v.SKRm)
			if err != nil {
				t.Fatalf("NewPrivateKey(skRm): %v", err)
			}
			if got := sk.PublicKey().Bytes(); !bytes.Equal(got, v.PKRm) {
				t.Errorf("public key of skRm = %x, want pkRm %x", got, v.PKRm)
			}
			// RFC 9180 section 7.1.3: DeriveKeyPair(ikmR) gives the same key pair.
			derived, err := kem.DeriveKeyPair(v.IKMR)
			if err != nil {
				t.Fatalf("DeriveKeyPair(ikmR): %v", err)
			}
			if got := derived.PublicKey().Bytes(); !bytes.Equal(got, v.PKRm) {
				t.Errorf("DeriveKeyPair(ikmR) public key = %x, want pkRm %x", got, v.PKRm)
			}
			if v.KEM == 0x0020 {
				// keywrap's own private key encoding loads skRm to the same public key.
				k, err := keywrap.ParsePrivateKey("x25519-private:" + base64.RawURLEncoding.EncodeToString(v.SKRm))
				if err != nil {
					t.Fatalf("keywrap.ParsePrivateKey(skRm): %v", err)
				}
				if got := k.PublicKey().Bytes(); !bytes.Equal(got, v.PKRm) {
					t.Errorf("keywrap public key of skRm = %x, want pkRm %x", got, v.PKRm)
				}
			}
			r, err := hpke.NewRecipient(v.Enc, sk, kdf, aead, v.Info)
			if err != nil {
				t.Fatalf("NewRecipient: %v", err)
			}
			// The entries are in sequence-number order (RFC 9180 section 5.2): each Open uses
			// the next nonce, so they must be opened one after another on one context.
			for seq, e := range v.Encryptions {
				pt, err := r.Open(e.AAD, e.CT)
				if err != nil {
					t.Fatalf("Open of encryption %d: %v", seq, err)
				}
				if !bytes.Equal(pt, e.PT) {
					t.Fatalf("Open of encryption %d = %x, want %x", seq, pt, e.PT)
				}
				opened++
			}
			if len(v.Encryptions) > 1 {
				// Out of order, the nonce is wrong: encryption 1 does not open first.
				r2, err := hpke.NewRecipient(v.Enc, sk, kdf, aead, v.Info)
				if err != nil {
					t.Fatal(err)
				}
				if _, err := r2.Open(v.Encryptions[1].AAD, v.Encryptions[1].CT); err == nil {
					t.Errorf("encryption 1 opened with sequence number 0, want an error")
				}
			}
			for j, x := range v.Exports {
				got, err := r.Export(string(x.Context), x.L)
				if err != nil {
					t.Fatalf("Export %d: %v", j, err)
				}
				if !bytes.Equal(got, x.Value) {
					t.Errorf("Export %d = %x, want %x", j, got, x.Value)
				}
				exported++
			}
		})
	}
	if applicable != wantApplicable {
		t.Errorf("ran %d applicable vectors, want %d", applicable, wantApplicable)
	}
	if opened != wantEncryptions {
		t.Errorf("opened %d encryptions, want %d", opened, wantEncryptions)
	}
	if exported != wantExports {
		t.Errorf("checked %d exports, want %d", exported, wantExports)
	}
	t.Logf("RFC 9180: %d applicable vectors, %d encryptions opened, %d exports checked", applicable, opened, exported)
}
