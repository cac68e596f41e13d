package audit

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"

	"golang.org/x/mod/sumdb/note"
)

// This file reads a log as an auditor does, from the C2SP specifications alone (tlog-tiles,
// tlog-checkpoint, signed-note): nothing here trusts tessera, which wrote the log.

// TileWidth is the width of a full tile and of a full entry bundle (C2SP tlog-tiles).
const TileWidth = 256

// Source is where a log's resources come from: a folder or a URL.
type Source interface {
	// Fetch returns the resource at path ("checkpoint", "tile/0/000", ...); a missing one is
	// an error matching fs.ErrNotExist.
	Fetch(ctx context.Context, path string) ([]byte, error)
	// String names the log for messages.
	String() string
}

// Dir is a log in a folder.
type Dir string

func (d Dir) String() string { return string(d) }

// Fetch reads path under the folder.
func (d Dir) Fetch(_ context.Context, path string) ([]byte, error) {
	return os.ReadFile(filepath.Join(string(d), filepath.FromSlash(path)))
}

// URL is a log served over HTTP, its base URL (the directory's /v1/audit/{region}).
type URL struct {
	Base   string
	Client *http.Client // nil: http.DefaultClient
}

func (u URL) String() string { return u.Base }

// maxResource bounds what is read of one resource: a full tile is 8 KiB, a full bundle at
// most 256 entries of 64 KiB.
const maxResource = TileWidth * (MaxEntrySize + 2)

// Fetch gets base/path.
func (u URL) Fetch(ctx context.Context, path string) ([]byte, error) {
	c := u.Client
	if c == nil {
		c = http.DefaultClient
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimSuffix(u.Base, "/")+"/"+path, nil)
	if err != nil {
		return nil, err
	}
	resp, err := c.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusNotFound {
		return nil, fmt.Errorf("get %s: %w", req.URL, fs.ErrNotExist)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("get %s: %s", req.URL, resp.Status)
	}
	return io.ReadAll(io.LimitReader(resp.Body, maxResource))
}

// Checkpoint is a parsed C2SP tlog-checkpoint.
type Checkpoint struct {
	Origin string
	Size   uint64
	Hash   [32]byte
	// Raw is the signed note as read.
	Raw []byte
}

// ParseCheckpoint parses the body of a checkpoint note (origin, size, base64 root hash;
// extension lines are allowed and ignored), without checking any signature.
func ParseCheckpoint(text string) (Checkpoint, error) {
	lines := strings.SplitAfter(text, "\n")
	if len(lines) < 4 || lines[len(lines)-1] != "" {
		return Checkpoint{}, errors.New("parse checkpoint: want origin, size and root hash lines, each ending in a newline")
	}
	origin := strings.TrimSuffix(lines[0], "\n")
	if origin == "" {
		return Checkpoint{}, errors.New("parse checkpoint: empty origin")
	}
	sizeText := strings.TrimSuffix(lines[1], "\n")
	size, err := strconv.ParseUint(sizeText, 10, 64)
	if err != nil || strconv.FormatUint(size, 10) != sizeText {
		return Checkpoint{}, fmt.Errorf("parse checkpoint: tree size %q is not a decimal number", sizeText)
	}
	h, err := base64.StdEncoding.Strict().DecodeString(strings.TrimSuffix(lines[2], "\n"))
	if err != nil || len(h) != 32 {
		return Checkpoint{}, errors.New("parse checkpoint: root hash is not 32 bytes of base64")
	}
	cp := Checkpoint{Origin: origin, Size: size}
	copy(cp.Hash[:], h)
	return cp, nil
}

// OpenCheckpoint checks a signed checkpoint note against the verifier keys (signed-note
// "name+hash+key" strings) and parses it. It must carry a valid signature by the key named
// like its origin.
func OpenCheckpoint(raw []byte, vkeys []string) (Checkpoint, error) {
	var vs []note.Verifier
	for _, k := range vkeys {
		v, err := note.NewVerifier(k)
		if err != nil {
			return Checkpoint{}, fmt.Errorf("verifier key %q: %w", k, err)
		}
		vs = append(vs, v)
	}
	n, err := note.Open(raw, note.VerifierList(vs...))
	if err != nil {
		var unknown *note.UnverifiedNoteError
		if errors.As(err, &unknown) {
			return Checkpoint{}, errors.New("checkpoint signature: no signature by a pinned key (re-signed with another key, or the wrong --vkey)")
		}
		return Checkpoint{}, fmt.Errorf("checkpoint signature: %w", err)
	}
	cp, err := ParseCheckpoint(n.Text)
	if err != nil {
		return Checkpoint{}, err
	}
	signed := false
	for _, s := range n.Sigs {
		if s.Name == cp.Origin {
			signed = true
		}
	}
	if !signed {
		return Checkpoint{}, fmt.Errorf("checkpoint of %q is not signed by a key of that name", cp.Origin)
	}
	cp.Raw = raw
	return cp, nil
}

// TilePath is the C2SP tlog-tiles path of tile (level, index), partial of width w when
// 0 < w < TileWidth; level -1 is the entry bundles.
func TilePath(level int, index uint64, w int) string {
	l := "entries"
	if level >= 0 {
		l = strconv.Itoa(level)
	}
	p := "tile/" + l + "/" + indexPath(index)
	if w > 0 && w < TileWidth {
		p += ".p/" + strconv.Itoa(w)
	}
	return p
}

