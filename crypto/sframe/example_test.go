package sframe_test

import (
	"crypto/rand"
	"fmt"
	"log"

	"github.com/geofence/geofence/crypto/sframe"
)

func Example() {
	// The base key comes from the key server or the meeting leader (design section 8); it is
	// generated here only to make the example self-contained.
	baseKey := make([]byte, 32)
	rand.Read(baseKey)

	// Sender keys (RFC 9605 section 5.1) with R = 8 ratchet bits, generation 1, step 0.
	const ratchetBits = 8
	kid := uint64(1) << ratchetBits
	sender, err := sframe.NewRatchetSender(sframe.DefaultSuite, kid, ratchetBits, baseKey)
	if err != nil {
		log.Fatal(err)
	}
	var receiver sframe.Receiver
	if err := receiver.AddRatchetKey(sframe.DefaultSuite, kid, ratchetBits, baseKey); err != nil {
		log.Fatal(err)
	}

	metadata := []byte("rtp-header-ext") // authenticated, not encrypted, not sent by SFrame
	buf := make([]byte, 0, 1500)
	for _, frame := range []string{"frame 1", "frame 2 after a ratchet"} {
		ct, err := sender.Encrypt(buf[:0], metadata, []byte(frame))
		if err != nil {
			log.Fatal(err)
		}
		h, _, _ := sframe.ParseHeader(ct)
		pt, err := receiver.Decrypt(nil, metadata, ct)
		if err != nil {
			log.Fatal(err)
		}
		fmt.Printf("KID %#x CTR %d: %s\n", h.KID, h.CTR, pt)

		if _, err := receiver.Decrypt(nil, metadata, ct); err == sframe.ErrReplay {
			fmt.Println("replay rejected")
		}
		// A participant joined: ratchet so that it cannot read earlier frames.
		if err := sender.Ratchet(); err != nil {
			log.Fatal(err)
		}
	}
	// Output:
	// KID 0x100 CTR 0: frame 1
	// replay rejected
	// KID 0x101 CTR 0: frame 2 after a ratchet
	// replay rejected
}
