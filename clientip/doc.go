// Package clientip finds the address of the client behind an HTTP request: the connection's
// peer, or, when the peer is a trusted proxy, the address that the trusted proxies recorded in
// X-Forwarded-For (DESIGN.md section 7).
//
// The header is read from the right, the standard defence against spoofing: each proxy
// appends the address it received the request from, so only the entries to the right of the
// first untrusted address were written by proxies we trust; everything to its left came from
// the client and may be forged. The result is the right-most entry that is not a trusted
// proxy (or, when every entry is one, the left-most entry).
//
// It is not a proxy-protocol or RFC 7239 "Forwarded" parser (neither is read), it does not
// read X-Real-IP or any other header, and it does not locate the address (package geoip does).
// It never decides that an address is "public": a private or loopback client is returned
// like any other.
package clientip
