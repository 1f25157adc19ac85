package traffic

import (
	"context"
	"errors"
	"io"
	"net"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/lbpilot/lbpilot/internal/testenv"
)

// Against real sockets: an echo server holds sessions (ended by the
// plan), a server that closes at once cuts them, a closed port refuses.
func TestTCPClassifies(t *testing.T) {
	stop := make(chan struct{})
	echo := "tcp://" + testenv.ServeTCP(t, func(c net.Conn) {
		defer c.Close()
		go func() { <-stop; c.Close() }()
		_, _ = io.Copy(c, c)
	})
	defer close(stop)
	closing := "tcp://" + testenv.ServeTCP(t, func(c net.Conn) { c.Close() })
	// A port nothing listens on.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := "tcp://" + ln.Addr().String()
	ln.Close()

	reg := NewRegistry()
	for _, n := range []string{"tcp", "closing", "dead"} {
		if err := reg.Register(n, TCPDialer{}, TCPKinds...); err != nil {
			t.Fatal(err)
		}
	}
	life := Lifetime{Dist: LifetimeFixed, Value: Duration(150 * time.Millisecond)}
	p := &Plan{Seed: 3, Caps: Caps{MaxConcurrent: 100, MaxTotal: 1000, MaxDuration: Duration(10 * time.Second)},
		Protocols: map[string]ProtocolPlan{
			"tcp":     {Target: echo, Rate: 40, Mix: map[string]float64{"echo": 1}, Lifetime: life, Options: map[string]string{"interval": "20ms", "size": "32"}},
			"closing": {Target: closing, Rate: 40, Mix: map[string]float64{"hold": 1}, Lifetime: Lifetime{Dist: LifetimeFixed, Value: Duration(5 * time.Second)}},
			"dead":    {Target: dead, Rate: 40, Mix: map[string]float64{"hold": 1}, Lifetime: life},
		},
		Phases: []Phase{{Kind: PhaseSteady, Duration: Duration(250 * time.Millisecond)}}}
	if err := p.Validate(reg); err != nil {
		t.Fatal(err)
	}
	want := map[string]int64{}
	for _, a := range all(NewSchedule(p)) {
		want[a.Protocol]++
	}
	sum, err := NewEngine(p, reg).Run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	e, c, d := sum.Protocols["tcp"], sum.Protocols["closing"], sum.Protocols["dead"]
	if e.Ended != want["tcp"] || e.BytesOut == 0 || e.BytesIn == 0 || e.Nodes[UnknownNode].Opened != want["tcp"] {
		t.Errorf("echo: %+v, want %d ended with bytes", e, want["tcp"])
	}
	if c.Cut != want["closing"] || c.Ended != 0 {
		t.Errorf("closing: %+v, want %d cut", c, want["closing"])
	}
	if d.Refused != want["dead"] || d.Opened != 0 {
		t.Errorf("dead: %+v, want %d refused", d, want["dead"])
	}
	for _, f := range sum.Failures {
		switch {
		case f.Protocol == "closing" && f.Outcome == OutcomeCut && f.Reason == "closed_by_peer":
		case f.Protocol == "dead" && f.Outcome == OutcomeRefused && f.Reason == "connection_refused":
		default:
			t.Errorf("failure %+v", f)
		}
	}
}

func TestTCPDialerErrors(t *testing.T) {
	addr := "tcp://" + testenv.ServeTCP(t, func(c net.Conn) { c.Close() })
	for _, c := range []struct {
		target, kind string
		opts         map[string]string
		reason       string
	}{
		{"http://127.0.0.1:1", "hold", nil, "bad_target"},
		{"tcp://", "hold", nil, "bad_target"},
		{"%zz", "hold", nil, "bad_target"},
		{addr, "echo", map[string]string{"interval": "soon"}, "bad_option"},
		{addr, "echo", map[string]string{"interval": "-1s"}, "bad_option"},
		{addr, "echo", map[string]string{"size": "0"}, "bad_option"},
		{addr, "echo", map[string]string{"size": "x"}, "bad_option"},
	} {
		_, err := TCPDialer{}.Open(context.Background(), c.target, c.kind, SessionParams{Options: c.opts})
		if Reason(err) != c.reason {
			t.Errorf("%s %v: %v (%s), want %s", c.target, c.opts, err, Reason(err), c.reason)
		}
	}
}

