// Command attack tries, against a DC agent and a key server on loopback, what an attacker
// would to make them hold resources, and prints the figures of docs/benchmarks.md ("Bounded
// resources"):
//
//   - replay: one ticket connected -replays times to the agent (sessions held after);
//   - slow: -slow connections that send a connect's headers, then trickle its body a byte a
//     second, plus -over connections beyond the server's connection cap (connections and
//     memory the agent holds while they trickle and after its read timeout);
//   - churn: join (get the key) and leave in a loop at the key server for -churn (epochs).
//
// The servers run in a child process (the same binary with -serve) so that the memory
// figures are the server's alone, and its file descriptors are not shared with the
// attacker's. Every loop is bounded by a count or a duration, and the whole run by -deadline.
//
//	go run ./internal/attack
//
// It is a measuring tool for this repository, not an API.
package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/geofence/geofence/agent"
	"github.com/geofence/geofence/config"
	"github.com/geofence/geofence/crypto/keywrap"
	"github.com/geofence/geofence/examples"
	"github.com/geofence/geofence/internal/httpserve"
	"github.com/geofence/geofence/kms"
	"github.com/geofence/geofence/policy"
	"github.com/geofence/geofence/ticket"
	"github.com/geofence/geofence/wire"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

const (
	issuer = "geofence"
	dc     = "us-sjc"
)

func main() {
	serve := flag.Bool("serve", false, "serve the agent and key server (the child process)")
	replays := flag.Int("replays", 100_000, "connects of one ticket")
	slow := flag.Int("slow", 10_000, "slow-body connections")
	over := flag.Int("over", 2_000, "connections opened beyond the slow ones, past the connection cap")
	churn := flag.Duration("churn", 5*time.Second, "how long to join and leave in a loop at the key server")
	deadline := flag.Duration("deadline", 5*time.Minute, "bound on the whole run")
	flag.Parse()
	if *serve {
		if err := runServer(); err != nil {
			fmt.Fprintln(os.Stderr, "attack -serve:", err)
			os.Exit(1)
		}
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), *deadline)
	defer cancel()
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt)
	defer stop()
	if err := run(ctx, *replays, *slow, *over, *churn); err != nil {
		fmt.Fprintln(os.Stderr, "attack:", err)
		os.Exit(1)
	}
}

// signer is the directory's: deterministic, so that the child verifies what the parent signs.
func signer() (*ticket.Signer, error) {
	var seed [32]byte
	copy(seed[:], "geofence attack")
	return ticket.NewSigner(issuer, mrand.NewChaCha8(seed), nil)
}

func model() (*policy.Model, error) {
	c, errs := config.Parse("world.yaml", examples.World)
	if len(errs) > 0 {
		return nil, errs
	}
	return policy.New(c)
}

// stats is what the child reports at GET /stats, after a full garbage collection.
type stats struct {
	HeapInuse    uint64  `json:"heap_inuse"`
	RSS          uint64  `json:"rss"`
	Goroutines   int     `json:"goroutines"`
	Participants int     `json:"participants"`
	Open         float64 `json:"open"`     // agent connections held
	Refused      float64 `json:"refused"`  // agent connections refused at the cap
	Timeouts     float64 `json:"timeouts"` // agent connections cut by a request deadline
	Replaced     float64 `json:"replaced"`
}

type staticKeys struct{ v *ticket.Verifier }

func (s staticKeys) Verify(_ context.Context, token string) (wire.Claims, error) {
	return s.v.Verify(token)
}

