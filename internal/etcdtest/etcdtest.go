// Package etcdtest runs real etcd servers for tests: the embedded server of
// go.etcd.io/etcd/server/v3/embed, each member in a child process of the test (the test binary
// run again), on loopback, with its data in the test's temporary folder. A test can kill a
// member by its process, as a crash would, and start it again on the same data.
//
// A test package that uses it calls [Main] from its TestMain, so that the child processes
// become etcd members instead of running the tests. It is for tests only.
package etcdtest

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/geofence/geofence/internal/etcdembed"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
)

// childEnv carries a child's member configuration: name, data dir, client URL, peer URL and
// the initial cluster, separated by '|'.
const childEnv = "GEOFENCE_ETCDTEST_MEMBER"

// ready is what a member prints on its standard output once it serves.
const ready = "etcdtest: ready"

// Main runs m's tests, or, in a child process started by Start, an etcd member until it is
// killed. Call it from TestMain: func TestMain(m *testing.M) { etcdtest.Main(m) }.
func Main(m *testing.M) {
	if spec := os.Getenv(childEnv); spec != "" {
		os.Exit(member(spec))
	}
	os.Exit(m.Run())
}

// member serves one etcd member as spec says, until the process is killed.
func member(spec string) int {
	f := strings.Split(spec, "|")
	if len(f) != 5 {
		fmt.Fprintf(os.Stderr, "etcdtest: bad member spec %q\n", spec)
		return 2
	}
	e, err := etcdembed.Start(etcdembed.Member{Name: f[0], Dir: f[1], ClientURL: f[2], PeerURL: f[3], InitialCluster: f[4], FastElections: true})
	if err != nil {
		fmt.Fprintf(os.Stderr, "etcdtest: %v\n", err)
		return 1
	}
	fmt.Println(ready)
	err = <-e.Err()
	fmt.Fprintf(os.Stderr, "etcdtest: member %s: %v\n", f[0], err)
	return 1
}

// Cluster is a running etcd cluster of one or more members.
type Cluster struct {
	t       testing.TB
	members []*Member
}

// Member is one etcd member process.
type Member struct {
	Name      string
	ClientURL string
	peerURL   string
	dir       string
	initial   string

	mu  sync.Mutex
	cmd *exec.Cmd
}

// Start starts a cluster of n members on loopback and waits until it serves. The members are
// killed when t ends.
func Start(t testing.TB, n int) *Cluster {
	t.Helper()
	c := &Cluster{t: t}
	var initial []string
	for i := range n {
		m := &Member{Name: fmt.Sprintf("m%d", i), ClientURL: "http://" + freeAddr(t), peerURL: "http://" + freeAddr(t), dir: t.TempDir()}
		initial = append(initial, m.Name+"="+m.peerURL)
		c.members = append(c.members, m)
	}
	for _, m := range c.members {
		m.initial = strings.Join(initial, ",")
	}
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for _, m := range c.members {
		wg.Go(func() { errs <- m.start() })
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			c.Close()
			t.Fatal(err)
		}
	}
	t.Cleanup(c.Close)
	return c
}

// Endpoints are the members' client URLs.
func (c *Cluster) Endpoints() []string {
	var out []string
	for _, m := range c.members {
		out = append(out, m.ClientURL)
	}
	return out
}

// Members are the cluster's members.
func (c *Cluster) Members() []*Member { return c.members }

// Client returns a client of the cluster, closed when the test ends.
func (c *Cluster) Client(t testing.TB) *clientv3.Client {
	t.Helper()
	cli, err := clientv3.New(clientv3.Config{Endpoints: c.Endpoints(), DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cli.Close() })
	return cli
}

// Close kills every member.
func (c *Cluster) Close() {
	for _, m := range c.members {
		m.Kill()
	}
}

