package ticket

import (
	"crypto/ed25519"
	"fmt"
	"slices"
	"strings"
)

// PublicKey is a ticket-verifying key by its id: what replicated directories publish to each
// other, so that every directory's key set verifies every directory's tickets (DESIGN.md
// section 9). Private keys never leave the directory that made them.
type PublicKey struct {
	KID    string
	Public ed25519.PublicKey
}

// PublicKeys are the signer's own public keys: the active, the next and the retired ones not
// yet pruned. A directory publishes them for its peers.
func (s *Signer) PublicKeys() []PublicKey {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := []PublicKey{{s.active.kid, s.active.pub}, {s.next.kid, s.next.pub}}
	for _, k := range s.retired {
		out = append(out, PublicKey{k.kid, k.pub})
	}
	return out
}

// SetPeers makes the signer's key set also publish keys, the other directories' of the
// deployment, replacing the previous peers. Keys whose id the signer has already are ignored:
// a key id names one key (a thumbprint of it).
func (s *Signer) SetPeers(keys []PublicKey) error {
	for _, k := range keys {
		if len(k.Public) != ed25519.PublicKeySize || k.KID == "" {
			return fmt.Errorf("set peer ticket keys: key %q is not an Ed25519 public key", k.KID)
		}
	}
	keys = slices.Clone(keys)
	slices.SortFunc(keys, func(a, b PublicKey) int { return strings.Compare(a.KID, b.KID) })
	s.mu.Lock()
	defer s.mu.Unlock()
	s.peers = keys
	if err := s.publish(); err != nil {
		return fmt.Errorf("set peer ticket keys: %w", err)
	}
	return nil
}
