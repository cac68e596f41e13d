package audit

import (
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sync"
	"time"

	"github.com/transparency-dev/tessera"
	"github.com/transparency-dev/tessera/storage/posix"
	"golang.org/x/mod/sumdb/note"
	"k8s.io/klog/v2"
)

// Defaults of Options.
const (
	DefaultOrigin             = "geofence.example/audit"
	DefaultBatchSize          = 1024
	DefaultBatchAge           = 50 * time.Millisecond
	DefaultCheckpointInterval = time.Second
	DefaultQueueSize          = 1 << 16
	// pushback is how many entries may be sequenced but not yet integrated before appends
	// fail: far beyond any burst, it bounds memory when the disk stalls.
	pushback = 1 << 16
)

// ErrUnavailable is what Append returns in strict mode when the entry could not be written:
// the caller must not act on a decision that left no evidence (I6).
var ErrUnavailable = errors.New("evidence log unavailable")

// Options configure a set of logs. Dir, Regions and Key are required; the zero value of
// every other field is its documented default. Open keeps a copy.
type Options struct {
	// Dir holds one log per region, in Dir/<region>, each in the C2SP tlog-tiles layout
	// (checkpoint, tile/...) with tessera's own state in <region>/.state.
	Dir string
	// Regions are the config's region ids: one log each.
	Regions []string
	// Key signs every log's checkpoints (Ed25519, C2SP signed-note).
	Key ed25519.PrivateKey
	// Origin prefixes each log's origin (its checkpoint's first line and the key name of its
	// signature): Origin + "/" + region. Default DefaultOrigin.
	Origin string
	// Strict makes Append wait until its entry is durably in the log (integrated: in the
	// tiles and tessera's tree state, fsynced, so in the next checkpoint even after a crash)
	// and fail with ErrUnavailable when it is not: the directory and key servers then refuse
	// to answer. Without it, Append queues the entry and returns; an entry that could not be
	// written is counted (geofence_audit_entries_failed_total) and logged, and a crash loses
	// the entries still queued (at most BatchAge and one batch's write of decisions).
	Strict bool
	// BatchSize and BatchAge bound a batch: entries are written together when BatchSize
	// are waiting or the first waited BatchAge. Defaults DefaultBatchSize, DefaultBatchAge.
	BatchSize int
	BatchAge  time.Duration
	// CheckpointInterval is how often a new checkpoint is signed while entries come in (at
	// least 100 ms). Default DefaultCheckpointInterval.
	CheckpointInterval time.Duration
	// QueueSize bounds the entries a region's log holds in memory, not yet handed to the
	// writer, outside strict mode: an append that finds it full is counted as failed
	// (queue_full) rather than making the decision wait for the disk. Default
	// DefaultQueueSize.
	QueueSize int
	// Logger; default slog.Default().
	Logger *slog.Logger
	// Metrics receives the counts; nil counts nowhere (see NewMetrics).
	Metrics *Metrics
}

// Logs is the set of per-region logs of one process. It is safe for concurrent use.
type Logs struct {
	opts    Options
	log     *slog.Logger
	metrics *Metrics
	logs    map[string]*regionLog
	writers sync.WaitGroup

	mu     sync.RWMutex // held for reading while appending, for writing to close
	closed bool
}

type regionLog struct {
	region   string
	dir      string
	origin   string
	add      tessera.AddFn
	shutdown func(context.Context) error
	reader   tessera.LogReader
	cancel   context.CancelFunc
	// queue holds the entries appended outside strict mode, in order, for the writer.
	queue chan queued
}

// queued is an entry waiting for the writer: its fields for counting, and its bytes.
type queued struct {
	e *Entry
	b []byte
}

var regionID = regexp.MustCompile(`^[A-Za-z0-9._-]{1,64}$`)

