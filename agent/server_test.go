package agent

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lbpilot/lbpilot/internal/testenv"

	"github.com/go-kit/log"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// fixedSource reports a settable sample and counts its readings.
type fixedSource struct {
	mu    sync.Mutex
	s     Sample
	err   error
	calls atomic.Int32
	gate  chan struct{} // when set, each reading waits for a receive
}

func (f *fixedSource) set(s Sample, err error) {
	f.mu.Lock()
	f.s, f.err = s, err
	f.mu.Unlock()
}

// hold makes every reading wait for a receive on the returned channel.
func (f *fixedSource) hold() chan struct{} {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.gate = make(chan struct{})
	return f.gate
}

func (f *fixedSource) Sample(ctx context.Context) (Sample, error) {
	f.calls.Add(1)
	f.mu.Lock()
	gate := f.gate
	f.mu.Unlock()
	if gate != nil {
		select {
		case <-gate:
		case <-ctx.Done():
			return Sample{}, ctx.Err()
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.s, f.err
}

func sampleWith(vals map[Dimension]float64) Sample {
	var s Sample
	for d, v := range vals {
		s.Set(d, v)
	}
	return s
}

type testAgent struct {
	*Agent
	src    *fixedSource
	addr   string
	cancel context.CancelFunc
	done   chan error
	logs   *testenv.SyncBuffer
}

// newTestAgent builds an agent over a fixed source (WCS dimensions, cpu
// at 10%) with opts applied, and serves it on a loopback port.
func newTestAgent(t *testing.T, mut func(*Options)) *testAgent {
	t.Helper()
	src := &fixedSource{}
	logs := &testenv.SyncBuffer{}
	o := Options{
		Kind: WCS, Source: src, CPU: CPUFunc(func() (float64, error) { return 10, nil }),
		Policy:   defaultPolicy(ModeWeight),
		CacheTTL: 0, UpstreamTimeout: 2 * time.Second, Logger: log.NewLogfmtLogger(logs),
	}
	if mut != nil {
		mut(&o)
	}
	a, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ta := &testAgent{Agent: a, src: src, addr: ln.Addr().String(), cancel: cancel, done: make(chan error, 1), logs: logs}
	go func() { ta.done <- a.Serve(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-ta.done:
		case <-time.After(5 * time.Second):
			t.Error("Serve did not return after cancel")
		}
	})
	return ta
}

// check connects like HAProxy: optionally sends agent-send bytes, reads
// everything until the agent closes.
func check(t *testing.T, addr string, send string) string {
	t.Helper()
	b, err := checkRaw(t, addr, send)
	if err != nil {
		t.Fatalf("reading the reply: %v", err)
	}
	return b
}

// checkRaw is check that returns the read error (a refused source is
// closed with unread input, which the kernel turns into a reset).
func checkRaw(t *testing.T, addr string, send string) (string, error) {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	if send != "" {
		if _, err := c.Write([]byte(send)); err != nil {
			t.Fatal(err)
		}
	}
	b, err := io.ReadAll(c)
	return string(b), err
}

func counter(t *testing.T, a *Agent, name string, labels ...string) float64 {
	t.Helper()
	switch name {
	case "replies":
		return testutil.ToFloat64(a.m.replies.WithLabelValues(labels...))
	case "rejected":
		return testutil.ToFloat64(a.m.rejected.WithLabelValues(labels...))
	case "write_errors":
		return testutil.ToFloat64(a.m.writeErrors)
	case "upstream_requests":
		return testutil.ToFloat64(a.m.upRequests)
	}
	t.Fatalf("no counter %s", name)
	return 0
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatalf("timed out waiting for %s", what)
}

// TestOneLinePerConnection: each connection gets exactly one line ending
// in "\n", then the agent closes; with or without HAProxy's agent-send.
func TestOneLinePerConnection(t *testing.T) {
	ta := newTestAgent(t, nil)
	ta.src.set(sampleWith(map[Dimension]float64{Subscribers: 75}), nil)
	for _, send := range []string{"", "hello\n", "hello", strings.Repeat("x", 10000) + "\n", "two\nlines\n"} {
		if got := check(t, ta.addr, send); got != "up 51%\n" {
			t.Errorf("agent-send %.20q: got %q, want exactly one line", send, got)
		}
	}
	if n := counter(t, ta.Agent, "replies", "up"); n != 5 {
		t.Errorf("replies_total{kind=up} = %v, want 5", n)
	}
}

// TestReplyFollowsLoad: the line changes with the sample; down only for
// the upstream in weight mode.
func TestReplyFollowsLoad(t *testing.T) {
	ta := newTestAgent(t, nil)
	for _, tt := range []struct {
		s    Sample
		err  error
		want string
	}{
		{sampleWith(map[Dimension]float64{Publishers: 10}), nil, "up 100%\n"},
		{sampleWith(map[Dimension]float64{Publishers: 90}), nil, "up 21%\n"},
		{sampleWith(map[Dimension]float64{Publishers: 400}), nil, "up 1%\n"},
		{Sample{}, context.DeadlineExceeded, "down #upstream timeout\n"},
	} {
		ta.src.set(tt.s, tt.err)
		if got := check(t, ta.addr, ""); got != tt.want {
			t.Errorf("got %q, want %q", got, tt.want)
		}
	}
	if counter(t, ta.Agent, "replies", "down_upstream") != 1 || counter(t, ta.Agent, "replies", "up") != 3 {
		t.Error("replies by kind miscounted")
	}
}

// TestPeerResetsAfterLine: HAProxy resets the connection once it has the
// line. That is no error and the agent keeps answering.
func TestPeerResetsAfterLine(t *testing.T) {
	ta := newTestAgent(t, nil)
	for i := 0; i < 20; i++ {
		c, err := net.Dial("tcp", ta.addr)
		if err != nil {
			t.Fatal(err)
		}
		_ = c.SetDeadline(time.Now().Add(5 * time.Second))
		line, err := bufio.NewReader(c).ReadString('\n')
		if err != nil || line != "up 100%\n" {
			t.Fatalf("line %q: %v", line, err)
		}
		_ = c.(*net.TCPConn).SetLinger(0) // close with RST, as HAProxy does
		_ = c.Close()
	}
	if got := check(t, ta.addr, ""); got != "up 100%\n" {
		t.Fatalf("after resets: %q", got)
	}
	if n := counter(t, ta.Agent, "write_errors"); n != 0 {
		t.Errorf("write_errors_total = %v after clean resets", n)
	}
	if strings.Contains(ta.logs.String(), "level=error") {
		t.Errorf("resets logged as errors:\n%s", ta.logs)
	}
}

// TestPeerGoneBeforeReply: the peer resets while the agent still waits for
// the upstream (HAProxy's timeout passed). The write fails, is counted,
// and the agent goes on.
func TestPeerGoneBeforeReply(t *testing.T) {
	ta := newTestAgent(t, nil)
	gate := ta.src.hold()
	c, err := net.Dial("tcp", ta.addr)
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the reading to start", func() bool { return ta.src.calls.Load() == 1 })
	_ = c.(*net.TCPConn).SetLinger(0)
	_ = c.Close()
	time.Sleep(50 * time.Millisecond) // let the RST land before the write
	gate <- struct{}{}
	waitFor(t, "the failed write to be counted", func() bool { return counter(t, ta.Agent, "write_errors") == 1 })
	close(gate)
	if got := check(t, ta.addr, ""); got != "up 100%\n" {
		t.Fatalf("after a failed write: %q", got)
	}
}

// TestPeerNeverCloses: a peer that keeps its side open gets its line and
// an end of stream (the agent half-closes at once), and the agent lets
// the connection go after the drain timeout rather than holding it.
func TestPeerNeverCloses(t *testing.T) {
	ta := newTestAgent(t, nil)
	c, err := net.Dial("tcp", ta.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(drainTimeout + 3*time.Second))
	b, err := io.ReadAll(c)
	if err != nil || string(b) != "up 100%\n" {
		t.Fatalf("got %q %v", b, err)
	}
	start := time.Now()
	time.Sleep(100 * time.Millisecond)
	if n, d := len(ta.sem), len(ta.drains); n != 0 || d != 1 {
		t.Fatalf("%d checks in progress and %d drains while the peer is still open, want 0 and 1", n, d)
	}
	waitFor(t, "the drain timeout to release the connection", func() bool { return len(ta.drains) == 0 })
	if d := time.Since(start); d < drainTimeout/2 || d > drainTimeout+2*time.Second {
		t.Errorf("released after %v, want about %v", d, drainTimeout)
	}
}

// TestAllowlistRejects: a source outside --agent.allow gets no byte, is
// counted, and costs no upstream reading.
func TestAllowlistRejects(t *testing.T) {
	ta := newTestAgent(t, func(o *Options) {
		o.Allow, _ = ParseAllowlist([]string{"127.0.0.1/32"})
	})
	// Linux routes all of 127/8 to lo, so 127.0.0.2 is a second source.
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 2)}, Timeout: 2 * time.Second}
	c, err := d.Dial("tcp", ta.addr)
	if err != nil {
		if testenv.InCI() {
			t.Fatalf("cannot bind 127.0.0.2: %v", err)
		}
		t.Skipf("cannot bind 127.0.0.2 here (CI=%q): %v", os.Getenv("CI"), err)
	}
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	b, err := io.ReadAll(c)
	c.Close()
	if len(b) != 0 {
		t.Fatalf("a refused source got %q (%v)", b, err)
	}
	if n := counter(t, ta.Agent, "rejected", rejectNotAllowed); n != 1 {
		t.Errorf("rejected{not_allowed} = %v", n)
	}
	if n := ta.src.calls.Load(); n != 0 {
		t.Errorf("a refused source caused %d upstream readings", n)
	}
	if got := check(t, ta.addr, ""); got != "up 100%\n" {
		t.Errorf("allowed source: %q", got)
	}
	if !strings.Contains(ta.logs.String(), `source=127.0.0.2:`) {
		t.Errorf("refusal not logged:\n%s", ta.logs)
	}
}

