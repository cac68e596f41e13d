package sfu

import (
	"net"

	"github.com/pion/transport/v5"
	"github.com/pion/transport/v5/stdnet"
)

// loopbackNet is the machine's network for a loopback-only media server: the sockets it
// opens read only datagrams from loopback addresses and send only to them. A browser pairs
// every interface it has with the server's 127.0.0.1 candidate, and the kernel delivers to
// 127.0.0.1 what a socket bound to another address of this machine sends; without the filter
// ICE would find a pair from that other address (a peer-reflexive candidate, which no
// signalled-candidate check sees) and the call would run off loopback.
type loopbackNet struct{ *stdnet.Net }

func newLoopbackNet() (transport.Net, error) {
	n, err := stdnet.NewNet()
	if err != nil {
		return nil, err
	}
	return loopbackNet{n}, nil
}

func (n loopbackNet) ListenUDP(network string, laddr *net.UDPAddr) (transport.UDPConn, error) {
	c, err := n.Net.ListenUDP(network, laddr)
	if err != nil {
		return nil, err
	}
	return loopbackUDP{c}, nil
}

func (n loopbackNet) ListenPacket(network, address string) (net.PacketConn, error) {
	c, err := n.Net.ListenPacket(network, address)
	if err != nil {
		return nil, err
	}
	return loopbackPacket{c}, nil
}

func isLoopback(a net.Addr) bool {
	u, ok := a.(*net.UDPAddr)
	return ok && u.IP.IsLoopback()
}

// errNotLoopback is what a write to another address gets.
type errNotLoopback struct{ addr net.Addr }

func (e errNotLoopback) Error() string {
	return "sfu: media on loopback only: not sending to " + e.addr.String()
}

// loopbackUDP drops datagrams from addresses that are not loopback.
type loopbackUDP struct{ transport.UDPConn }

func (c loopbackUDP) ReadFrom(p []byte) (int, net.Addr, error) {
	for {
		n, addr, err := c.UDPConn.ReadFrom(p)
		if err != nil || isLoopback(addr) {
			return n, addr, err
		}
	}
}

func (c loopbackUDP) ReadFromUDP(p []byte) (int, *net.UDPAddr, error) {
	for {
		n, addr, err := c.UDPConn.ReadFromUDP(p)
		if err != nil || addr.IP.IsLoopback() {
			return n, addr, err
		}
	}
}

func (c loopbackUDP) ReadMsgUDP(p, oob []byte) (int, int, int, *net.UDPAddr, error) {
	for {
		n, oobn, flags, addr, err := c.UDPConn.ReadMsgUDP(p, oob)
		if err != nil || addr.IP.IsLoopback() {
			return n, oobn, flags, addr, err
		}
	}
}

func (c loopbackUDP) WriteTo(p []byte, addr net.Addr) (int, error) {
	if !isLoopback(addr) {
		return 0, errNotLoopback{addr}
	}
	return c.UDPConn.WriteTo(p, addr)
}

func (c loopbackUDP) WriteToUDP(p []byte, addr *net.UDPAddr) (int, error) {
	if !addr.IP.IsLoopback() {
		return 0, errNotLoopback{addr}
	}
	return c.UDPConn.WriteToUDP(p, addr)
}

// loopbackPacket is loopbackUDP for a PacketConn.
type loopbackPacket struct{ net.PacketConn }

func (c loopbackPacket) ReadFrom(p []byte) (int, net.Addr, error) {
	for {
		n, addr, err := c.PacketConn.ReadFrom(p)
		if err != nil || isLoopback(addr) {
			return n, addr, err
		}
	}
}

func (c loopbackPacket) WriteTo(p []byte, addr net.Addr) (int, error) {
	if !isLoopback(addr) {
		return 0, errNotLoopback{addr}
	}
	return c.PacketConn.WriteTo(p, addr)
}