// Open opens (creating or resuming) the log of every region under opts.Dir. Close must be
// called to write the last checkpoint.
func Open(ctx context.Context, opts Options) (*Logs, error) {
	if opts.Dir == "" || len(opts.Regions) == 0 || opts.Key == nil {
		return nil, errors.New("open evidence logs: a folder, regions and a signing key are required")
	}
	if opts.Origin == "" {
		opts.Origin = DefaultOrigin
	}
	if opts.BatchSize <= 0 {
		opts.BatchSize = DefaultBatchSize
	}
	if opts.BatchAge <= 0 {
		opts.BatchAge = DefaultBatchAge
	}
	if opts.CheckpointInterval <= 0 {
		opts.CheckpointInterval = DefaultCheckpointInterval
	}
	if opts.QueueSize <= 0 {
		opts.QueueSize = DefaultQueueSize
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	l := &Logs{opts: opts, log: opts.Logger, metrics: opts.Metrics, logs: map[string]*regionLog{}}
	for _, r := range opts.Regions {
		if !regionID.MatchString(r) {
			l.Close(ctx)
			return nil, fmt.Errorf("open evidence logs: region id %q cannot name a folder", r)
		}
		rl, err := l.openRegion(ctx, r)
		if err != nil {
			l.Close(ctx)
			return nil, fmt.Errorf("open evidence log of region %s: %w", r, err)
		}
		l.logs[r] = rl
	}
	return l, nil
}

func (l *Logs) openRegion(ctx context.Context, region string) (*regionLog, error) {
	dir := filepath.Join(l.opts.Dir, region)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	origin := l.opts.Origin + "/" + region
	signer, err := NoteSigner(origin, l.opts.Key)
	if err != nil {
		return nil, err
	}
	driver, err := posix.New(ctx, posix.Config{Path: dir})
	if err != nil {
		return nil, err
	}
	// The appender's background work outlives the caller's ctx: it ends in Close.
	bg, cancel := context.WithCancel(context.WithoutCancel(ctx))
	opts := tessera.NewAppendOptions().
		WithCheckpointSigner(signer).
		WithBatching(uint(l.opts.BatchSize), l.opts.BatchAge).
		WithCheckpointInterval(l.opts.CheckpointInterval).
		WithPushback(pushback)
	a, shutdown, reader, err := tessera.NewAppender(bg, driver, opts)
	if err != nil {
		cancel()
		return nil, err
	}
	rl := &regionLog{region: region, dir: dir, origin: origin, add: a.Add, shutdown: shutdown, reader: reader, cancel: cancel}
	if !l.opts.Strict {
		rl.queue = make(chan queued, l.opts.QueueSize)
		l.startWriter(rl)
	}
	return rl, nil
}

// startWriter starts the goroutines that hand a region's queued entries to tessera and
// wait for them to be integrated. Tessera's Add blocks while a batch is being written to
// disk; here that blocks the writer, never a decision.
func (l *Logs) startWriter(rl *regionLog) {
	type pending struct {
		e      *Entry
		future tessera.IndexFuture
	}
	futures := make(chan pending, l.opts.QueueSize)
	l.writers.Go(func() {
		defer close(futures)
		for q := range rl.queue {
			futures <- pending{q.e, rl.add(context.Background(), tessera.NewEntry(q.b))}
		}
	})
	l.writers.Go(func() {
		for p := range futures {
			if _, err := p.future(); err != nil {
				l.failed(p.e, "write", err)
				continue
			}
			l.metrics.appended(p.e)
		}
	})
}

// Regions are the regions with a log, sorted.
func (l *Logs) Regions() []string {
	rs := make([]string, 0, len(l.logs))
	for r := range l.logs {
		rs = append(rs, r)
	}
	slices.Sort(rs)
	return rs
}

// Dir is the folder of region's log; "" when there is none.
func (l *Logs) Dir(region string) string {
	if rl := l.logs[region]; rl != nil {
		return rl.dir
	}
	return ""
}

// Folder is the folder holding the logs (Options.Dir).
func (l *Logs) Folder() string { return l.opts.Dir }

// Strict reports whether the logs are in strict mode.
func (l *Logs) Strict() bool { return l.opts.Strict }

// Append writes e to the log of e.Region. In strict mode it returns once the entry is
// integrated in the tree (it will be in the next checkpoint, also after a crash), or
// ErrUnavailable; otherwise it queues the entry and returns nil, and a failure to write it
// is counted and logged.
func (l *Logs) Append(ctx context.Context, e *Entry) error {
	err := l.append(ctx, e)
	if err != nil && l.opts.Strict {
		return fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	return nil
}

func (l *Logs) append(ctx context.Context, e *Entry) error {
	rl := l.logs[e.Region]
	if rl == nil {
		l.failed(e, "no_log", fmt.Errorf("no log for region %q", e.Region))
		return fmt.Errorf("no evidence log for region %q", e.Region)
	}
	e.V = Version
	b, err := Marshal(e)
	if err != nil {
		l.failed(e, "encode", err)
		return err
	}
	l.mu.RLock()
	defer l.mu.RUnlock()
	if l.closed {
		l.failed(e, "closed", errors.New("the evidence log is closed"))
		return errors.New("the evidence log is closed")
	}
	if !l.opts.Strict {
		select {
		case rl.queue <- queued{e, b}:
			return nil
		default:
			l.failed(e, "queue_full", errors.New("the writer is behind by a full queue"))
			return errors.New("the evidence log's queue is full")
		}
	}
	// The entry must not depend on the request: it is written even when the join that made
	// it is cancelled.
	if _, err := rl.add(context.WithoutCancel(ctx), tessera.NewEntry(b))(); err != nil {
		l.failed(e, "write", err)
		return err
	}
	l.metrics.appended(e)
	return nil
}

func (l *Logs) failed(e *Entry, reason string, err error) {
	l.metrics.failed(e.Region, reason)
	l.log.Error("evidence entry not written", "region", e.Region, "kind", e.Kind, "meeting", e.Meeting, "reason", reason, "err", err)
}

// Close waits for every queued entry, writes a checkpoint that covers them and stops the
// logs. Entries appended after Close fail.
func (l *Logs) Close(ctx context.Context) error {
	if !l.markClosed() {
		return nil
	}
	// The queued entries first: tessera's shutdown waits only for the futures already
	// resolved.
	for _, rl := range l.logs {
		if rl.queue != nil {
			close(rl.queue)
		}
	}
	l.writers.Wait()
	var errs []error
	for _, rl := range l.logs {
		if err := rl.shutdown(ctx); err != nil {
			errs = append(errs, fmt.Errorf("close evidence log of region %s: %w", rl.region, err))
		}
	}
	for _, rl := range l.logs {
		rl.cancel()
	}
	return errors.Join(errs...)
}

// markClosed marks the logs closed once every append under way is done, and reports
// whether this call closed them.
func (l *Logs) markClosed() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return false
	}
	l.closed = true
	return true
}

