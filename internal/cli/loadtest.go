package cli

import (
	"context"
	"crypto/ed25519"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/geofence/geofence/client"
	"github.com/geofence/geofence/identity"
	"github.com/geofence/geofence/loadtest"
	"github.com/geofence/geofence/sfu"
	"github.com/geofence/geofence/wire"
)

const loadtestSynopsis = "--directory URL [--meeting ID] [--account A | --key FILE --account A] --publishers N --subscribers M\n" +
	"       [--bitrate B] [--fps F] [--audio] [--duration D] [--from COUNTRY|ADDRESS,...] [--json]"

// runLoadtest is `geofence loadtest` (DESIGN.md section 6; docs/loadtest.md): synthetic
// participants join through the directory, publish SFrame-encrypted media and subscribe.
// Exit 1 when the setup failed, a frame did not decrypt, or the loss is over --max-loss.
func runLoadtest(ctx context.Context, env Env, args []string) int {
	fs := newFlags(env, "loadtest", loadtestSynopsis)
	directory := fs.String("directory", "", "the directory's base URL, required (https, or http to a loopback address)")
	meeting := fs.String("meeting", "", "the meeting to join (default: a new meeting hosted by --account)")
	account := fs.String("account", "acme", "the participants' account")
	mode := fs.String("mode", wire.ModeManaged, "the new meeting's mode: managed (keys from the key servers) or e2ee (from the first participant, the leader, over the signalling)")
	keyFile := fs.String("key", "", "the account's private key (PEM PKCS #8 Ed25519): mint a join token per participant, as a production directory requires")
	kid := fs.String("kid", "", "the key's id in the account's keys (default: the key's RFC 7638 thumbprint)")
	publishers := fs.Int("publishers", 1, "participants that publish a video track (and an audio track with --audio)")
	subscribers := fs.Int("subscribers", 1, "participants that subscribe to every publisher's tracks")
	bitrate := fs.String("bitrate", "1M", "each video track's bit rate in bits per second (k and M suffixes)")
	fps := fs.Int("fps", loadtest.DefaultFPS, "video frames per second")
	keyInterval := fs.Duration("key-interval", loadtest.DefaultKeyInterval, "time between periodic key frames")
	audio := fs.Bool("audio", false, "publish an Opus track (20 ms frames) beside each video track")
	audioBitrate := fs.String("audio-bitrate", "32k", "each audio track's bit rate")
	duration := fs.Duration("duration", 10*time.Second, "the measured window, once every track has arrived")
	warmup := fs.Duration("warmup", 2*time.Second, "time between the last track arriving and the measured window")
	setupTimeout := fs.Duration("setup-timeout", 30*time.Second, "how long joining and the arrival of every track may take")
	var from, pinDeny listFlag
	fs.Var(&from, "from", "addresses or country codes to join from, given to participants in turn (geofence dev believes them from loopback), comma-separated")
	geoPath := fs.String("geoip", DefaultGeoIP, "the MaxMind DB that turns a --from country into an address")
	fs.Var(&pinDeny, "pin-deny", "countries no participant connects to, whatever the tickets say, comma-separated")
	loopback := fs.Bool("loopback", true, "WebRTC on 127.0.0.1 only (geofence dev and tests); false: every host interface")
	concurrency := fs.Int("concurrency", 8, "joins in flight at once")
	maxLoss := fs.Float64("max-loss", 1, "exit 1 when the fraction of RTP packets lost is over this")
	asJSON := fs.Bool("json", false, "print the report as JSON")
	logLevel := fs.String("log-level", "info", "progress log level on stderr: debug, info, warn, error")
	pos, err := parse(fs, args)
	if err != nil {
		return flagErr(err)
	}
	if len(pos) != 0 {
		return usageErr(env, fs, "unexpected arguments %q", pos)
	}
	if *directory == "" {
		return usageErr(env, fs, "--directory is required")
	}
	vbits, err := parseBitrate(*bitrate)
	if err != nil {
		return usageErr(env, fs, "--bitrate: %v", err)
	}
	abits, err := parseBitrate(*audioBitrate)
	if err != nil {
		return usageErr(env, fs, "--audio-bitrate: %v", err)
	}
	switch {
	case *publishers < 1:
		return usageErr(env, fs, "--publishers must be at least 1")
	case *subscribers < 0:
		return usageErr(env, fs, "--subscribers must not be negative")
	case *fps < 1 || *fps > 120:
		return usageErr(env, fs, "--fps %d: want 1 to 120", *fps)
	case vbits/8/(*fps) < loadtest.MinKeyFrame:
		return usageErr(env, fs, "--bitrate %s is under %d bytes a frame at %d fps", *bitrate, loadtest.MinKeyFrame, *fps)
	case *duration <= 0 || *warmup < 0 || *setupTimeout <= 0 || *keyInterval <= 0:
		return usageErr(env, fs, "--duration, --setup-timeout and --key-interval must be positive, --warmup not negative")
	case *mode != wire.ModeManaged && *mode != wire.ModeE2EE:
		return usageErr(env, fs, "--mode %q: want %s or %s", *mode, wire.ModeManaged, wire.ModeE2EE)
	case *concurrency < 1:
		return usageErr(env, fs, "--concurrency must be at least 1")
	case *maxLoss < 0 || *maxLoss > 1:
		return usageErr(env, fs, "--max-loss %v: want a fraction from 0 to 1", *maxLoss)
	case *keyFile == "" && *kid != "":
		return usageErr(env, fs, "--kid goes with --key")
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(*logLevel)); err != nil {
		return usageErr(env, fs, "--log-level %q: want debug, info, warn or error", *logLevel)
	}
	addrs, err := loadtest.ResolveFrom(from, *geoPath)
	if err != nil {
		return usageErr(env, fs, "%v", err)
	}
	log := slog.New(slog.NewTextHandler(env.Stderr, &slog.HandlerOptions{Level: level}))

	cfg := loadtest.Config{
		Directory: *directory, Meeting: *meeting, Account: *account, Mode: *mode,
		Publishers: *publishers, Subscribers: *subscribers,
		Video:        loadtest.VideoConfig{Bitrate: vbits, FPS: *fps, KeyInterval: *keyInterval},
		Audio:        *audio,
		AudioBitrate: abits,
		Duration:     *duration, Warmup: max(*warmup, time.Millisecond), SetupTimeout: *setupTimeout,
		From: addrs, PinDeny: pinDeny, Concurrency: *concurrency,
		Dial:   loadtest.SFUDialer(sfu.Network{Loopback: *loopback}, log),
		Logger: log,
	}
	if _, err := client.New(client.Config{Directory: *directory, PinDeny: pinDeny}); err != nil {
		return usageErr(env, fs, "%v", err)
	}
	if *keyFile != "" {
		mint, err := tokenMinter(*keyFile, *kid, *account)
		if err != nil {
			fmt.Fprintf(env.Stderr, "geofence loadtest: %v\n", err)
			return ExitUsage
		}
		cfg.Token = mint
	}
	rep, err := loadtest.Run(ctx, cfg)
	if rep == nil {
		fmt.Fprintf(env.Stderr, "geofence loadtest: %v\n", err)
		return ExitFinding
	}
	if *asJSON {
		writeJSON(env.Stdout, rep)
	} else {
		rep.WriteText(env.Stdout)
	}
	code := ExitOK
	switch {
	case err != nil:
		fmt.Fprintf(env.Stderr, "geofence loadtest: %v\n", err)
		code = ExitFinding
	case rep.DecryptFailures > 0:
		fmt.Fprintf(env.Stderr, "geofence loadtest: %d frames did not decrypt\n", rep.DecryptFailures)
		code = ExitFinding
	case rep.Loss > *maxLoss:
		fmt.Fprintf(env.Stderr, "geofence loadtest: %.3f%% of RTP packets lost, over --max-loss %.3f%%\n", 100*rep.Loss, 100**maxLoss)
		code = ExitFinding
	}
	return code
}

