package sframe

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"testing"

	"github.com/geofence/geofence/internal/sharedtest"
)

// The official vectors of RFC 9605 appendix C, read from ../shared/vectors.
const vectorsFile = "vectors/sframe-rfc9605-test-vectors.json"

type hexBytes []byte

func (h *hexBytes) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return err
	}
	v, err := hex.DecodeString(s)
	*h = v
	return err
}

type headerVector struct {
	KID     uint64   `json:"kid"`
	CTR     uint64   `json:"ctr"`
	Encoded hexBytes `json:"encoded"`
}

type ctrHMACVector struct {
	CipherSuite Suite    `json:"cipher_suite"`
	Key         hexBytes `json:"key"`
	EncKey      hexBytes `json:"enc_key"`
	AuthKey     hexBytes `json:"auth_key"`
	Nonce       hexBytes `json:"nonce"`
	AAD         hexBytes `json:"aad"`
	PT          hexBytes `json:"pt"`
	CT          hexBytes `json:"ct"`
}

type sframeVector struct {
	CipherSuite     Suite    `json:"cipher_suite"`
	KID             uint64   `json:"kid"`
	CTR             uint64   `json:"ctr"`
	BaseKey         hexBytes `json:"base_key"`
	SFrameKeyLabel  hexBytes `json:"sframe_key_label"`
	SFrameSaltLabel hexBytes `json:"sframe_salt_label"`
	SFrameSecret    hexBytes `json:"sframe_secret"`
	SFrameKey       hexBytes `json:"sframe_key"`
	SFrameSalt      hexBytes `json:"sframe_salt"`
	Metadata        hexBytes `json:"metadata"`
	Nonce           hexBytes `json:"nonce"`
	AAD             hexBytes `json:"aad"`
	PT              hexBytes `json:"pt"`
	CT              hexBytes `json:"ct"`
}

type vectors struct {
	Header     []headerVector  `json:"header"`
	AESCTRHMAC []ctrHMACVector `json:"aes_ctr_hmac"`
	SFrame     []sframeVector  `json:"sframe"`
}

// loadVectors reads the vector file strictly (an unknown field fails) and checks that no
// vector is missing, so that a changed file cannot make these tests pass vacuously.
func loadVectors(t testing.TB) *vectors {
	t.Helper()
	f, err := os.Open(sharedtest.Path(t, vectorsFile))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	dec := json.NewDecoder(f)
	dec.DisallowUnknownFields()
	var v vectors
	if err := dec.Decode(&v); err != nil {
		t.Fatalf("decode %s: %v", vectorsFile, err)
	}
	if len(v.Header) != 289 || len(v.AESCTRHMAC) != 3 || len(v.SFrame) != 5 {
		t.Fatalf("%s: got %d header, %d aes_ctr_hmac, %d sframe vectors, want 289, 3, 5",
			vectorsFile, len(v.Header), len(v.AESCTRHMAC), len(v.SFrame))
	}
	return &v
}

func TestHeaderVectors(t *testing.T) {
	for _, v := range loadVectors(t).Header {
		t.Run(fmt.Sprintf("kid=%d/ctr=%d", v.KID, v.CTR), func(t *testing.T) {
			h := Header{KID: v.KID, CTR: v.CTR}
			if got := h.Append(nil); !bytes.Equal(got, v.Encoded) {
				t.Errorf("Append: got %x, want %x", got, v.Encoded)
			}
			if got := h.Len(); got != len(v.Encoded) {
				t.Errorf("Len: got %d, want %d", got, len(v.Encoded))
			}
			// Decode with trailing bytes, as a header is always followed by ciphertext.
			in := append(bytes.Clone(v.Encoded), 0xde, 0xad)
			got, n, err := ParseHeader(in)
			if err != nil || got != h || n != len(v.Encoded) {
				t.Errorf("ParseHeader(%x): got %v, %d, %v, want %v, %d, nil", in, got, n, err, h, len(v.Encoded))
			}
		})
	}
}