func TestAllowlistRejectsEveryLoopbackSource(t *testing.T) {
	ta := newTestAgent(t, func(o *Options) {
		o.Allow, _ = ParseAllowlist([]string{"10.0.0.0/8"})
	})
	for i := 0; i < 3; i++ {
		if got, err := checkRaw(t, ta.addr, "hello\n"); got != "" {
			t.Fatalf("got %q (%v)", got, err)
		}
	}
	if n := counter(t, ta.Agent, "rejected", rejectNotAllowed); n != 3 {
		t.Errorf("rejected = %v", n)
	}
	// Warned once, not three times.
	if n := strings.Count(ta.logs.String(), "without a reply"); n != 1 {
		t.Errorf("%d warnings for 3 refusals", n)
	}
}

// TestOverload: beyond the concurrency bound a connection is closed
// without a reply and counted.
func TestOverload(t *testing.T) {
	ta := newTestAgent(t, func(o *Options) { o.maxChecks, o.perSource = 1, 2 })
	gate := ta.src.hold()
	first, err := net.Dial("tcp", ta.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer first.Close()
	waitFor(t, "the first check to hold the slot", func() bool { return ta.src.calls.Load() == 1 })
	if got := check(t, ta.addr, ""); got != "" {
		t.Fatalf("overloaded agent answered %q", got)
	}
	if n := counter(t, ta.Agent, "rejected", rejectOverload); n != 1 {
		t.Errorf("rejected{overload} = %v", n)
	}
	close(gate)
	_ = first.SetDeadline(time.Now().Add(5 * time.Second))
	if b, _ := io.ReadAll(first); string(b) != "up 100%\n" {
		t.Errorf("the held check got %q", b)
	}
}

// TestCacheServesBurst: with a TTL, a burst of checks costs one reading.
func TestCacheServesBurst(t *testing.T) {
	ta := newTestAgent(t, func(o *Options) { o.CacheTTL = time.Minute })
	var wg sync.WaitGroup
	for i := 0; i < 40; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if got := check(t, ta.addr, ""); got != "up 100%\n" {
				t.Errorf("got %q", got)
			}
		}()
	}
	wg.Wait()
	if n := ta.src.calls.Load(); n != 1 {
		t.Errorf("40 checks made %d upstream readings, want 1", n)
	}
	if n := counter(t, ta.Agent, "upstream_requests"); n != 1 {
		t.Errorf("upstream_requests_total = %v", n)
	}
}