// parseBitrate reads "1500000", "1500k" or "1.5M" as bits per second.
func parseBitrate(s string) (int, error) {
	mult := 1.0
	t := strings.TrimSpace(s)
	switch {
	case strings.HasSuffix(t, "k"), strings.HasSuffix(t, "K"):
		mult, t = 1e3, t[:len(t)-1]
	case strings.HasSuffix(t, "M"):
		mult, t = 1e6, t[:len(t)-1]
	}
	v, err := strconv.ParseFloat(t, 64)
	if err != nil || v <= 0 || v*mult > 100e6 {
		return 0, fmt.Errorf("%q is not a bit rate from 1 to 100M (bits per second, k and M suffixes)", s)
	}
	return int(v * mult), nil
}

// tokenMinter mints each participant's join token with the account's key, as its backend
// would (DESIGN.md section 10).
func tokenMinter(path, kid, account string) (func(string, bool) (string, error), error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read key: %w", err)
	}
	priv, err := identity.ParsePrivateKey(data)
	clear(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if kid == "" {
		kid = identity.Thumbprint(priv.Public().(ed25519.PublicKey))
	}
	return func(participant string, host bool) (string, error) {
		return client.MintJoinToken(priv, kid, account, participant, client.JoinTokenOptions{Host: host, TTL: time.Hour})
	}, nil
}