// indexPath encodes a tile index as 3-digit groups, every group but the last prefixed "x".
func indexPath(n uint64) string {
	s := fmt.Sprintf("%03d", n%1000)
	for n /= 1000; n > 0; n /= 1000 {
		s = fmt.Sprintf("x%03d/", n%1000) + s
	}
	return s
}

var validTilePath = regexp.MustCompile(`^tile/(entries|[0-9]{1,2})/(x[0-9]{3}/)*[0-9]{3}(\.p/[0-9]{1,3})?$`)

// ValidPath reports whether path names a resource of a tlog-tiles log: the checkpoint, a
// tile or an entry bundle. A server of the logs serves nothing else (never .state).
func ValidPath(path string) bool { return path == "checkpoint" || validTilePath.MatchString(path) }

// fetchResource reads a tile or bundle of width w, falling back to the full resource (and
// its first w items) when the partial one is gone (C2SP tlog-tiles lets a log delete partial
// tiles once the full one exists).
func fetchResource(ctx context.Context, src Source, level int, index uint64, w int) ([]byte, string, error) {
	p := TilePath(level, index, w)
	b, err := src.Fetch(ctx, p)
	if err == nil || w == TileWidth || !errors.Is(err, fs.ErrNotExist) {
		return b, p, err
	}
	full := TilePath(level, index, TileWidth)
	b, err = src.Fetch(ctx, full)
	if err != nil {
		return nil, p, fmt.Errorf("%s (and %s): %w", p, full, err)
	}
	return b, full, nil
}

// Leaves are a log's entries as read, with their leaf hashes.
type Leaves struct {
	Data   [][]byte
	Hashes [][32]byte
}

// leafHash is RFC 6962 section 2.1's leaf hash.
func leafHash(b []byte) [32]byte {
	h := sha256.New()
	h.Write([]byte{0})
	h.Write(b)
	var out [32]byte
	h.Sum(out[:0])
	return out
}

// nodeHash is RFC 6962 section 2.1's interior node hash.
func nodeHash(l, r [32]byte) [32]byte {
	var buf [65]byte
	buf[0] = 1
	copy(buf[1:], l[:])
	copy(buf[33:], r[:])
	return sha256.Sum256(buf[:])
}

// readLeaves reads the first size entries from the entry bundles.
func readLeaves(ctx context.Context, src Source, size uint64) (*Leaves, error) {
	lv := &Leaves{Data: make([][]byte, 0, size), Hashes: make([][32]byte, 0, size)}
	for bundle := uint64(0); bundle*TileWidth < size; bundle++ {
		w := int(min(size-bundle*TileWidth, TileWidth))
		b, p, err := fetchResource(ctx, src, -1, bundle, w)
		if err != nil {
			return nil, fmt.Errorf("entry bundle %d: %w", bundle, err)
		}
		for i := 0; i < w; i++ {
			if len(b) < 2 {
				return nil, fmt.Errorf("entry bundle %s ends after %d of the %d entries the checkpoint commits to (truncated)", p, i, w)
			}
			n := int(b[0])<<8 | int(b[1])
			if len(b) < 2+n {
				return nil, fmt.Errorf("entry bundle %s: entry %d is cut short (truncated)", p, bundle*TileWidth+uint64(i))
			}
			d := b[2 : 2+n]
			lv.Data = append(lv.Data, d)
			lv.Hashes = append(lv.Hashes, leafHash(d))
			b = b[2+n:]
		}
		if len(b) != 0 && w == TileWidth {
			return nil, fmt.Errorf("entry bundle %s has %d bytes after its %d entries", p, len(b), w)
		}
	}
	return lv, nil
}

// rootOf is the RFC 6962 Merkle tree hash of leaf hashes (section 2.1).
func rootOf(hs [][32]byte) [32]byte {
	switch len(hs) {
	case 0:
		return sha256.Sum256(nil)
	case 1:
		return hs[0]
	}
	k := 1
	for k*2 < len(hs) {
		k *= 2
	}
	return nodeHash(rootOf(hs[:k]), rootOf(hs[k:]))
}

// checkTiles recomputes every hash tile of a tree of leaf hashes hs and compares it with
// the log's: a tile at level L holds the roots of the full subtrees of 256^L leaves, and the
// last tile of a level is partial unless the level's count is a multiple of 256.
func checkTiles(ctx context.Context, src Source, hs [][32]byte) error {
	level := hs
	for l := 0; len(level) > 0; l++ {
		for t := 0; t*TileWidth < len(level); t++ {
			want := level[t*TileWidth : min((t+1)*TileWidth, len(level))]
			b, p, err := fetchResource(ctx, src, l, uint64(t), len(want))
			if err != nil {
				return fmt.Errorf("hash tile %d/%d: %w", l, t, err)
			}
			if len(b) < len(want)*32 || (len(want) == TileWidth || strings.Contains(p, ".p/")) && len(b) != len(want)*32 {
				return fmt.Errorf("hash tile %s has %d bytes, want %d (truncated or padded)", p, len(b), len(want)*32)
			}
			for i, h := range want {
				if !bytes.Equal(b[i*32:(i+1)*32], h[:]) {
					return fmt.Errorf("hash tile %s: hash %d differs from the one recomputed from the entries (covering entries from %d)",
						p, i, uint64(t*TileWidth+i)<<(8*l))
				}
			}
		}
		// The next level: the root of each full tile of this one.
		var next [][32]byte
		for t := 0; (t+1)*TileWidth <= len(level); t++ {
			next = append(next, rootOf(level[t*TileWidth:(t+1)*TileWidth]))
		}
		level = next
	}
	return nil
}
