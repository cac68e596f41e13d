package clientip_test

import (
	"fmt"
	"log"
	"net/http"

	"github.com/geofence/geofence/clientip"
)

func ExampleResolver_ClientAddr() {
	trusted, err := clientip.ParsePrefixes("127.0.0.0/8,::1/128") // as in geofence dev
	if err != nil {
		log.Fatal(err)
	}
	res := clientip.Resolver{Trusted: trusted}

	// A local reverse proxy forwards a request; the client forged the first entry.
	r := &http.Request{RemoteAddr: "127.0.0.1:51234", Header: http.Header{}}
	r.Header.Set("X-Forwarded-For", "8.8.8.8, 198.51.100.7")
	addr, err := res.ClientAddr(r)
	fmt.Println(addr, err)

	// The same header from a peer that is not a trusted proxy is ignored.
	r.RemoteAddr = "203.0.113.9:443"
	addr, err = res.ClientAddr(r)
	fmt.Println(addr, err)
	// Output:
	// 198.51.100.7 <nil>
	// 203.0.113.9 <nil>
}
