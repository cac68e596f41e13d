package clientip

import (
	"errors"
	"net/http"
	"net/netip"
	"slices"
	"strings"
	"testing"
)

// testTrusted is a proxy tier on 10/8, loopback, and an IPv6 proxy network.
var testTrusted = []netip.Prefix{
	netip.MustParsePrefix("10.0.0.0/8"),
	netip.MustParsePrefix("127.0.0.0/8"),
	netip.MustParsePrefix("::1/128"),
	netip.MustParsePrefix("2001:db8:ffff::/48"),
}

func request(remote string, xff ...string) *http.Request {
	r := &http.Request{RemoteAddr: remote, Header: http.Header{}}
	for _, v := range xff {
		r.Header.Add("X-Forwarded-For", v)
	}
	return r
}

func TestClientAddr(t *testing.T) {
	tests := []struct {
		name    string
		trusted []netip.Prefix // nil: testTrusted
		remote  string
		xff     []string // one element per header field
		want    string
		wantErr error
	}{
		{name: "untrusted peer ignores header", remote: "203.0.113.9:1234", xff: []string{"198.51.100.1"}, want: "203.0.113.9"},
		{name: "zero Resolver trusts no proxy", trusted: []netip.Prefix{}, remote: "127.0.0.1:1234", xff: []string{"198.51.100.1"}, want: "127.0.0.1"},
		{name: "trusted peer without header", remote: "10.0.0.1:1234", want: "10.0.0.1"},
		{name: "trusted peer with empty header", remote: "10.0.0.1:1234", xff: []string{""}, want: "10.0.0.1"},
		{name: "trusted peer", remote: "10.0.0.1:1234", xff: []string{"198.51.100.1"}, want: "198.51.100.1"},
		{name: "spoofed entries left of the client", remote: "10.0.0.1:1234", xff: []string{"1.2.3.4, 198.51.100.1"}, want: "198.51.100.1"},
		{name: "chain of trusted proxies", remote: "10.0.0.1:1234", xff: []string{"198.51.100.1, 10.0.0.2, 10.0.0.3"}, want: "198.51.100.1"},
		{name: "every entry trusted gives the left-most", remote: "127.0.0.1:1234", xff: []string{"10.0.0.5, 127.0.0.1"}, want: "10.0.0.5"},
		{name: "several header fields, client in the last", remote: "10.0.0.1:1234", xff: []string{"1.2.3.4", "198.51.100.1, 10.0.0.2"}, want: "198.51.100.1"},
		{name: "several header fields, client in the first", remote: "10.0.0.1:1234", xff: []string{"1.2.3.4, 198.51.100.1", "10.0.0.2", "10.0.0.3"}, want: "198.51.100.1"},
		{name: "spaces and tabs", remote: "10.0.0.1:1234", xff: []string{" 198.51.100.1 ,\t10.0.0.2 "}, want: "198.51.100.1"},
		{name: "empty entries", remote: "10.0.0.1:1234", xff: []string{"198.51.100.1,, ,10.0.0.2,", ","}, want: "198.51.100.1"},
		{name: "ipv4 with port", remote: "10.0.0.1:1234", xff: []string{"198.51.100.1:4711"}, want: "198.51.100.1"},
		{name: "ipv6", remote: "10.0.0.1:1234", xff: []string{"2001:db8::1"}, want: "2001:db8::1"},
		{name: "ipv6 in brackets", remote: "10.0.0.1:1234", xff: []string{"[2001:db8::1]"}, want: "2001:db8::1"},
		{name: "ipv6 in brackets with port", remote: "10.0.0.1:1234", xff: []string{"[2001:db8::1]:443"}, want: "2001:db8::1"},
		{name: "ipv6 with zone", remote: "10.0.0.1:1234", xff: []string{"fe80::1%eth0"}, want: "fe80::1"},
		{name: "ipv6 in brackets with zone and port", remote: "10.0.0.1:1234", xff: []string{"[fe80::1%25eth0]:80"}, want: "fe80::1"},
		{name: "ipv4-mapped entry is unmapped", remote: "10.0.0.1:1234", xff: []string{"::ffff:198.51.100.1"}, want: "198.51.100.1"},
		{name: "ipv4-mapped trusted entry", remote: "10.0.0.1:1234", xff: []string{"198.51.100.1, ::ffff:10.0.0.2"}, want: "198.51.100.1"},
		{name: "trusted ipv6 proxy", remote: "[2001:db8:ffff::7]:443", xff: []string{"198.51.100.1, 2001:db8:ffff::8"}, want: "198.51.100.1"},
		{name: "loopback ipv6 peer", remote: "[::1]:5555", xff: []string{"2001:db8::9"}, want: "2001:db8::9"},
		{name: "ipv4-mapped peer from a dual-stack socket", remote: "[::ffff:10.0.0.1]:80", xff: []string{"198.51.100.1"}, want: "198.51.100.1"},
		{name: "peer with zone", remote: "[fe80::1%eth0]:80", xff: []string{"198.51.100.1"}, want: "fe80::1"},
		{name: "peer without port", remote: "203.0.113.9", want: "203.0.113.9"},
		{name: "garbage left of the client is never reached", remote: "10.0.0.1:1234", xff: []string{"unknown, <script>, 198.51.100.1"}, want: "198.51.100.1"},

		{name: "garbage from the trusted peer", remote: "10.0.0.1:1234", xff: []string{"198.51.100.1, unknown"}, wantErr: ErrInvalidForwardedFor},
		{name: "garbage behind a trusted entry", remote: "10.0.0.1:1234", xff: []string{"garbage, 10.0.0.2"}, wantErr: ErrInvalidForwardedFor},
		{name: "ipv4 in brackets", remote: "10.0.0.1:1234", xff: []string{"[198.51.100.1]"}, wantErr: ErrInvalidForwardedFor},
		{name: "text after brackets", remote: "10.0.0.1:1234", xff: []string{"[2001:db8::1]x"}, wantErr: ErrInvalidForwardedFor},
		{name: "port out of range", remote: "10.0.0.1:1234", xff: []string{"198.51.100.1:99999"}, wantErr: ErrInvalidForwardedFor},
		{name: "bracketed port out of range", remote: "10.0.0.1:1234", xff: []string{"[2001:db8::1]:65536"}, wantErr: ErrInvalidForwardedFor},
		{name: "unclosed bracket", remote: "10.0.0.1:1234", xff: []string{"[2001:db8::1"}, wantErr: ErrInvalidForwardedFor},
		{name: "ipv4 with zone", remote: "10.0.0.1:1234", xff: []string{"198.51.100.1%eth0"}, wantErr: ErrInvalidForwardedFor},
		{name: "quoted", remote: "10.0.0.1:1234", xff: []string{`"198.51.100.1"`}, wantErr: ErrInvalidForwardedFor},
		{name: "rfc 7239 syntax", remote: "10.0.0.1:1234", xff: []string{"for=198.51.100.1"}, wantErr: ErrInvalidForwardedFor},
		{name: "unix socket peer", remote: "@", wantErr: ErrInvalidPeer},
		{name: "no peer", remote: "", wantErr: ErrInvalidPeer},
		{name: "host name peer", remote: "localhost:80", wantErr: ErrInvalidPeer},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := Resolver{Trusted: testTrusted}
			if tt.trusted != nil {
				res.Trusted = tt.trusted
			}
			got, err := res.ClientAddr(request(tt.remote, tt.xff...))
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("ClientAddr = %v, %v, want error %v", got, err, tt.wantErr)
				}
				if !strings.HasPrefix(err.Error(), "clientip: ") {
					t.Errorf("error %q does not start with \"clientip: \"", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("ClientAddr: %v", err)
			}
			if got.String() != tt.want {
				t.Errorf("ClientAddr = %s, want %s", got, tt.want)
			}
		})
	}
}

