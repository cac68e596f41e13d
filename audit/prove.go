package audit

import (
	"context"
	"encoding/base64"
	"fmt"

	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"
)

// Proof is an inclusion proof of one entry in a signed checkpoint (RFC 6962 section 2.1.1):
// with the checkpoint, whose signature anyone checks against the log's verifier key, it shows
// the entry is in the log at Index, unchanged.
type Proof struct {
	Origin   string `json:"origin"`
	Index    uint64 `json:"index"`
	TreeSize uint64 `json:"tree_size"`
	// Entry is the entry's exact bytes (a JSON string, so no reformatting changes its hash).
	Entry      string   `json:"entry"`
	LeafHash   string   `json:"leaf_hash"` // base64, SHA-256(0x00 || entry)
	Root       string   `json:"root"`      // base64, the checkpoint's root hash
	Path       []string `json:"path"`      // base64 hashes, leaf to root
	Checkpoint string   `json:"checkpoint"`
}

// Prove makes the inclusion proof of entry index in the log's current checkpoint, after
// checking the checkpoint's signature and that the proof verifies against its root (with
// transparency-dev/merkle, not with the code that built the proof).
func Prove(ctx context.Context, src Source, vkeys []string, index uint64) (*Proof, error) {
	raw, err := src.Fetch(ctx, "checkpoint")
	if err != nil {
		return nil, fmt.Errorf("prove entry %d: read checkpoint: %w", index, err)
	}
	cp, err := OpenCheckpoint(raw, vkeys)
	if err != nil {
		return nil, fmt.Errorf("prove entry %d: %w", index, err)
	}
	if index >= cp.Size {
		return nil, fmt.Errorf("prove entry %d: the log's checkpoint commits to %d entries (0 to %d)", index, cp.Size, int64(cp.Size)-1)
	}
	lv, err := readLeaves(ctx, src, cp.Size)
	if err != nil {
		return nil, fmt.Errorf("prove entry %d: %w", index, err)
	}
	path := inclusionPath(index, lv.Hashes)
	p := &Proof{Origin: cp.Origin, Index: index, TreeSize: cp.Size, Entry: string(lv.Data[index]),
		LeafHash: b64(lv.Hashes[index][:]), Root: b64(cp.Hash[:]), Path: make([]string, len(path)), Checkpoint: string(raw)}
	bs := make([][]byte, len(path))
	for i, h := range path {
		p.Path[i] = b64(h[:])
		bs[i] = h[:]
	}
	if err := proof.VerifyInclusion(rfc6962.DefaultHasher, index, cp.Size, lv.Hashes[index][:], bs, cp.Hash[:]); err != nil {
		return nil, fmt.Errorf("prove entry %d: the log's entries do not hash to its checkpoint (run audit verify): %w", index, err)
	}
	return p, nil
}

// CheckProof checks an inclusion proof against the log's verifier keys: the checkpoint's
// signature, and the path from the entry's leaf hash to its root.
func CheckProof(p *Proof, vkeys []string) error {
	cp, err := OpenCheckpoint([]byte(p.Checkpoint), vkeys)
	if err != nil {
		return fmt.Errorf("check proof: %w", err)
	}
	if cp.Size != p.TreeSize {
		return fmt.Errorf("check proof: proof for a tree of %d, the checkpoint has %d", p.TreeSize, cp.Size)
	}
	leaf := leafHash([]byte(p.Entry))
	var path [][]byte
	for _, s := range p.Path {
		h, err := base64.StdEncoding.DecodeString(s)
		if err != nil {
			return fmt.Errorf("check proof: path: %w", err)
		}
		path = append(path, h)
	}
	if err := proof.VerifyInclusion(rfc6962.DefaultHasher, p.Index, cp.Size, leaf[:], path, cp.Hash[:]); err != nil {
		return fmt.Errorf("check proof: %w", err)
	}
	return nil
}

// inclusionPath is RFC 6962 section 2.1.1's PATH(m, D[n]), bottom up.
func inclusionPath(m uint64, hs [][32]byte) [][32]byte {
	n := uint64(len(hs))
	if n <= 1 {
		return nil
	}
	k := uint64(1)
	for k*2 < n {
		k *= 2
	}
	if m < k {
		return append(inclusionPath(m, hs[:k]), rootOf(hs[k:]))
	}
	return append(inclusionPath(m-k, hs[k:]), rootOf(hs[:k]))
}

func b64(b []byte) string { return base64.StdEncoding.EncodeToString(b) }
