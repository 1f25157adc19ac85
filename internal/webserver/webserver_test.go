package webserver

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-kit/log"
	"github.com/prometheus/exporter-toolkit/web"
	"golang.org/x/crypto/bcrypt"

	"github.com/lbpilot/lbpilot/internal/testenv"
)

func TestHealthy(t *testing.T) {
	for method, want := range map[string]int{http.MethodGet: 200, http.MethodHead: 200, http.MethodPost: 405} {
		rec := httptest.NewRecorder()
		Healthy().ServeHTTP(rec, httptest.NewRequest(method, "/-/healthy", nil))
		if rec.Code != want {
			t.Errorf("%s = %d, want %d", method, rec.Code, want)
		}
	}
}

func flags(addr, cfg string) *web.FlagConfig {
	sd := false
	return &web.FlagConfig{WebListenAddresses: &[]string{addr}, WebSystemdSocket: &sd, WebConfigFile: &cfg}
}

func TestRunServesWithBasicAuthAndShutsDown(t *testing.T) {
	hash, err := bcrypt.GenerateFromPassword([]byte("secret"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(t.TempDir(), "web.yml")
	if err := os.WriteFile(cfg, []byte("basic_auth_users:\n  ops: "+string(hash)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	addr := fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- Run(ctx, Healthy(), flags(addr, cfg), log.NewNopLogger()) }()
	var code int
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		resp, err := http.Get("http://" + addr + "/")
		if err == nil {
			code = resp.StatusCode
			resp.Body.Close()
			break
		}
	}
	if code != 401 {
		t.Fatalf("without credentials: %d, want 401", code)
	}
	req, _ := http.NewRequest(http.MethodGet, "http://"+addr+"/", nil)
	req.SetBasicAuth("ops", "secret")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(body) != "OK\n" {
		t.Fatalf("with credentials: %d %q", resp.StatusCode, body)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run after cancel: %v", err)
		}
	case <-time.After(ShutdownTimeout + time.Second):
		t.Fatal("Run did not return after cancel")
	}
}

func TestRunReportsListenErrors(t *testing.T) {
	err := Run(context.Background(), Healthy(), flags("256.0.0.1:1", ""), log.NewNopLogger())
	if err == nil {
		t.Fatal("an impossible address was accepted")
	}
}

// serve runs h with lim on a free loopback port until the test ends.
func serve(t *testing.T, h http.Handler, lim Limits) (addr string, cancel func(), done chan error) {
	t.Helper()
	addr = fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
	ctx, cancel := context.WithCancel(context.Background())
	done = make(chan error, 1)
	go func() { done <- RunWith(ctx, h, flags(addr, ""), lim, log.NewNopLogger()) }()
	t.Cleanup(cancel)
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			return addr, cancel, done
		}
	}
	t.Fatal("server never listened")
	return
}

// closedByServer reports whether the server closes c (EOF or reset)
// within wait, having sent nothing but an optional error reply.
func closedByServer(c net.Conn, wait time.Duration) bool {
	_ = c.SetReadDeadline(time.Now().Add(wait))
	_, err := io.ReadAll(c)
	var ne net.Error
	return !(errors.As(err, &ne) && ne.Timeout())
}

// TestRunLimitsSlowAndIdleClients: a connection that sends nothing, one
// whose body trickles, and an idle keep-alive connection are all closed by
// the server; with the old settings all three stayed open for minutes.
func TestRunLimitsSlowAndIdleClients(t *testing.T) {
	lim := Limits{ReadHeaderTimeout: 300 * time.Millisecond, ReadTimeout: 600 * time.Millisecond, IdleTimeout: 300 * time.Millisecond, MaxConnections: 16}
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		_, _ = w.Write([]byte("OK\n"))
	})
	addr, _, _ := serve(t, h, lim)
	const wait = 5 * time.Second

	silent, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()

	trickle, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer trickle.Close()
	fmt.Fprintf(trickle, "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nx")

	idle, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer idle.Close()
	fmt.Fprintf(idle, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	br := bufio.NewReader(idle)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()

	for name, c := range map[string]net.Conn{"silent": silent, "trickling body": trickle, "idle keep-alive": idle} {
		if !closedByServer(c, wait) {
			t.Errorf("%s connection still open after %s", name, wait)
		}
	}
}

