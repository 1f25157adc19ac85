package exporter

import (
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/lbpilot/lbpilot/internal/lab"
)

func TestProbeAllowMatching(t *testing.T) {
	a, err := compileProbeAllow([]string{"10.1.0.0/16", "wcs1.example", "srs1.example:1985", "https://emqx.example:18083/api", "192.0.2.7"})
	if err != nil {
		t.Fatal(err)
	}
	a.addStatic("http://static.example:8081/?action=stat")
	a.addStatic("tcp://127.0.0.1:9999")
	for target, want := range map[string]bool{
		"http://10.1.2.3:8081":                   true,
		"http://10.2.0.1:8081":                   false,
		"http://WCS1.example:8081/":              true,
		"http://srs1.example:1985":               true,
		"http://srs1.example:1986":               false,
		"https://emqx.example:18083/api/v5":      true,
		"https://emqx.example:18083/apix":        false,
		"http://emqx.example:18083/api":          false, // scheme differs
		"https://emqx.example/api":               false, // port 443
		"http://192.0.2.7:80/stats":              true,
		"http://static.example:8081/other":       true, // the static target's origin
		"http://static.example:8082/":            false,
		"tcp://127.0.0.1:9999":                   true,
		"tcp://127.0.0.1:9998":                   false,
		"http://evil.example/?x=wcs1.example":    false,
		"http://u:p@wcs1.example/":               false,
		"http://wcs1.example.evil.example:8081/": false,
	} {
		if got := a.allows(target); got != want {
			t.Errorf("allows(%q) = %v, want %v", target, got, want)
		}
	}
	for _, bad := range []string{"", "10.0.0.0/33", "http://u:p@h/", "http://h/?q=1", "a b"} {
		if _, err := compileProbeAllow([]string{bad}); err == nil || !strings.Contains(err.Error(), "probe_allow") {
			t.Errorf("entry %q: %v", bad, err)
		}
	}
}

// listener records the Authorization header of every request it gets:
// the attacker's listener on the same host, or a target's new home.
type listener struct {
	*httptest.Server
	mu   sync.Mutex
	auth []string
}

func newListener(t *testing.T, h http.Handler) *listener {
	l := &listener{}
	l.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		l.mu.Lock()
		l.auth = append(l.auth, r.Header.Get("Authorization"))
		l.mu.Unlock()
		if h != nil {
			h.ServeHTTP(w, r)
		}
	}))
	t.Cleanup(l.Close)
	return l
}

func (l *listener) seen() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.auth...)
}

// TestProbeNeverHandsOutCredentials: a module with credentials answers a
// /probe of a target it does not know with 400 (counted), and the target
// sees nothing; its static target is probed; a redirect from that target
// to another port is not followed, so the credentials stay home.
func TestProbeNeverHandsOutCredentials(t *testing.T) {
	wcs := startLab(t, lab.Config{Kind: lab.WCS, Name: "wcs1"})
	attacker := newListener(t, nil)
	dir := t.TempDir()
	pass := writeFile(t, dir, "pass", "s3cret\n")
	redirector := newListener(t, http.RedirectHandler(attacker.URL+"/stolen", http.StatusFound))
	cfg := `
modules:
  w:
    kind: wcs
    wcs: {http_client_config: {basic_auth: {username: admin, password_file: ` + pass + `}}}
  follows:
    kind: wcs
    wcs: {http_client_config: {follow_redirects: true, basic_auth: {username: admin, password_file: ` + pass + `}}}
  open:
    kind: wcs
targets:
  - {name: wcs1, module: w, url: "` + wcs.URL + `"}
  - {name: moved, module: w, url: "` + redirector.URL + `"}
  - {name: moved2, module: follows, url: "` + redirector.URL + `"}
`
	e, logs := newTestExporter(t, cfg, Options{Kinds: Kinds()})
	h := e.ProbeHandler()

	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/probe?module=w&target="+url.QueryEscape(attacker.URL), nil))
	if rec.Code != 400 || !strings.Contains(rec.Body.String(), "this module sends credentials") {
		t.Fatalf("probe of an unknown target with a credentialed module: %d %s", rec.Code, rec.Body)
	}
	if got := testutil.ToFloat64(e.probeInvalid.WithLabelValues("target_not_allowed")); got != 1 {
		t.Errorf("target_not_allowed counted %v times", got)
	}
	if up := gaugeValue(t, scrape(t, h, probe("w", wcs.URL)), "lbpilot_up", nil); up != 1 {
		t.Errorf("static target: up %v; %s", up, logs)
	}
	// A module without credentials probes anything (blackbox_exporter's contract).
	scrape(t, h, probe("open", attacker.URL))
	// The static target that redirects elsewhere: not followed by default,
	// refused when follow_redirects is on.
	for _, m := range []string{"w", "follows"} {
		if up := gaugeValue(t, scrape(t, h, probe(m, redirector.URL)), "lbpilot_up", nil); up != 0 {
			t.Errorf("module %s: a redirected scrape succeeded", m)
		}
	}
	if got := attacker.seen(); len(got) != 1 || got[0] != "" {
		t.Fatalf("the attacker's listener saw %q; want only the credential-less module's request", got)
	}
	if got := redirector.seen(); len(got) != 2 || got[0] == "" {
		t.Errorf("the static target saw %q", got)
	}
	if !strings.Contains(logs.String(), "a redirect may not leave") {
		t.Errorf("the refused redirect was not logged:\n%s", logs)
	}
}

