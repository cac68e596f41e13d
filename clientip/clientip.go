package clientip

import (
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"strings"
)

var (
	// ErrInvalidPeer is returned when the request's RemoteAddr is not an IP address (a Unix
	// socket listener, or a handler test that did not set it).
	ErrInvalidPeer = errors.New("connection peer is not an IP address")

	// ErrInvalidForwardedFor is returned when an X-Forwarded-For entry that a trusted proxy
	// wrote is not an IP address: the proxy is misconfigured (nginx writes "unknown" for a
	// Unix socket peer, for example) and the client cannot be known.
	ErrInvalidForwardedFor = errors.New("X-Forwarded-For entry is not an IP address")
)

// Resolver finds the client address of HTTP requests. Its zero value trusts no proxy, so it
// returns the connection's peer and ignores X-Forwarded-For. A Resolver must not be modified
// once in use; it is safe for concurrent use.
type Resolver struct {
	// Trusted lists the networks of the proxies whose X-Forwarded-For entries are believed
	// (loopback in `geofence dev`). Default: none. Never list a network that clients can
	// connect from directly: their forged headers would be believed.
	Trusted []netip.Prefix
}

// ClientAddr returns the address of the client that sent r. The address is unmapped
// (::ffff:192.0.2.1 becomes 192.0.2.1) and has no zone.
//
// When the peer r.RemoteAddr is not in Trusted, it is the client. Otherwise the
// X-Forwarded-For fields are read from the right (several fields are one comma-separated list
// in order, RFC 9110 section 5.3; empty entries are skipped, section 5.6.1), and the first
// entry outside Trusted is the client; when every entry is trusted, the left-most is, and
// when there is no entry at all, the peer is.
//
// An entry may have spaces around it, a port ("192.0.2.1:4711", "[2001:db8::1]:443"),
// brackets ("[2001:db8::1]") or a zone ("fe80::1%eth0"). An entry that is none of these
// makes ClientAddr fail with ErrInvalidForwardedFor when it is reached, because a trusted
// proxy wrote it and the client behind it is unknown; falling back to the peer would place
// every client of that proxy at the proxy. Garbage left of the client is never reached, so a
// client cannot make its own request fail.
func (res Resolver) ClientAddr(r *http.Request) (netip.Addr, error) {
	peer, err := parsePeer(r.RemoteAddr)
	if err != nil {
		return netip.Addr{}, err
	}
	if !res.trusts(peer) {
		return peer, nil
	}
	client := peer
	fields := r.Header["X-Forwarded-For"] // the map directly: no key canonicalisation
	for i := len(fields) - 1; i >= 0; i-- {
		rest := fields[i]
		for rest != "" {
			entry := rest
			if j := strings.LastIndexByte(rest, ','); j >= 0 {
				entry, rest = rest[j+1:], rest[:j]
			} else {
				rest = ""
			}
			entry = strings.Trim(entry, " \t") // OWS, RFC 9110 section 5.6.3
			if entry == "" {
				continue
			}
			a, ok := parseEntry(entry)
			if !ok {
				return netip.Addr{}, fmt.Errorf("clientip: %q from trusted proxy %s: %w", truncate(entry), client, ErrInvalidForwardedFor)
			}
			client = a
			if !res.trusts(a) {
				return client, nil
			}
		}
	}
	return client, nil
}

// trusts reports whether a is in one of the trusted networks. A network written as an
// IPv4-mapped IPv6 prefix (::ffff:10.0.0.0/104) also matches the plain IPv4 address.
func (res Resolver) trusts(a netip.Addr) bool {
	for _, p := range res.Trusted {
		if p.Contains(a) {
			return true
		}
		if a.Is4() && p.Addr().Is4In6() && p.Contains(netip.AddrFrom16(a.As16())) {
			return true
		}
	}
	return false
}

// parsePeer parses http.Request.RemoteAddr, "host:port" for TCP connections.
func parsePeer(s string) (netip.Addr, error) {
	ap, err := netip.ParseAddrPort(s)
	if err == nil {
		return normalize(ap.Addr()), nil
	}
	// Some servers and tests set RemoteAddr without a port.
	if a, err := netip.ParseAddr(s); err == nil {
		return normalize(a), nil
	}
	return netip.Addr{}, fmt.Errorf("clientip: peer %q: %w", truncate(s), ErrInvalidPeer)
}

// parseEntry parses one X-Forwarded-For entry: an address, an address with a port, or a
// bracketed IPv6 address with or without a port.
func parseEntry(s string) (netip.Addr, bool) {
	if s[0] == '[' {
		end := strings.IndexByte(s, ']')
		if end < 0 {
			return netip.Addr{}, false
		}
		a, err := netip.ParseAddr(s[1:end])
		if err != nil || !a.Is6() {
			return netip.Addr{}, false
		}
		if tail := s[end+1:]; tail != "" && (tail[0] != ':' || !validPort(tail[1:])) {
			return netip.Addr{}, false
		}
		return normalize(a), true
	}
	if a, err := netip.ParseAddr(s); err == nil {
		return normalize(a), true
	}
	// An IPv6 address with a port has brackets, so this only accepts IPv4 "a.b.c.d:port".
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return normalize(ap.Addr()), true
	}
	return netip.Addr{}, false
}

// validPort reports whether s is a decimal port number, 0 to 65535.
func validPort(s string) bool {
	if len(s) == 0 || len(s) > 5 {
		return false
	}
	n := 0
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
		n = n*10 + int(s[i]-'0')
	}
	return n <= 65535
}

// normalize drops what does not identify the client across the network: the IPv4-mapped
// form that dual-stack sockets report and a link-local zone.
func normalize(a netip.Addr) netip.Addr {
	return a.Unmap().WithZone("")
}

// truncate bounds the untrusted text quoted in an error.
func truncate(s string) string {
	const limit = 64
	if len(s) > limit {
		return s[:limit] + "..."
	}
	return s
}

// ParsePrefixes parses a comma-separated list of trusted proxy networks, as given in a flag:
// "127.0.0.0/8,::1/128". A bare address stands for itself (/32 or /128) and an IPv4-mapped
// prefix is stored as the IPv4 prefix. A prefix with host bits set ("10.0.0.1/8") is
// rejected rather than widened, since a typo here decides whose headers are believed. Every
// bad entry is reported, not only the first. The empty string is no networks.
func ParsePrefixes(s string) ([]netip.Prefix, error) {
	var (
		out  []netip.Prefix
		errs []error
	)
	for entry := range strings.SplitSeq(s, ",") {
		entry = strings.TrimSpace(entry)
		if entry == "" {
			continue
		}
		p, err := parsePrefix(entry)
		if err != nil {
			errs = append(errs, fmt.Errorf("clientip: parse trusted proxy %q: %w", entry, err))
			continue
		}
		out = append(out, p)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return out, nil
}

func parsePrefix(s string) (netip.Prefix, error) {
	var p netip.Prefix
	if strings.Contains(s, "/") {
		var err error
		if p, err = netip.ParsePrefix(s); err != nil {
			return netip.Prefix{}, err
		}
		if m := p.Masked(); m != p {
			return netip.Prefix{}, fmt.Errorf("host bits are set; write %s for the network", m)
		}
	} else {
		a, err := netip.ParseAddr(s)
		if err != nil {
			return netip.Prefix{}, err
		}
		if a.Zone() != "" {
			return netip.Prefix{}, errors.New("an address with a zone cannot be a network")
		}
		p = netip.PrefixFrom(a, a.BitLen())
	}
	if p.Addr().Is4In6() && p.Bits() >= 96 {
		p = netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96)
	}
	return p, nil
}
