package sframe

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/binary"
	"hash"
)

// ctrHMAC is the AES-CTR + HMAC-SHA256 AEAD of RFC 9605 section 4.5.1 (encrypt-then-MAC, as in
// SRTP), used by suites 1 to 3. It is built once per key so that Seal and Open do not allocate,
// and it is therefore not safe for concurrent use.
//
// AES-CTR is written out here over cipher.Block rather than taken from cipher.NewCTR, which
// allocates a stream per call (one per frame, since every frame has its own nonce). It is the
// counter mode of NIST SP 800-38A with a 128-bit big-endian counter, exactly what
// cipher.NewCTR computes (TestCTRMatchesStdlib checks this). The price is speed: one block at
// a time, AES-CTR here runs at about a quarter of the standard library's pipelined CTR, which
// still leaves HMAC-SHA256 and this together well above any media bitrate.
type ctrHMAC struct {
	block   cipher.Block
	mac     hash.Hash
	tagSize int

	// Scratch, kept here so that the hot path never allocates.
	ctrBlock  [aes.BlockSize]byte
	keystream [32 * aes.BlockSize]byte
	lens      [24]byte
	sum       [sha256.Size]byte
}

var _ cipher.AEAD = (*ctrHMAC)(nil)

// newCTRHMAC builds the AEAD from sframe_key: the first nka bytes are the AES key, the
// remaining Nh bytes the HMAC key (derive_subkeys, section 4.5.1); tags are cut to tagSize.
func newCTRHMAC(key []byte, nka, tagSize int) (*ctrHMAC, error) {
	block, err := aes.NewCipher(key[:nka])
	if err != nil {
		return nil, err
	}
	return &ctrHMAC{
		block:   block,
		mac:     hmac.New(sha256.New, key[nka:]),
		tagSize: tagSize,
	}, nil
}

func (a *ctrHMAC) NonceSize() int { return nonceSize }
func (a *ctrHMAC) Overhead() int  { return a.tagSize }

// Seal is AEAD.Encrypt of section 4.5.1: ct = AES-CTR(enc_key, nonce || 0x00000000, pt), then
// the truncated tag. dst may be plaintext[:0]; any other overlap is the caller's bug.
func (a *ctrHMAC) Seal(dst, nonce, plaintext, aad []byte) []byte {
	if len(nonce) != nonceSize {
		panic("sframe: incorrect nonce length")
	}
	ret, out := sliceForAppend(dst, len(plaintext)+a.tagSize)
	ct := out[:len(plaintext)]
	a.xorKeyStream(ct, plaintext, nonce)
	copy(out[len(plaintext):], a.tag(nonce, aad, ct))
	return ret
}

// Open is AEAD.Decrypt of section 4.5.1. The tag is checked, in constant time, before anything
// is decrypted, so a forged ciphertext writes nothing to dst.
func (a *ctrHMAC) Open(dst, nonce, ciphertext, aad []byte) ([]byte, error) {
	if len(nonce) != nonceSize {
		panic("sframe: incorrect nonce length")
	}
	if len(ciphertext) < a.tagSize {
		return nil, ErrAuth
	}
	n := len(ciphertext) - a.tagSize
	ct, tag := ciphertext[:n], ciphertext[n:]
	if subtle.ConstantTimeCompare(a.tag(nonce, aad, ct), tag) != 1 {
		return nil, ErrAuth
	}
	ret, out := sliceForAppend(dst, n)
	a.xorKeyStream(out, ct, nonce)
	return ret, nil
}

// tag is compute_tag of section 4.5.1:
// HMAC(auth_key, len(aad) || len(ct) || Nt || nonce || aad || ct), lengths as 8-byte
// big-endian integers, truncated to Nt bytes. The result aliases a's scratch.
func (a *ctrHMAC) tag(nonce, aad, ct []byte) []byte {
	binary.BigEndian.PutUint64(a.lens[0:], uint64(len(aad)))
	binary.BigEndian.PutUint64(a.lens[8:], uint64(len(ct)))
	binary.BigEndian.PutUint64(a.lens[16:], uint64(a.tagSize))
	a.mac.Reset()
	a.mac.Write(a.lens[:])
	a.mac.Write(nonce)
	a.mac.Write(aad)
	a.mac.Write(ct)
	return a.mac.Sum(a.sum[:0])[:a.tagSize]
}

// xorKeyStream XORs src with the AES-CTR keystream whose initial counter block is
// nonce || 0x00000000 (section 4.5.1) into dst. dst and src must overlap exactly or not at all.
func (a *ctrHMAC) xorKeyStream(dst, src, nonce []byte) {
	a.xorKeyStreamFrom(dst, src, binary.BigEndian.Uint64(nonce[0:8]), uint64(binary.BigEndian.Uint32(nonce[8:12]))<<32)
}

// xorKeyStreamFrom is xorKeyStream from the counter block hi || lo.
func (a *ctrHMAC) xorKeyStreamFrom(dst, src []byte, hi, lo uint64) {
	for len(src) > 0 {
		n := min(len(src), len(a.keystream))
		for i := 0; i < n; i += aes.BlockSize {
			binary.BigEndian.PutUint64(a.ctrBlock[0:8], hi)
			binary.BigEndian.PutUint64(a.ctrBlock[8:16], lo)
			a.block.Encrypt(a.keystream[i:i+aes.BlockSize], a.ctrBlock[:])
			lo++
			if lo == 0 {
				hi++
			}
		}
		subtle.XORBytes(dst[:n], src[:n], a.keystream[:n])
		dst, src = dst[n:], src[n:]
	}
	clear(a.keystream[:])
}