func TestAESCTRHMACVectors(t *testing.T) {
	for _, v := range loadVectors(t).AESCTRHMAC {
		t.Run(v.CipherSuite.String(), func(t *testing.T) {
			p, ok := v.CipherSuite.params()
			if !ok || p.nka == 0 {
				t.Fatalf("suite %d: got no CTR+HMAC parameters", v.CipherSuite)
			}
			// derive_subkeys (section 4.5.1).
			if got := v.Key[:p.nka]; !bytes.Equal(got, v.EncKey) {
				t.Errorf("enc_key: got %x, want %x", got, v.EncKey)
			}
			if got := v.Key[p.nka:]; !bytes.Equal(got, v.AuthKey) {
				t.Errorf("auth_key: got %x, want %x", got, v.AuthKey)
			}
			a, err := newCTRHMAC(v.Key, p.nka, p.nt)
			if err != nil {
				t.Fatal(err)
			}
			if got := a.Seal(nil, v.Nonce, v.PT, v.AAD); !bytes.Equal(got, v.CT) {
				t.Errorf("Seal: got %x, want %x", got, v.CT)
			}
			got, err := a.Open(nil, v.Nonce, v.CT, v.AAD)
			if err != nil || !bytes.Equal(got, v.PT) {
				t.Errorf("Open: got %x, %v, want %x, nil", got, err, v.PT)
			}
			bad := bytes.Clone(v.CT)
			bad[len(bad)-1] ^= 1
			if got, err := a.Open(nil, v.Nonce, bad, v.AAD); !errors.Is(err, ErrAuth) || got != nil {
				t.Errorf("Open with a flipped tag bit: got %x, %v, want nil, ErrAuth", got, err)
			}
		})
	}
}

func TestSFrameVectors(t *testing.T) {
	for _, v := range loadVectors(t).SFrame {
		t.Run(v.CipherSuite.String(), func(t *testing.T) {
			check := func(what string, got, want []byte) {
				t.Helper()
				if !bytes.Equal(got, want) {
					t.Errorf("%s: got %x, want %x", what, got, want)
				}
			}
			check("sframe_key_label", []byte(label(keyLabel, v.KID, v.CipherSuite)), v.SFrameKeyLabel)
			check("sframe_salt_label", []byte(label(saltLabel, v.KID, v.CipherSuite)), v.SFrameSaltLabel)
			secret, key, salt, err := deriveKeySalt(v.CipherSuite, v.KID, v.BaseKey)
			if err != nil {
				t.Fatal(err)
			}
			check("sframe_secret", secret, v.SFrameSecret)
			check("sframe_key", key, v.SFrameKey)
			check("sframe_salt", salt, v.SFrameSalt)
			k, err := newKey(v.CipherSuite, v.KID, v.BaseKey)
			if err != nil {
				t.Fatal(err)
			}
			check("nonce", k.nonceFor(v.CTR), v.Nonce)
			check("aad", append(Header{KID: v.KID, CTR: v.CTR}.Append(nil), v.Metadata...), v.AAD)

			// Encrypt through the public API, starting the counter at the vector's CTR.
			s, err := NewSender(v.CipherSuite, v.KID, v.BaseKey)
			if err != nil {
				t.Fatal(err)
			}
			if err := s.AdvanceCounter(v.CTR); err != nil {
				t.Fatal(err)
			}
			ct, err := s.Encrypt(nil, v.Metadata, v.PT)
			if err != nil {
				t.Fatal(err)
			}
			check("Encrypt", ct, v.CT)

			var r Receiver
			if err := r.AddKey(v.CipherSuite, v.KID, v.BaseKey); err != nil {
				t.Fatal(err)
			}
			pt, err := r.Decrypt(nil, v.Metadata, v.CT)
			if err != nil {
				t.Fatalf("Decrypt: got error %v, want nil", err)
			}
			check("Decrypt", pt, v.PT)
		})
	}
}
