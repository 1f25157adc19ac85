package webui

import (
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"testing/fstest"
)

// fakeAPI serves the contract's reads from testdata, behind a bearer token
// when one is given.
func fakeAPI(t *testing.T, token string, routes map[string]string) http.Handler {
	t.Helper()
	mux := http.NewServeMux()
	for path, file := range routes {
		body := []byte(file) // inline JSON, or a testdata file
		if strings.HasPrefix(file, "testdata/") {
			var err error
			if body, err = os.ReadFile(file); err != nil {
				t.Fatal(err)
			}
		}
		mux.HandleFunc(path, func(w http.ResponseWriter, r *http.Request) {
			if token != "" && r.Header.Get("Authorization") != "Bearer "+token {
				w.Header().Set("WWW-Authenticate", `Bearer realm="lbpilot rebalancer"`)
				w.WriteHeader(http.StatusUnauthorized)
				_, _ = w.Write([]byte(`{"status":"error","error":"missing or wrong bearer token"}`))
				return
			}
			if r.Header.Get("Accept-Encoding") != "" {
				// What a compressing API would send: the page must not ask for it.
				w.Header().Set("Content-Encoding", "gzip")
				_, _ = w.Write([]byte{0x1f, 0x8b, 0x08})
				return
			}
			if r.Method != http.MethodGet {
				w.WriteHeader(http.StatusMethodNotAllowed)
				return
			}
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write(body)
		})
	}
	return mux
}

var fullAPI = map[string]string{
	"/api/v1/state":   "testdata/state.json",
	"/api/v1/history": "testdata/history.json",
	"/api/v1/csrf":    `{"token":"tok-123"}`,
}

func get(t *testing.T, h http.Handler, path string, hdr map[string]string) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest(http.MethodGet, path, nil)
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

func newPage(t *testing.T, o Options) *Handler {
	t.Helper()
	h, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func TestPageRendersState(t *testing.T) {
	h := newPage(t, Options{API: fakeAPI(t, "", fullAPI), Version: "v9.9.9", Links: []Link{{Address: "/metrics", Text: "Metrics"}}})
	req := httptest.NewRequest(http.MethodGet, "/", nil)
	req.SetBasicAuth("carol", "pw")
	req.Header.Set("Accept-Encoding", "gzip, deflate, br") // as browsers send
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != 200 {
		t.Fatalf("status %d: %s", rec.Code, rec.Body)
	}
	page := rec.Body.String()
	for _, want := range []string{
		`<meta name="csrf-token" content="tok-123">`,
		`<meta name="lbpilot-operator" content="carol">`,
		`<a href="/metrics">Metrics</a>`,
		// grouped by backend, sorted; states, weights, owners
		`<details class="backend" data-backend="be_emqx" data-filled="1" open>`,
		`<tr data-key="unix:/run/haproxy/admin.sock|be_wcs|wcs1" data-backend="be_wcs" data-server="wcs1"><td class="srv">wcs1</td><td>unix:/run/haproxy/admin.sock</td><td><span class="state st-DRAIN">DRAIN</span></td><td class="num">100</td><td class="owner-alert">alert</td><td><span class="alert" title="aaaa000000000001">WCSOverloaded</span></td>`,
		`<td class="owner-nobody">nobody</td>`,
		`<span class="badge">2 servers</span><span class="badge">1 DRAIN</span><span class="badge">1 READY</span><span class="badge">1 owned</span><span class="badge">1 deferred</span><span class="badge">1 proposed</span>`,
		// operator hold, deferral, graceful maintenance
		`<div>hold maint by bob: disk swap (until 2026-12-02 14:30:00Z) [forced]</div><div>draining for maint: 12 sessions, maint at 2026-12-02 10:10:00Z at the latest</div>`,
		`<div>deferred: floor: be_wcs keeps 1 ready server</div>`,
		`<button type="button" data-act="maint">maint</button><button type="button" data-act="weight">weight</button><button type="button" data-act="release">release</button>`,
		// pauses
		`<span class="running">running: alerts are applied</span>`,
		`paused by alice since 2026-12-02 11:00:00Z until 2026-12-02 13:00:00Z: upgrade &lt;b&gt;srs&lt;/b&gt;</span> <button type="button" data-act="resume" data-backend="be_srs">resume backend</button>`,
		// proposals and history
		`<tr data-id="p-1"><td>p-1</td><td>be_wcs/wcs2</td><td>weight 50</td><td>wcs</td>`,
		`<button type="button" data-act="approve" data-id="p-1">approve</button>`,
		`<td>2026-12-02 12:00:02Z</td><td>applied</td><td>be_wcs/wcs1</td><td>drain</td><td>alert rule wcs</td>`,
		// status line
		`last reconcile 2026-12-02 12:00:01Z ok · socket unix:/run/haproxy/b.sock down: dial: no such file`,
		`v9.9.9`,
	} {
		if !strings.Contains(page, want) {
			t.Errorf("page lacks %s", want)
		}
	}
	// Labels are text, never markup.
	for _, bad := range []string{"<img", "<script>bad", "<b>srs"} {
		if strings.Contains(page, bad) {
			t.Errorf("page contains unescaped %q", bad)
		}
	}
	for _, want := range []string{`summary=&#34;&lt;img src=x onerror=alert(1)&gt;&#34;`, `&lt;script&gt;bad()&lt;/script&gt;`} {
		if !strings.Contains(page, want) {
			t.Errorf("page lacks escaped %s", want)
		}
	}
	hdr := rec.Header()
	if csp := hdr.Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'self'") || strings.Contains(csp, "unsafe-inline") {
		t.Errorf("CSP %q", csp)
	}
	if hdr.Get("Cache-Control") != "no-store" || hdr.Get("X-Frame-Options") != "DENY" {
		t.Errorf("headers %v", hdr)
	}
}