// NoteSigner is the C2SP signed-note signer of a log: Ed25519 under key, named origin.
func NoteSigner(origin string, key ed25519.PrivateKey) (note.Signer, error) {
	pub := key.Public().(ed25519.PublicKey)
	h := keyHash(origin, append([]byte{1}, pub...))
	skey := fmt.Sprintf("PRIVATE+KEY+%s+%08x+%s", origin, h, base64.StdEncoding.EncodeToString(append([]byte{1}, key.Seed()...)))
	s, err := note.NewSigner(skey)
	if err != nil {
		return nil, fmt.Errorf("checkpoint signer %q: %w", origin, err)
	}
	return s, nil
}

// VerifierKey is the C2SP signed-note verifier key ("name+hash+key") of the log named
// origin, signed with the private half of pub: what an auditor pins.
func VerifierKey(origin string, pub ed25519.PublicKey) (string, error) {
	return note.NewEd25519VerifierKey(origin, pub)
}

// keyHash is the signed-note key hash: the first 4 bytes of SHA-256(name "\n" key).
func keyHash(name string, key []byte) uint32 {
	h := sha256.New()
	h.Write([]byte(name))
	h.Write([]byte("\n"))
	h.Write(key)
	return binary.BigEndian.Uint32(h.Sum(nil))
}

// QuietTessera sends tessera's klog output (one line per log opened, and its warnings) to
// log at Debug level instead of stderr. It changes klog's global state, which tessera's
// goroutines read without a lock, so only the first call in a process takes effect: later
// ones (a second `geofence dev` in one test binary) would race with the first logs' writers.
func QuietTessera(log *slog.Logger) {
	quietOnce.Do(func() { klog.SetSlogLogger(slog.New(debugHandler{log.Handler()})) })
}

var quietOnce sync.Once

// debugHandler lowers every record to Debug.
type debugHandler struct{ slog.Handler }

func (h debugHandler) Enabled(ctx context.Context, _ slog.Level) bool {
	return h.Handler.Enabled(ctx, slog.LevelDebug)
}

func (h debugHandler) Handle(ctx context.Context, r slog.Record) error {
	r.Level = slog.LevelDebug
	return h.Handler.Handle(ctx, r)
}