func TestClientAddrAllocs(t *testing.T) {
	res := Resolver{Trusted: testTrusted}
	r := request("10.0.0.1:1234", "1.2.3.4, 198.51.100.1, 10.0.0.2")
	got := testing.AllocsPerRun(100, func() {
		if _, err := res.ClientAddr(r); err != nil {
			t.Fatal(err)
		}
	})
	if got != 0 {
		t.Errorf("ClientAddr allocates %v times, want 0", got)
	}
}

func TestParsePrefixes(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    []string
		wantErr []string // substrings of the error, one per bad entry
	}{
		{name: "empty", in: "", want: nil},
		{name: "loopback", in: "127.0.0.0/8,::1/128", want: []string{"127.0.0.0/8", "::1/128"}},
		{name: "spaces and empty entries", in: " 10.0.0.0/8 , ,fd00::/8,", want: []string{"10.0.0.0/8", "fd00::/8"}},
		{name: "bare addresses", in: "192.0.2.1,2001:db8::1", want: []string{"192.0.2.1/32", "2001:db8::1/128"}},
		{name: "ipv4-mapped prefix becomes ipv4", in: "::ffff:10.0.0.0/104,::ffff:192.0.2.1", want: []string{"10.0.0.0/8", "192.0.2.1/32"}},
		{name: "host bits set", in: "10.0.0.1/8", wantErr: []string{`"10.0.0.1/8"`, "write 10.0.0.0/8"}},
		{name: "every bad entry reported", in: "nonsense,10.0.0.0/8,10.0.0.0/33,fe80::1%eth0", wantErr: []string{`"nonsense"`, `"10.0.0.0/33"`, `"fe80::1%eth0"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParsePrefixes(tt.in)
			if tt.wantErr != nil {
				if err == nil {
					t.Fatalf("ParsePrefixes(%q) = %v, want an error", tt.in, got)
				}
				for _, w := range tt.wantErr {
					if !strings.Contains(err.Error(), w) {
						t.Errorf("ParsePrefixes(%q) error = %q, want it to contain %q", tt.in, err, w)
					}
				}
				return
			}
			if err != nil {
				t.Fatalf("ParsePrefixes(%q): %v", tt.in, err)
			}
			var gotS []string
			for _, p := range got {
				gotS = append(gotS, p.String())
			}
			if !slices.Equal(gotS, tt.want) {
				t.Errorf("ParsePrefixes(%q) = %v, want %v", tt.in, gotS, tt.want)
			}
		})
	}
}

// TestTrustsMappedPrefix covers a Resolver built by hand with an IPv4-mapped prefix, which
// ParsePrefixes would have turned into an IPv4 one.
func TestTrustsMappedPrefix(t *testing.T) {
	res := Resolver{Trusted: []netip.Prefix{netip.MustParsePrefix("::ffff:10.0.0.0/104")}}
	got, err := res.ClientAddr(request("10.1.2.3:80", "198.51.100.1"))
	if err != nil {
		t.Fatal(err)
	}
	if want := netip.MustParseAddr("198.51.100.1"); got != want {
		t.Errorf("ClientAddr = %s, want %s", got, want)
	}
}

func BenchmarkClientAddr(b *testing.B) {
	res := Resolver{Trusted: testTrusted}
	r := request("10.0.0.1:1234", "1.2.3.4, 198.51.100.1, 10.0.0.2")
	b.ReportAllocs()
	for b.Loop() {
		if _, err := res.ClientAddr(r); err != nil {
			b.Fatal(err)
		}
	}
}