func TestPageCollapsesQuietBackends(t *testing.T) {
	h := newPage(t, Options{API: fakeAPI(t, "", fullAPI), ExpandAll: 3})
	page := get(t, h, "/", nil).Body.String()
	// be_quiet needs no attention: closed, no rows (the script fills them in).
	if !strings.Contains(page, `<details class="backend" data-backend="be_quiet" data-filled="0"><summary>`) {
		t.Errorf("be_quiet not collapsed")
	}
	if strings.Contains(page, `data-server="q1"`) {
		t.Errorf("rows of a collapsed backend rendered")
	}
	// paused, alerted, owned and proposed backends stay open.
	for _, be := range []string{"be_srs", "be_wcs", "be_emqx"} {
		if !strings.Contains(page, `data-backend="`+be+`" data-filled="1" open>`) {
			t.Errorf("%s not open", be)
		}
	}
}

func TestPageFollowsTheAPIsAnswers(t *testing.T) {
	for _, tc := range []struct {
		name   string
		token  string
		hdr    map[string]string
		routes map[string]string
		code   int
		want   []string
	}{
		{name: "refused like the API", token: "s3cret", code: 401, want: []string{"missing or wrong bearer token"}},
		{name: "wrong token", token: "s3cret", hdr: map[string]string{"Authorization": "Bearer nope"}, code: 401},
		{name: "right token", token: "s3cret", hdr: map[string]string{"Authorization": "Bearer s3cret"}, code: 200, want: []string{"tok-123"}},
		{name: "state not JSON", routes: map[string]string{"/api/v1/state": `{not json`}, code: 502, want: []string{"undecodable answer of /api/v1/state"}},
		{name: "no state endpoint", routes: map[string]string{}, code: 404, want: []string{"state: 404"}},
		{name: "no history or csrf yet", routes: map[string]string{"/api/v1/state": "testdata/state.json"}, code: 200,
			want: []string{`<meta name="csrf-token" content="">`, `history unavailable: 404`}},
		{name: "history not JSON", routes: map[string]string{"/api/v1/state": "testdata/state.json", "/api/v1/history": `[1`}, code: 200,
			want: []string{`undecodable history`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			routes := tc.routes
			if routes == nil {
				routes = fullAPI
			}
			h := newPage(t, Options{API: fakeAPI(t, tc.token, routes)})
			rec := get(t, h, "/", tc.hdr)
			if rec.Code != tc.code {
				t.Fatalf("status %d, want %d: %s", rec.Code, tc.code, rec.Body)
			}
			if tc.code == 401 && rec.Header().Get("WWW-Authenticate") == "" {
				t.Error("401 without WWW-Authenticate")
			}
			for _, w := range tc.want {
				if !strings.Contains(rec.Body.String(), w) {
					t.Errorf("answer lacks %q:\n%s", w, rec.Body)
				}
			}
			if strings.Contains(rec.Body.String(), "s3cret") {
				t.Error("token in the answer")
			}
		})
	}
}

