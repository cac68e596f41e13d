package sfu

import (
	"errors"
	"net"
	"testing"
)

// fakePacketConn yields queued datagrams, then io errors.
type fakePacketConn struct {
	net.PacketConn
	in   []net.Addr
	sent []net.Addr
}

func (c *fakePacketConn) ReadFrom(p []byte) (int, net.Addr, error) {
	if len(c.in) == 0 {
		return 0, nil, errors.New("closed")
	}
	a := c.in[0]
	c.in = c.in[1:]
	return copy(p, a.String()), a, nil
}

func (c *fakePacketConn) WriteTo(p []byte, a net.Addr) (int, error) {
	c.sent = append(c.sent, a)
	return len(p), nil
}

// TestLoopbackPacket: a loopback media server's socket reads only what comes from loopback
// (a browser's socket on another address of the machine reaches 127.0.0.1 too) and sends only
// there. The datagrams are fakes: no test uses this machine's other addresses.
func TestLoopbackPacket(t *testing.T) {
	other := &net.UDPAddr{IP: net.ParseIP("192.0.2.2"), Port: 5000}
	lo := &net.UDPAddr{IP: net.ParseIP("127.0.0.1"), Port: 5001}
	lo6 := &net.UDPAddr{IP: net.ParseIP("::1"), Port: 5002}
	f := &fakePacketConn{in: []net.Addr{other, lo, other, other, lo6}}
	c := loopbackPacket{f}
	buf := make([]byte, 64)
	for _, want := range []net.Addr{lo, lo6} {
		_, a, err := c.ReadFrom(buf)
		if err != nil || a.String() != want.String() {
			t.Fatalf("ReadFrom = %v, %v; want %v", a, err, want)
		}
	}
	if _, _, err := c.ReadFrom(buf); err == nil {
		t.Fatal("ReadFrom past the end: no error")
	}
	if _, err := c.WriteTo([]byte("x"), other); err == nil {
		t.Error("WriteTo another address: no error")
	}
	if _, err := c.WriteTo([]byte("x"), lo); err != nil {
		t.Error(err)
	}
	if len(f.sent) != 1 || f.sent[0] != lo {
		t.Errorf("sent to %v, want only %v", f.sent, lo)
	}
}
