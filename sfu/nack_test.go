package sfu_test

import (
	"context"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/geofence/geofence/internal/leaktest"
)

// On a WAN that loses 5% of packets each way, the video that reaches felix misses almost
// nothing: the server asks anna again for what it lost (NACK, RFC 4585) and answers felix's
// NACKs from its own history. Audio, negotiated without NACK, shows what the loss would be.
func TestNACKRecoversLoss(t *testing.T) {
	leaktest.Check(t)
	w := newWorld(t)
	net := newWAN(t, 5*time.Millisecond, 5)
	w.clientNet = net.host
	w.start("de-fra", net.host())
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	a := w.join(anna, "de-fra", []string{"de-fra"}, nil)
	f := w.join(felix, "de-fra", []string{"de-fra"}, nil)
	var mu sync.Mutex
	seen := map[string]map[int]bool{"audio": {}, "video": {}}
	f.onPayload = func(from, kind string, payload []byte) {
		parts := strings.SplitN(string(payload), ":", 4)
		if len(parts) < 4 {
			return
		}
		n, err := strconv.Atoi(parts[2])
		if err != nil {
			return
		}
		mu.Lock()
		seen[kind][n] = true
		mu.Unlock()
	}
	a.publish(ctx)
	// Sent every 20 ms; judge the packets well inside what was sent, so that the last
	// retransmissions have had time to arrive.
	const from, to = 50, 250
	eventually(t, "felix receiving past packet "+strconv.Itoa(to+50), 30*time.Second, func() bool {
		mu.Lock()
		defer mu.Unlock()
		return seen["video"][to+50] || seen["video"][to+51] || seen["video"][to+52]
	})
	mu.Lock()
	defer mu.Unlock()
	lost := func(kind string) int {
		n := 0
		for i := from; i < to; i++ {
			if !seen[kind][i] {
				n++
			}
		}
		return n
	}
	video, audio := lost("video"), lost("audio")
	t.Logf("lost of %d: video %d, audio %d", to-from, video, audio)
	if video > (to-from)/100 {
		t.Errorf("video lost %d of %d packets with NACK, want at most 1%%", video, to-from)
	}
	if audio == 0 {
		t.Errorf("audio lost nothing on a WAN losing 5%% each way: the loss is not happening, and the video figure proves nothing")
	}
}
