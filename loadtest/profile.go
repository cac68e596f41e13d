package loadtest

import (
	"github.com/geofence/geofence/crypto/e2ee"
	"github.com/geofence/geofence/crypto/mediaprofile"
)

// Profile seals and opens frames: the media profile of DESIGN.md section 8, which keeps a
// frame's codec header in clear as SFrame's authenticated metadata and encrypts the rest
// (package mediaprofile). It is an interface so that tests can stand in for it.
type Profile interface {
	// NewSealer returns the sealer of a new sending session in the epoch of key.
	NewSealer(key e2ee.EpochKey) (Sealer, error)
	// NewOpener returns an opener of every sender's frames, holding no epoch yet.
	NewOpener() Opener
}

// Sealer encrypts one sending session's frames.
type Sealer interface {
	// Seal appends the sealed frame to dst.
	Seal(dst []byte, k Kind, frame []byte) ([]byte, error)
	// Rekey moves the session to the epoch of key.
	Rekey(key e2ee.EpochKey) error
}

// Opener decrypts frames; sealed is untrusted.
type Opener interface {
	// Open appends the opened frame (codec header and plaintext) to dst.
	Open(dst []byte, k Kind, sealed []byte) ([]byte, error)
	// AddEpoch adds the key of an epoch.
	AddEpoch(key e2ee.EpochKey) error
}

// MediaProfile is package mediaprofile's profile: per-session KIDs and sender keys derived
// from the epoch key, AES-256-GCM by default.
type MediaProfile struct {
	// Config is the profile's settings; the zero value is the default.
	Config mediaprofile.Config
}

var _ Profile = MediaProfile{}

func codecOf(k Kind) mediaprofile.Codec {
	if k == Audio {
		return mediaprofile.CodecOpus
	}
	return mediaprofile.CodecVP8
}

// NewSealer implements Profile.
func (p MediaProfile) NewSealer(key e2ee.EpochKey) (Sealer, error) {
	s, err := mediaprofile.NewSender(key, p.Config)
	if err != nil {
		return nil, err
	}
	return sealer{s}, nil
}

// NewOpener implements Profile.
func (p MediaProfile) NewOpener() Opener { return opener{mediaprofile.NewReceiver(p.Config)} }

type sealer struct{ s *mediaprofile.Sender }

func (s sealer) Seal(dst []byte, k Kind, frame []byte) ([]byte, error) {
	return s.s.Seal(dst, codecOf(k), frame)
}

func (s sealer) Rekey(key e2ee.EpochKey) error { return s.s.Rekey(key) }

type opener struct{ r *mediaprofile.Receiver }

func (o opener) Open(dst []byte, k Kind, sealed []byte) ([]byte, error) {
	return o.r.Open(dst, codecOf(k), sealed)
}

func (o opener) AddEpoch(key e2ee.EpochKey) error { return o.r.AddEpoch(key) }