// runServer is the child: an agent and a key server with their production defaults, and a
// stats endpoint on a listener of its own (the agent's may be full). It prints the three
// addresses and serves until its standard input closes.
func runServer() error {
	m, err := model()
	if err != nil {
		return err
	}
	s, err := signer()
	if err != nil {
		return err
	}
	v, err := ticket.NewVerifier(s.JWKS(), issuer, nil)
	if err != nil {
		return err
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector())
	a, err := agent.New(agent.Config{ID: dc, Model: m, Keys: staticKeys{v}, Registry: reg})
	if err != nil {
		return err
	}
	kek := make([]byte, kms.KeySize)
	_, _ = rand.Read(kek)
	k, err := kms.New(kms.Config{DC: dc, Model: m, Keys: staticKeys{v}, KEK: kek, Registry: reg})
	if err != nil {
		return err
	}
	var lns [3]net.Listener
	for i := range lns {
		if lns[i], err = net.Listen("tcp", "127.0.0.1:0"); err != nil {
			return err
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	go func() { io.Copy(io.Discard, os.Stdin); cancel() }()
	metric := func(name string, labels ...string) float64 {
		fams, _ := reg.Gather()
		for _, f := range fams {
			if f.GetName() != name {
				continue
			}
		next:
			for _, m := range f.GetMetric() {
				got := map[string]string{}
				for _, l := range m.GetLabel() {
					got[l.GetName()] = l.GetValue()
				}
				for i := 0; i < len(labels); i += 2 {
					if got[labels[i]] != labels[i+1] {
						continue next
					}
				}
				if m.Counter != nil {
					return m.GetCounter().GetValue()
				}
				return m.GetGauge().GetValue()
			}
		}
		return -1
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /stats", func(w http.ResponseWriter, r *http.Request) {
		debug.FreeOSMemory()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		server := "agent/" + dc
		json.NewEncoder(w).Encode(stats{
			HeapInuse: ms.HeapInuse, RSS: rss(), Goroutines: runtime.NumGoroutine(), Participants: a.Participants(),
			Open:     metric("geofence_http_connections_open", "server", server),
			Refused:  metric("geofence_http_connections_refused_total", "server", server),
			Timeouts: metric("geofence_http_timeouts_total", "server", server, "phase", "request"),
			Replaced: metric("geofence_agent_sessions_replaced_total"),
		})
	})
	var wg sync.WaitGroup
	errs := make(chan error, 3)
	wg.Go(func() { errs <- a.Serve(ctx, lns[0]) })
	wg.Go(func() { errs <- k.Serve(ctx, lns[1]) })
	wg.Go(func() { errs <- httpserve.Serve(ctx, lns[2], mux, httpserve.Options{Name: "stats"}) })
	fmt.Printf("agent %s\nkms %s\nstats %s\n", lns[0].Addr(), lns[1].Addr(), lns[2].Addr())
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// rss is the process's resident set size, from /proc (0 elsewhere).
func rss() uint64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, _ := strconv.ParseUint(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			return kb << 10
		}
	}
	return 0
}

// child is the server process.
type child struct {
	agent, kms, stats string
	cmd               *exec.Cmd
	stdin             io.Closer
}

func startChild(ctx context.Context) (*child, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	cmd := exec.CommandContext(ctx, exe, "-serve")
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	c := &child{cmd: cmd, stdin: stdin}
	sc := bufio.NewScanner(stdout)
	for _, dst := range []*string{&c.agent, &c.kms, &c.stats} {
		if !sc.Scan() {
			c.stop()
			return nil, errors.New("the server printed no addresses")
		}
		_, addr, _ := strings.Cut(sc.Text(), " ")
		*dst = addr
	}
	go io.Copy(io.Discard, stdout)
	return c, nil
}

// stop ends the child: its standard input closes, and it drains.
func (c *child) stop() {
	c.stdin.Close()
	c.cmd.Wait()
}

func (c *child) read(ctx context.Context) (stats, error) {
	var s stats
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+c.stats+"/stats", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return s, err
	}
	defer resp.Body.Close()
	return s, json.NewDecoder(resp.Body).Decode(&s)
}