// TestShutdownWhileWaiting: a check waiting for the upstream when the
// agent stops gets no line (HAProxy keeps the server's state), and Serve
// returns nil.
func TestShutdownWhileWaiting(t *testing.T) {
	ta := newTestAgent(t, nil)
	defer close(ta.src.hold())
	c, err := net.Dial("tcp", ta.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	waitFor(t, "the reading to start", func() bool { return ta.src.calls.Load() == 1 })
	ta.cancel()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	if b, _ := io.ReadAll(c); len(b) != 0 {
		t.Errorf("got %q during shutdown", b)
	}
	select {
	case err := <-ta.done:
		if err != nil {
			t.Errorf("Serve: %v", err)
		}
		ta.done <- nil // for the cleanup
	case <-time.After(5 * time.Second):
		t.Fatal("Serve did not return")
	}
	if _, err := net.DialTimeout("tcp", ta.addr, time.Second); err == nil {
		t.Error("still listening after shutdown")
	}
}

// flakyListener fails Accept with a transient error, then hands out one
// in-memory connection, then reports itself closed.
type flakyListener struct {
	mu    sync.Mutex
	calls int
	conn  net.Conn
}

func (l *flakyListener) Accept() (net.Conn, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.calls++
	switch l.calls {
	case 1:
		return nil, os.NewSyscallError("accept", errors.New("too many open files"))
	case 2:
		return l.conn, nil
	}
	time.Sleep(50 * time.Millisecond)
	return nil, net.ErrClosed
}

func (l *flakyListener) Close() error   { return nil }
func (l *flakyListener) Addr() net.Addr { return &net.TCPAddr{} }

// TestAcceptErrors: a transient Accept error is logged and retried; a
// listener closed by someone else ends Serve with an error.
func TestAcceptErrors(t *testing.T) {
	server, client := net.Pipe()
	ln := &flakyListener{conn: server}
	logs := &testenv.SyncBuffer{}
	a, err := New(Options{Kind: WCS, Source: &fixedSource{}, CPU: CPUFunc(func() (float64, error) { return 0, nil }),
		Policy: defaultPolicy(ModeUpDown), UpstreamTimeout: time.Second, Logger: log.NewLogfmtLogger(logs)})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- a.Serve(context.Background(), ln) }()
	_ = client.SetDeadline(time.Now().Add(5 * time.Second))
	line, err := bufio.NewReader(client).ReadString('\n')
	if err != nil || line != "up 100%\n" {
		t.Fatalf("after a transient accept error: %q %v", line, err)
	}
	client.Close()
	select {
	case err := <-done:
		if !errors.Is(err, net.ErrClosed) {
			t.Errorf("Serve returned %v, want the closed listener", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Serve did not return")
	}
	if !strings.Contains(logs.String(), "too many open files") {
		t.Errorf("transient error not logged:\n%s", logs)
	}
}

// TestHAProxyAgentSendFixture replays what HAProxy sends (the captured
// agent_received_bytes.txt): nothing, or "hello\n".
func TestHAProxyAgentSendFixture(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("testdata", "agent_received_bytes.txt"))
	if err != nil {
		t.Fatal(err)
	}
	sends := map[string]bool{}
	for _, l := range strings.Split(string(b), "\n") {
		if _, rest, ok := strings.Cut(l, "got=b'"); ok {
			got, _, _ := strings.Cut(rest, "'")
			sends[strings.ReplaceAll(got, `\n`, "\n")] = true
		}
	}
	if !sends[""] || !sends["hello\n"] {
		t.Fatalf("fixture lacks the two cases: %v", sends)
	}
	ta := newTestAgent(t, func(o *Options) { o.Policy.Mode = ModeUpDown })
	for s := range sends {
		if got := check(t, ta.addr, s); got != "up 100%\n" {
			t.Errorf("send %q: got %q", s, got)
		}
	}
}

func TestNewErrors(t *testing.T) {
	ok := Options{Kind: WCS, Source: &fixedSource{}, Policy: defaultPolicy(ModeWeight), UpstreamTimeout: time.Second}
	tests := []struct {
		mut  func(*Options)
		want string
	}{
		{func(o *Options) { o.Source = nil }, "no source"},
		{func(o *Options) { o.Kind = "nginx" }, "unknown source kind"},
		{func(o *Options) { o.Policy.Floor = 0 }, "weight floor"},
		{func(o *Options) { o.CacheTTL = -1 }, "cache TTL"},
		{func(o *Options) { o.UpstreamTimeout = 0 }, "upstream timeout"},
	}
	for _, tt := range tests {
		o := ok
		tt.mut(&o)
		if _, err := New(o); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("got %v, want %q", err, tt.want)
		}
	}
	// A host without /proc/loadavg: warned at start, cpu left out.
	logs := &testenv.SyncBuffer{}
	o := ok
	o.CPU = CPUFunc(func() (float64, error) { return 0, errors.New("no /proc") })
	o.Logger = log.NewLogfmtLogger(logs)
	a, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(logs.String(), "cpu threshold is not checked") {
		t.Errorf("no warning:\n%s", logs)
	}
	d, _ := a.Decide(context.Background())
	for _, s := range d.Dims {
		if s.Dimension == CPU {
			t.Error("cpu checked without a reading")
		}
	}
}