// Ending the context ends the session; Close is idempotent.
func TestTCPSessionContextAndClose(t *testing.T) {
	addr := "tcp://" + testenv.ServeTCP(t, func(c net.Conn) { _, _ = io.Copy(io.Discard, c); c.Close() })
	ctx, cancel := context.WithCancel(context.Background())
	s, err := TCPDialer{}.Open(ctx, addr, "echo", SessionParams{Options: map[string]string{"interval": "5ms"}})
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(30 * time.Millisecond)
	cancel()
	if err := s.Wait(); !errors.Is(err, context.Canceled) {
		t.Errorf("wait: %v", err)
	}
	if _, out := s.Bytes(); out == 0 || s.Node() != "" {
		t.Errorf("out %d node %q", out, s.Node())
	}
	s2, err := TCPDialer{}.Open(context.Background(), addr, "hold", SessionParams{})
	if err != nil {
		t.Fatal(err)
	}
	_ = s2.Close()
	_ = s2.Close()
	if err := s2.Wait(); err != errClosed {
		t.Errorf("wait after close: %v", err)
	}
}

// A write to a connection the server reset ends the echo session.
func TestTCPWriteError(t *testing.T) {
	addr := "tcp://" + testenv.ServeTCP(t, func(c net.Conn) {
		// Unread data plus close: the kernel answers with a reset.
		time.Sleep(20 * time.Millisecond)
		if tc, ok := c.(*net.TCPConn); ok {
			_ = tc.SetLinger(0)
		}
		c.Close()
	})
	s, err := TCPDialer{}.Open(context.Background(), addr, "echo", SessionParams{Options: map[string]string{"interval": "2ms"}})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error)
	go func() { done <- s.Wait() }()
	select {
	case err := <-done:
		if r := Reason(err); r != "connection_reset" && r != "broken_pipe" && r != "closed_by_peer" {
			t.Errorf("reason %s (%v)", r, err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("session not cut")
	}
}

func TestReason(t *testing.T) {
	var ne net.Error = &net.OpError{Op: "read", Err: timeoutErr{}}
	for err, want := range map[error]string{
		nil:                                      "closed",
		WithReason("HTTP 503!", nil):             "http_503_",
		WithReason("", io.EOF):                   "error",
		WithReason(strings.Repeat("a", 50), nil): strings.Repeat("a", 40),
		context.DeadlineExceeded:                 "timeout",
		context.Canceled:                         "canceled",
		syscall.ECONNREFUSED:                     "connection_refused",
		syscall.ECONNRESET:                       "connection_reset",
		syscall.EPIPE:                            "broken_pipe",
		io.ErrUnexpectedEOF:                      "eof",
		ne:                                       "timeout",
		errors.New("something"):                  "error",
	} {
		if got := Reason(err); got != want {
			t.Errorf("%v: %s, want %s", err, got, want)
		}
	}
	if s := WithReason("x", nil).Error(); s != "x" {
		t.Error(s)
	}
	if s := WithReason("x", io.EOF).Error(); s != "x: EOF" {
		t.Error(s)
	}
}

type timeoutErr struct{}

func (timeoutErr) Error() string   { return "i/o timeout" }
func (timeoutErr) Timeout() bool   { return true }
func (timeoutErr) Temporary() bool { return true }

func TestRegistry(t *testing.T) {
	r := DefaultRegistry()
	for _, c := range []struct {
		name  string
		d     Dialer
		kinds []string
	}{
		{"tcp", TCPDialer{}, TCPKinds},      // twice
		{"Bad Name", TCPDialer{}, TCPKinds}, // name
		{"x", nil, TCPKinds},                // nil
		{"x", TCPDialer{}, nil},             // no kinds
		{"x", TCPDialer{}, []string{"Play"}},
		{"", TCPDialer{}, TCPKinds},
		{strings.Repeat("x", 41), TCPDialer{}, TCPKinds},
	} {
		if err := r.Register(c.name, c.d, c.kinds...); err == nil {
			t.Errorf("%q %v registered", c.name, c.kinds)
		}
	}
	f := DialerFunc(func(context.Context, string, string, SessionParams) (Session, error) { return nil, io.EOF })
	if err := r.Register("wcs", f, "publish", "play"); err != nil {
		t.Fatal(err)
	}
	if _, err := f.Open(context.Background(), "", "", SessionParams{}); err != io.EOF {
		t.Error(err)
	}
	if k, ok := r.Kinds("wcs"); !ok || strings.Join(k, ",") != "publish,play" || strings.Join(r.Names(), ",") != "tcp,wcs" {
		t.Errorf("%v %v", k, r.Names())
	}
}
