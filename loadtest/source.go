package loadtest

import (
	"sync/atomic"
	"time"
)

// Defaults of the sources.
const (
	DefaultBitrate      = 1_000_000 // bits per second of video
	DefaultFPS          = 30
	DefaultKeyInterval  = 2 * time.Second
	DefaultAudioBitrate = 32_000
	// KeyFrameScale is how much larger than the average frame a key frame is; the inter
	// frames are smaller so that the average bit rate is the one asked for.
	KeyFrameScale = 4
	// AudioFrameDuration is the Opus frame duration WebRTC uses.
	AudioFrameDuration = 20 * time.Millisecond
)

// VideoConfig is a video track's settings. Its zero value is 1 Mbit/s at 30 frames per
// second, 1280x720, with a key frame every 2 seconds.
type VideoConfig struct {
	// Bitrate is the average bit rate in bits per second; 0: DefaultBitrate.
	Bitrate int
	// FPS is the frame rate; 0: DefaultFPS.
	FPS int
	// KeyInterval is the time between periodic key frames; 0: DefaultKeyInterval.
	KeyInterval time.Duration
	// Width and Height go into key frames' headers; 0: 1280x720.
	Width, Height int
}

// VideoSource makes the synthetic VP8 frames of one track. Next is for one goroutine;
// RequestKeyFrame may be called from any.
type VideoSource struct {
	VideoConfig

	seq      uint64
	forceKey atomic.Bool
}

// FrameDuration is the time between two frames.
func (s *VideoConfig) FrameDuration() time.Duration { return time.Second / time.Duration(s.fps()) }

func (s *VideoConfig) fps() int {
	if s.FPS > 0 {
		return s.FPS
	}
	return DefaultFPS
}

// Sizes returns the sizes of key frames and of inter frames, and how many frames a key
// interval holds.
func (s *VideoConfig) Sizes() (key, delta, perKey int) {
	rate := s.Bitrate
	if rate <= 0 {
		rate = DefaultBitrate
	}
	ki := s.KeyInterval
	if ki <= 0 {
		ki = DefaultKeyInterval
	}
	avg := rate / 8 / s.fps()
	perKey = max(1, int(ki/s.FrameDuration()))
	key = max(MinKeyFrame, min(KeyFrameScale*avg, avg*perKey))
	delta = max(MinDeltaFrame, avg)
	if perKey > 1 {
		delta = max(MinDeltaFrame, (avg*perKey-key)/(perKey-1))
	}
	return key, delta, perKey
}

// RequestKeyFrame makes the next frame a key frame (a PLI or FIR from the media server).
func (s *VideoSource) RequestKeyFrame() { s.forceKey.Store(true) }

// Next appends the next frame, sent now, to dst and says whether it is a key frame. The first
// frame is a key frame, then one every KeyInterval, and one after each RequestKeyFrame.
func (s *VideoSource) Next(dst []byte, now time.Time) ([]byte, bool) {
	keySize, deltaSize, perKey := s.Sizes()
	key := s.seq%uint64(perKey) == 0 || s.forceKey.Swap(false)
	size := deltaSize
	if key {
		size = keySize
	}
	w, h := s.Width, s.Height
	if w <= 0 || h <= 0 {
		w, h = 1280, 720
	}
	dst = AppendFrame(dst, Frame{Kind: Video, Key: key, Seq: s.seq, Sent: now, Size: size}, w, h)
	s.seq++
	return dst, key
}

// AudioSource makes the synthetic Opus frames of one track: one every AudioFrameDuration.
// Its zero value is 32 kbit/s. It is for one goroutine.
type AudioSource struct {
	// Bitrate is the bit rate in bits per second; 0: DefaultAudioBitrate.
	Bitrate int

	seq uint64
}

// Size is the length of every frame.
func (s *AudioSource) Size() int {
	rate := s.Bitrate
	if rate <= 0 {
		rate = DefaultAudioBitrate
	}
	return max(MinAudioFrame, rate/8/int(time.Second/AudioFrameDuration))
}

// Next appends the next frame, sent now, to dst.
func (s *AudioSource) Next(dst []byte, now time.Time) []byte {
	dst = AppendFrame(dst, Frame{Kind: Audio, Seq: s.seq, Sent: now, Size: s.Size()}, 0, 0)
	s.seq++
	return dst
}
