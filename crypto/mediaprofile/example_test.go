package mediaprofile_test

import (
	"fmt"

	"github.com/geofence/geofence/crypto/e2ee"
	"github.com/geofence/geofence/crypto/mediaprofile"
)

// A participant seals a VP8 delta frame; another, holding the same epoch key, opens it.
func Example() {
	key, err := e2ee.NewEpochKey(7, e2ee.NewMeetingKey()) // from the key server or the E2EE leader
	if err != nil {
		panic(err)
	}
	tx, err := mediaprofile.NewSender(key, mediaprofile.Config{})
	if err != nil {
		panic(err)
	}
	rx := mediaprofile.NewReceiver(mediaprofile.Config{})
	if err := rx.AddEpoch(key); err != nil {
		panic(err)
	}

	frame := []byte{0x31, 0x02, 0x00, 'p', 'i', 'x', 'e', 'l', 's'} // a VP8 delta frame
	wire, err := tx.Seal(nil, mediaprofile.CodecVP8, frame)
	if err != nil {
		panic(err)
	}
	fmt.Printf("clear prefix %x, key frame %v, epoch bits in the KID %d\n", wire[:3], mediaprofile.IsKeyFrame(mediaprofile.CodecVP8, wire), tx.KID().EpochBits())

	got, err := rx.Open(nil, mediaprofile.CodecVP8, wire)
	if err != nil {
		panic(err)
	}
	fmt.Printf("%s\n", got[3:])
	// Output:
	// clear prefix 310200, key frame false, epoch bits in the KID 7
	// pixels
}
