package clientip

import (
	"strings"
	"testing"
)

// FuzzClientAddr checks that ClientAddr never panics, returns a normalised address, and
// cannot be steered by what a client puts in front of the header: prepending a field (the
// client's own X-Forwarded-For) never changes an answer that was not a trusted proxy.
func FuzzClientAddr(f *testing.F) {
	for _, s := range [][3]string{
		{"10.0.0.1:1234", "1.2.3.4", "198.51.100.1, 10.0.0.2"},
		{"[::1]:80", "", "[2001:db8::1]:443 , fe80::1%eth0"},
		{"127.0.0.1:9", "unknown", "::ffff:198.51.100.1,,10.0.0.3:80"},
		{"203.0.113.9:1", "x", "y"},
		{"@", "", ""},
	} {
		f.Add(s[0], s[1], s[2])
	}
	res := Resolver{Trusted: testTrusted}
	f.Fuzz(func(t *testing.T, remote, client, proxies string) {
		got, err := res.ClientAddr(request(remote, proxies))
		if err != nil {
			return
		}
		if !got.IsValid() || got.Zone() != "" || got.Is4In6() {
			t.Fatalf("ClientAddr = %v: want a valid unmapped address without zone", got)
		}
		if peer, err := parsePeer(remote); err == nil && !res.trusts(peer) && got != peer {
			t.Fatalf("ClientAddr = %v with untrusted peer %v, want the peer", got, peer)
		}
		if res.trusts(got) {
			return
		}
		got2, err := res.ClientAddr(request(remote, client, proxies))
		if err != nil || got2 != got {
			t.Fatalf("prepending X-Forwarded-For %q changed ClientAddr from %v to %v, %v", client, got, got2, err)
		}
	})
}

// FuzzParsePrefixes checks that ParsePrefixes never panics and that what it accepts is
// canonical: masked, unmapped, and read back the same from its String form.
func FuzzParsePrefixes(f *testing.F) {
	for _, s := range []string{"127.0.0.0/8,::1/128", " 10.0.0.0/8 ,,fd00::/8", "::ffff:10.0.0.0/104", "10.0.0.1/8", "fe80::1%eth0", "192.0.2.1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, err := ParsePrefixes(s)
		if err != nil {
			return
		}
		var ss []string
		for _, p := range got {
			if !p.IsValid() || p != p.Masked() || p.Addr().Is4In6() {
				t.Fatalf("ParsePrefixes(%q) returned non-canonical %v", s, p)
			}
			ss = append(ss, p.String())
		}
		again, err := ParsePrefixes(strings.Join(ss, ","))
		if err != nil || len(again) != len(got) {
			t.Fatalf("ParsePrefixes(%q) = %v, but reparsing gives %v, %v", s, got, again, err)
		}
		for i := range got {
			if again[i] != got[i] {
				t.Fatalf("ParsePrefixes(%q) = %v, but reparsing gives %v", s, got, again)
			}
		}
	})
}