// TestRunBoundsConnections: past MaxConnections a new connection is not
// served until an older one closes.
func TestRunBoundsConnections(t *testing.T) {
	lim := DefaultLimits()
	lim.MaxConnections = 2
	addr, _, _ := serve(t, Healthy(), lim)
	var held []net.Conn
	for i := 0; i < 2; i++ {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		held = append(held, c)
	}
	get := func() chan error {
		ch := make(chan error, 1)
		go func() {
			c, err := net.Dial("tcp", addr)
			if err != nil {
				ch <- err
				return
			}
			defer c.Close()
			fmt.Fprintf(c, "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
			resp, err := http.ReadResponse(bufio.NewReader(c), nil)
			if err == nil {
				resp.Body.Close()
			}
			ch <- err
		}()
		return ch
	}
	third := get()
	select {
	case err := <-third:
		t.Fatalf("a third connection was served past the limit of 2 (err %v)", err)
	case <-time.After(500 * time.Millisecond):
	}
	held[0].Close()
	select {
	case err := <-third:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the waiting connection was never served after a slot freed")
	}
}

// TestRunCancelsInFlightOnShutdown: a request in flight when the context
// ends sees its own context cancelled, answers, and Run returns nil well
// before the shutdown timeout would have forced it.
func TestRunCancelsInFlightOnShutdown(t *testing.T) {
	started := make(chan struct{})
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(started)
		select {
		case <-r.Context().Done():
			_, _ = w.Write([]byte("cancelled\n"))
		case <-time.After(time.Minute):
			_, _ = w.Write([]byte("finished\n"))
		}
	})
	addr, cancel, done := serve(t, h, DefaultLimits())
	body := make(chan string, 1)
	go func() {
		resp, err := http.Get("http://" + addr + "/")
		if err != nil {
			body <- err.Error()
			return
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		body <- string(b)
	}()
	<-started
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run: %v", err)
	}
	if got := <-body; got != "cancelled\n" {
		t.Fatalf("client got %q, want the handler's answer to its cancellation", got)
	}
}

func TestLimitsValidate(t *testing.T) {
	for _, tt := range []struct {
		mod  func(*Limits)
		want string
	}{
		{func(l *Limits) {}, ""},
		{func(l *Limits) { l.ReadTimeout = 0 }, "--web.read-timeout must be positive"},
		{func(l *Limits) { l.IdleTimeout = -1 }, "--web.idle-timeout must be positive"},
		{func(l *Limits) { l.MaxConnections = -1 }, "--web.max-connections must not be negative"},
	} {
		l := DefaultLimits()
		tt.mod(&l)
		err := l.Validate()
		if (tt.want == "") != (err == nil) || err != nil && err.Error() != tt.want {
			t.Errorf("%+v: %v, want %q", l, err, tt.want)
		}
	}
}

func TestUnauthenticated(t *testing.T) {
	dir := t.TempDir()
	users := filepath.Join(dir, "users.yml")
	_ = os.WriteFile(users, []byte("basic_auth_users:\n  ops: $2y$10$x\n"), 0o600)
	mtls := filepath.Join(dir, "mtls.yml")
	_ = os.WriteFile(mtls, []byte("tls_server_config:\n  client_auth_type: RequireAndVerifyClientCert\n"), 0o600)
	tlsOnly := filepath.Join(dir, "tls.yml")
	_ = os.WriteFile(tlsOnly, []byte("tls_server_config:\n  cert_file: a\n  key_file: b\n"), 0o600)
	for _, tt := range []struct {
		addrs []string
		cfg   string
		want  string
	}{
		{[]string{"127.0.0.1:9708", "[::1]:9708", "localhost:9708"}, "", ""},
		{[]string{":9708"}, "", ":9708"},
		{[]string{"127.0.0.1:1", "10.0.0.5:9709"}, "", "10.0.0.5:9709"},
		{[]string{":9708"}, users, ""},
		{[]string{":9708"}, mtls, ""},
		{[]string{":9708"}, tlsOnly, ":9708"},
	} {
		cfg := tt.cfg
		sd := false
		got := strings.Join(Unauthenticated(&web.FlagConfig{WebListenAddresses: &tt.addrs, WebSystemdSocket: &sd, WebConfigFile: &cfg}), ",")
		if got != tt.want {
			t.Errorf("%v with %q: %q, want %q", tt.addrs, filepath.Base(tt.cfg), got, tt.want)
		}
	}
}