// TestMaxResponseBytes: a WCS answer past the module's max_response_bytes
// fails the probe with an error naming the key.
func TestMaxResponseBytes(t *testing.T) {
	wcs := startLab(t, lab.Config{Kind: lab.WCS, Name: "wcs1"})
	e, logs := newTestExporter(t, "modules:\n  small:\n    kind: wcs\n    wcs: {max_response_bytes: 100}\n", Options{Kinds: Kinds()})
	h := e.ProbeHandler()
	if up := gaugeValue(t, scrape(t, h, probe("small", wcs.URL)), "lbpilot_up", nil); up != 0 {
		t.Fatalf("a %s answer over 100 bytes was taken", wcs.URL)
	}
	if !strings.Contains(logs.String(), "body larger than 100 bytes (the module's max_response_bytes)") {
		t.Errorf("the error does not name the key:\n%s", logs)
	}
	if up := gaugeValue(t, scrape(t, h, probe("wcs", wcs.URL)), "lbpilot_up", nil); up != 1 {
		t.Errorf("the default module: up %v", up)
	}
	if _, err := Parse([]byte("modules:\n  m:\n    kind: wcs\n    wcs: {max_response_bytes: -1}\n"), Kinds()); err == nil || !strings.Contains(err.Error(), "max_response_bytes must not be negative") {
		t.Errorf("negative: %v", err)
	}
}

// TestMQTTProbeKeepsItsPassword: an mqtt module with a password_file
// connects only to its static targets and its probe_allow entries (a
// bare host:port is its mqtt:// URL); any other target is refused with
// 400 before a byte is sent, so an attacker's listener never sees the
// CONNECT that carries the password.
func TestMQTTProbeKeepsItsPassword(t *testing.T) {
	attacker, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { attacker.Close() })
	var got atomic.Int64
	go func() {
		for {
			c, err := attacker.Accept()
			if err != nil {
				return
			}
			got.Add(1)
			c.Close()
		}
	}()
	allowed, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { allowed.Close() })
	dir := t.TempDir()
	pass := writeFile(t, dir, "pass", "s3cret\n")
	cfg := `
modules:
  m:
    kind: mqtt
    mqtt: {username: probe, password_file: ` + pass + `}
  listed:
    kind: mqtt
    probe_allow: ["` + allowed.Addr().String() + `"]
    mqtt: {username: probe, password_file: ` + pass + `}
  open:
    kind: mqtt
targets:
  - {name: b1, module: m, url: "` + allowed.Addr().String() + `"}
`
	e, _ := newTestExporter(t, cfg, Options{Kinds: Kinds()})
	h := e.ProbeHandler()
	for _, target := range []string{attacker.Addr().String(), "mqtt://" + attacker.Addr().String(), "tls://" + attacker.Addr().String()} {
		for _, module := range []string{"m", "listed"} {
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/probe?module="+module+"&target="+url.QueryEscape(target), nil))
			if rec.Code != http.StatusBadRequest {
				t.Errorf("module %s, target %s: %d %s; want 400", module, target, rec.Code, rec.Body)
			}
		}
	}
	if n := got.Load(); n != 0 {
		t.Fatalf("the attacker's listener got %d connections", n)
	}
	if got := testutil.ToFloat64(e.probeInvalid.WithLabelValues("target_not_allowed")); got != 6 {
		t.Errorf("target_not_allowed counted %v times, want 6", got)
	}
	// The static target (bare and as a URL) and the listed one pass the
	// allow check: the probe runs (and fails: nothing speaks MQTT there).
	for _, pr := range []struct{ module, target string }{
		{"m", allowed.Addr().String()},
		{"m", "mqtt://" + allowed.Addr().String()},
		{"listed", allowed.Addr().String()},
		{"open", attacker.Addr().String()}, // no credentials: blackbox's contract
	} {
		rec := httptest.NewRecorder()
		req := httptest.NewRequest(http.MethodGet, "/probe?module="+pr.module+"&target="+url.QueryEscape(pr.target), nil)
		req.Header.Set("X-Prometheus-Scrape-Timeout-Seconds", "1")
		h.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK {
			t.Errorf("module %s, target %s: %d %s; want the probe to run", pr.module, pr.target, rec.Code, rec.Body)
		}
	}
	if n := got.Load(); n != 1 {
		t.Errorf("the credential-less module reached the open listener %d times, want 1", n)
	}
}