func TestPageRoutes(t *testing.T) {
	h := newPage(t, Options{API: fakeAPI(t, "", fullAPI)})
	for _, tc := range []struct {
		method, path string
		code         int
		ctype        string
	}{
		{"GET", "/ui/app.js", 200, "text/javascript; charset=utf-8"},
		{"GET", "/ui/style.css", 200, "text/css; charset=utf-8"},
		{"HEAD", "/", 200, "text/html; charset=utf-8"},
		{"POST", "/", 405, ""},
		{"POST", "/ui/app.js", 405, ""},
		{"GET", "/nothing", 404, ""},
		{"GET", "/ui/page.html", 404, ""},
	} {
		req := httptest.NewRequest(tc.method, tc.path, nil)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != tc.code {
			t.Errorf("%s %s: %d, want %d", tc.method, tc.path, rec.Code, tc.code)
		}
		if tc.ctype != "" && rec.Header().Get("Content-Type") != tc.ctype {
			t.Errorf("%s %s: content type %q", tc.method, tc.path, rec.Header().Get("Content-Type"))
		}
		if tc.code == 405 && rec.Header().Get("Allow") != "GET, HEAD" {
			t.Errorf("%s %s: Allow %q", tc.method, tc.path, rec.Header().Get("Allow"))
		}
	}
}

func TestNewRefuses(t *testing.T) {
	api := http.NewServeMux()
	good := func() fstest.MapFS {
		m := fstest.MapFS{}
		for _, f := range []string{"app.js", "style.css", "page.html"} {
			b, err := fs.ReadFile(assets, "assets/"+f)
			if err != nil {
				t.Fatal(err)
			}
			m["assets/"+f] = &fstest.MapFile{Data: b}
		}
		return m
	}
	noJS := good()
	delete(noJS, "assets/app.js")
	badTmpl := good()
	badTmpl["assets/page.html"] = &fstest.MapFile{Data: []byte("{{if}")}
	for _, tc := range []struct {
		name  string
		o     Options
		files fs.FS
		want  string
	}{
		{"no API", Options{}, good(), "webui: no API handler"},
		{"asset missing", Options{API: api}, noJS, "webui: asset app.js"},
		{"template broken", Options{API: api}, badTmpl, "webui: template"},
	} {
		if _, err := newHandler(tc.o, tc.files); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err %v, want %q", tc.name, err, tc.want)
		}
	}
	if _, err := newHandler(Options{API: api}, good()); err != nil {
		t.Fatalf("the embedded files: %v", err)
	}
	// A template that fails while rendering: 500, saying so.
	badExec := good()
	badExec["assets/page.html"] = &fstest.MapFile{Data: []byte(`{{template "nope" .}}`)}
	h, err := newHandler(Options{API: fakeAPI(t, "", fullAPI)}, badExec)
	if err != nil {
		t.Fatal(err)
	}
	if rec := get(t, h, "/", nil); rec.Code != 500 || !strings.Contains(rec.Body.String(), "rendering the page") {
		t.Errorf("%d %s", rec.Code, rec.Body)
	}
}