// Leader returns the member that leads, or nil when none answers.
func (c *Cluster) Leader(t testing.TB) *Member {
	t.Helper()
	cli := c.Client(t)
	for _, m := range c.members {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		st, err := cli.Status(ctx, m.ClientURL)
		cancel()
		if err == nil && st.Leader == st.Header.MemberId {
			return m
		}
	}
	return nil
}

func (m *Member) start() error {
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	cmd := exec.Command(exe, "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"="+strings.Join([]string{m.Name, m.dir, m.ClientURL, m.peerURL, m.initial}, "|"))
	out, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start etcd member %s: %w", m.Name, err)
	}
	m.mu.Lock()
	m.cmd = cmd
	m.mu.Unlock()
	up := make(chan bool, 1)
	go func() {
		sc := bufio.NewScanner(out)
		ok := false
		for sc.Scan() {
			if sc.Text() == ready && !ok {
				ok = true
				up <- true
			}
		}
		if !ok {
			up <- false
		}
	}()
	select {
	case ok := <-up:
		if !ok {
			return fmt.Errorf("etcd member %s exited before serving", m.Name)
		}
		return nil
	case <-time.After(time.Minute):
		m.Kill()
		return fmt.Errorf("etcd member %s did not serve within a minute", m.Name)
	}
}

// Kill kills the member's process, as a crash would.
func (m *Member) Kill() {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.cmd != nil && m.cmd.Process != nil {
		m.cmd.Process.Kill()
		m.cmd.Wait()
	}
	m.cmd = nil
}

// Restart starts a killed member again on its data.
func (m *Member) Restart() error { return m.start() }

// freeAddr returns a loopback address with a port free when it was asked for.
func freeAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// Proxy is a TCP proxy on loopback in front of an etcd member, which a test can cut: every
// connection through it is closed and new ones are refused, as when a network partition
// separates a directory from etcd, until Restore.
type Proxy struct {
	// URL is the client URL to give to the process under test instead of the member's.
	URL string

	ln     net.Listener
	target string
	mu     sync.Mutex
	cut    bool
	conns  map[net.Conn]struct{}
}

// NewProxy starts a proxy to the member at clientURL, closed when t ends.
func NewProxy(t testing.TB, clientURL string) *Proxy {
	t.Helper()
	u, err := url.Parse(clientURL)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &Proxy{URL: "http://" + ln.Addr().String(), ln: ln, target: u.Host, conns: map[net.Conn]struct{}{}}
	go p.serve()
	t.Cleanup(func() { ln.Close(); p.Cut() })
	return p
}

func (p *Proxy) serve() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		if p.cut {
			p.mu.Unlock()
			c.Close()
			continue
		}
		p.mu.Unlock()
		go p.relay(c)
	}
}

func (p *Proxy) relay(c net.Conn) {
	up, err := net.Dial("tcp", p.target)
	if err != nil {
		c.Close()
		return
	}
	p.mu.Lock()
	if p.cut {
		p.mu.Unlock()
		c.Close()
		up.Close()
		return
	}
	p.conns[c], p.conns[up] = struct{}{}, struct{}{}
	p.mu.Unlock()
	done := make(chan struct{}, 2)
	pipe := func(dst, src net.Conn) {
		buf := make([]byte, 32<<10)
		for {
			n, err := src.Read(buf)
			if n > 0 {
				if _, werr := dst.Write(buf[:n]); werr != nil {
					break
				}
			}
			if err != nil {
				break
			}
		}
		done <- struct{}{}
	}
	go pipe(up, c)
	go pipe(c, up)
	<-done
	c.Close()
	up.Close()
	p.mu.Lock()
	delete(p.conns, c)
	delete(p.conns, up)
	p.mu.Unlock()
}

// Cut closes every connection through the proxy and refuses new ones.
func (p *Proxy) Cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.cut = true
	for c := range p.conns {
		c.Close()
	}
}

// Restore lets connections through again.
func (p *Proxy) Restore() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.cut = false
}