// TestSlowReadersDoNotStarveChecks: clients that take their reply but
// never read on or close hold no check slot; a legitimate check right
// after them is answered. (Before, each held a slot for the drain's
// second, and the check was closed without a reply.)
func TestSlowReadersDoNotStarveChecks(t *testing.T) {
	ta := newTestAgent(t, func(o *Options) { o.maxChecks = 2 })
	var held []net.Conn
	for i := 0; i < 20; i++ {
		c, err := net.Dial("tcp", ta.addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		held = append(held, c)
		waitFor(t, "the reply to be written", func() bool { return counter(t, ta.Agent, "replies", "up") == float64(i+1) })
	}
	if got := check(t, ta.addr, ""); got != "up 100%\n" {
		t.Fatalf("legitimate check after 20 idle peers got %q", got)
	}
	if n := counter(t, ta.Agent, "rejected", rejectOverload); n != 0 {
		t.Errorf("rejected{overload} = %v", n)
	}
	_ = held
}

// TestPerSourceLimit: one source address holds at most its share of the
// check slots; past it its connections are closed without a reply and
// counted, and the slots it did not take stay free for others.
func TestPerSourceLimit(t *testing.T) {
	ta := newTestAgent(t, func(o *Options) { o.maxChecks = 8 }) // 2 per source
	gate := ta.src.hold()
	var held []net.Conn
	for i := 0; i < 2; i++ {
		c, err := net.Dial("tcp", ta.addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		held = append(held, c)
	}
	waitFor(t, "two checks in progress", func() bool { return len(ta.sem) == 2 })
	if got := check(t, ta.addr, ""); got != "" {
		t.Fatalf("a third check from the same source was answered %q", got)
	}
	if n := counter(t, ta.Agent, "rejected", rejectPerSource); n != 1 {
		t.Errorf("rejected{source_limit} = %v", n)
	}
	if n := counter(t, ta.Agent, "rejected", rejectOverload); n != 0 {
		t.Errorf("rejected{overload} = %v with slots free", n)
	}
	close(gate)
	for _, c := range held {
		_ = c.SetDeadline(time.Now().Add(5 * time.Second))
		if b, _ := io.ReadAll(c); string(b) != "up 100%\n" {
			t.Errorf("a held check got %q", b)
		}
	}
	if got := check(t, ta.addr, ""); got != "up 100%\n" {
		t.Errorf("after the held checks ended: %q", got)
	}
}