// waitIdle waits until the agent holds no connection (the attacker's previous phase closed).
func (c *child) waitIdle(ctx context.Context) error {
	for {
		s, err := c.read(ctx)
		if err != nil {
			return err
		}
		if s.Open == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func mb(b uint64) string { return fmt.Sprintf("%.1f MB", float64(b)/(1<<20)) }

func run(ctx context.Context, replays, slow, over int, churn time.Duration) error {
	c, err := startChild(ctx)
	if err != nil {
		return err
	}
	defer c.stop()
	s, err := signer()
	if err != nil {
		return err
	}
	m, err := model()
	if err != nil {
		return err
	}
	base, err := c.read(ctx)
	if err != nil {
		return err
	}
	fmt.Printf("server at rest: heap in use %s, RSS %s, %d goroutines\n\n", mb(base.HeapInuse), mb(base.RSS), base.Goroutines)
	if err := slowBodies(ctx, c, slow, over); err != nil {
		return err
	}
	if err := replay(ctx, c, s, m, replays); err != nil {
		return err
	}
	return joinLeave(ctx, c, s, churn)
}

// claims is a basic-plan participant from the US in a managed North American meeting homed
// in us-sjc, with us-sjc as its primary and key server.
func claims(participant string, pub string) wire.Claims {
	return wire.Claims{
		Meeting: "m-attack", Participant: participant, Account: "globex", Mode: wire.ModeManaged,
		Region: "na", Home: dc,
		Primary: []wire.DC{{ID: dc, Country: "US"}}, KMS: []wire.DC{{ID: dc, Country: "US"}},
		Context: wire.Context{ParticipantCountry: "US", ParticipantRegion: "na", ParticipantPlan: "basic",
			MeetingRegion: "na", HostAccount: "globex", HostPlan: "basic"},
		PublicKey: pub,
	}
}

// replay connects one ticket n times, from 8 workers over keep-alive connections.
func replay(ctx context.Context, c *child, s *ticket.Signer, m *policy.Model, n int) error {
	tok, err := s.Sign(claims("mallory", ""), time.Hour)
	if err != nil {
		return err
	}
	body := []byte(`{"token":"` + tok + `"}`)
	tr := &http.Transport{MaxIdleConnsPerHost: 8}
	defer tr.CloseIdleConnections()
	hc := &http.Client{Transport: tr, Timeout: 30 * time.Second}
	var next, ok, failed atomic.Int64
	start := time.Now()
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for next.Add(1) <= int64(n) && ctx.Err() == nil {
				resp, err := hc.Post("http://"+c.agent+wire.ConnectPath, "application/json", bytes.NewReader(body))
				if err != nil {
					failed.Add(1)
					continue
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode == http.StatusOK {
					ok.Add(1)
				} else {
					failed.Add(1)
				}
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	after, err := c.read(ctx)
	if err != nil {
		return err
	}
	fmt.Printf("replay: one ticket connected %d times (%d admitted, %d failed) in %.1f s (%.0f/s)\n",
		n, ok.Load(), failed.Load(), elapsed.Seconds(), float64(n)/elapsed.Seconds())
	fmt.Printf("  sessions held after: %d (replaced: %.0f); heap in use %s\n\n", after.Participants, after.Replaced, mb(after.HeapInuse))
	tr.CloseIdleConnections()
	return c.waitIdle(ctx)
}

// slowBodies opens n connections that send a connect's headers and then a byte of body a
// second, and over more beyond the connection cap, and watches the agent cut them off.
func slowBodies(ctx context.Context, c *child, n, over int) error {
	if err := c.waitIdle(ctx); err != nil {
		return err
	}
	head := fmt.Sprintf("POST %s HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\nContent-Length: 32000\r\n\r\n{\"token\":\"",
		wire.ConnectPath, c.agent)
	conns := make([]net.Conn, 0, n)
	defer func() {
		for _, cn := range conns {
			if cn != nil {
				cn.Close()
			}
		}
	}()
	start := time.Now()
	for len(conns) < n {
		cn, err := net.Dial("tcp", c.agent)
		if err != nil {
			return fmt.Errorf("slow connection %d: %w", len(conns), err)
		}
		if _, err := io.WriteString(cn, head); err != nil {
			cn.Close()
			return fmt.Errorf("slow connection %d: %w", len(conns), err)
		}
		conns = append(conns, cn)
	}
	opened := time.Since(start)
	// Until the server has accepted them all, so that the next ones are beyond its cap.
	for {
		st, err := c.read(ctx)
		if err != nil {
			return err
		}
		if st.Open >= float64(min(n, httpserve.DefaultMaxConns)) {
			break
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(10 * time.Millisecond):
		}
	}
	// The connections beyond the cap: each is closed at once by the server. One second in all
	// to tell, so that the slow ones are not left without their byte a second.
	refused := 0
	var extra []net.Conn
	for range over {
		cn, err := net.Dial("tcp", c.agent)
		if err != nil {
			refused++
			continue
		}
		io.WriteString(cn, head)
		extra = append(extra, cn)
	}
	wait := time.Now().Add(time.Second)
	for _, cn := range extra {
		cn.SetReadDeadline(wait)
		if _, err := cn.Read(make([]byte, 1)); err != nil && !isTimeout(err) {
			refused++
		}
		cn.Close()
	}
	// Trickle a byte a second into every slow connection until the server has closed them
	// all, or for three read timeouts.
	alive := func() int {
		n := 0
		for _, cn := range conns {
			if cn != nil {
				n++
			}
		}
		return n
	}
	var during stats
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	limit := time.Now().Add(3 * httpserve.DefaultReadTimeout)
	for alive() > 0 && time.Now().Before(limit) {
		for i, cn := range conns {
			if cn == nil {
				continue
			}
			cn.SetWriteDeadline(time.Now().Add(100 * time.Millisecond))
			if _, err := cn.Write([]byte{'A'}); err != nil {
				cn.Close()
				conns[i] = nil
			}
		}
		if during.Open == 0 {
			var err error
			if during, err = c.read(ctx); err != nil {
				return err
			}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
	}
	cutAfter := time.Since(start)
	if err := c.waitIdle(ctx); err != nil {
		return err
	}
	after, err := c.read(ctx)
	if err != nil {
		return err
	}
	fmt.Printf("slow bodies: %d connections sent a connect's headers in %.1f s, then a byte of body a second; %d more beyond the cap\n",
		n, opened.Seconds(), over)
	fmt.Printf("  while trickling: %.0f connections held, heap in use %s, RSS %s, %d goroutines\n",
		during.Open, mb(during.HeapInuse), mb(during.RSS), during.Goroutines)
	fmt.Printf("  beyond the cap (%d): %d of %d refused at once\n", httpserve.DefaultMaxConns, refused, over)
	fmt.Printf("  all cut off %.1f s after the first (read timeout %v); %d still open on the client side\n",
		cutAfter.Seconds(), httpserve.DefaultReadTimeout, alive())
	fmt.Printf("  after: %.0f connections held, %.0f cut by the request deadline, %.0f refused; heap in use %s, RSS %s, %d goroutines\n\n",
		after.Open, after.Timeouts, after.Refused, mb(after.HeapInuse), mb(after.RSS), after.Goroutines)
	return nil
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// joinLeave joins (a new ticket, the key) and leaves one meeting in a loop for d.
func joinLeave(ctx context.Context, c *child, s *ticket.Signer, d time.Duration) error {
	priv, err := keywrap.GenerateKey(keywrap.X25519)
	if err != nil {
		return err
	}
	pub := priv.PublicKey().String()
	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	hc := &http.Client{Transport: tr, Timeout: 30 * time.Second}
	post := func(path string, v any, out any) error {
		b, _ := json.Marshal(v)
		resp, err := hc.Post("http://"+c.kms+strings.Replace(path, "{id}", "m-attack", 1), "application/json", bytes.NewReader(b))
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			msg, _ := io.ReadAll(resp.Body)
			return fmt.Errorf("%s: %s %s", path, resp.Status, msg)
		}
		return json.NewDecoder(resp.Body).Decode(out)
	}
	var epoch uint64
	var rotateAt time.Time
	n := 0
	start := time.Now()
	for ; time.Since(start) < d && ctx.Err() == nil; n++ {
		tok, err := s.Sign(claims(fmt.Sprintf("p-%d", n), pub), time.Hour)
		if err != nil {
			return err
		}
		var k wire.KeyResponse
		if err := post(wire.KeyPath, wire.KeyRequest{Token: tok}, &k); err != nil {
			return err
		}
		var l wire.LeaveResponse
		if err := post(wire.LeavePath, wire.LeaveRequest{Token: tok}, &l); err != nil {
			return err
		}
		epoch, rotateAt = max(epoch, k.Epoch, l.Epoch), l.RotateAt
	}
	elapsed := time.Since(start)
	fmt.Printf("join and leave: %d joins (each a new ticket and the key) and leaves of one meeting in %.1f s\n", n, elapsed.Seconds())
	pending := "none"
	if !rotateAt.IsZero() {
		pending = fmt.Sprintf("at +%.1f s", rotateAt.Sub(start).Seconds())
	}
	fmt.Printf("  epochs: the meeting reached epoch %d (rotate interval %v); next rotation %s\n",
		epoch, kms.DefaultRotateInterval, pending)
	return nil
}
