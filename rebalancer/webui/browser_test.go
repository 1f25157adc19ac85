package webui

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/lbpilot/lbpilot/internal/browser"
)

type tab = browser.Tab

var newTab = browser.NewTab

func eval[T any](b *tab, expr string) T {
	b.T.Helper()
	return browser.Eval[T](b, expr)
}

// canonJS serializes an element's tree (tags, sorted attributes, merged
// text without whitespace-only nodes), to compare what the server rendered
// with what the script builds.
const canonJS = `(function canonOf(doc, sel){
  function canon(n){
    if (n.nodeType === 3) return n.data.trim() === '' ? '' : JSON.stringify(n.data);
    if (n.nodeType !== 1) return '';
    var attrs = Array.prototype.map.call(n.attributes, function(a){ return a.name + '=' + JSON.stringify(a.value); }).sort().join(' ');
    return '<' + n.tagName.toLowerCase() + (attrs ? ' ' + attrs : '') + '>' + Array.prototype.map.call(n.childNodes, canon).join('') + '</' + n.tagName.toLowerCase() + '>';
  }
  var c = doc.querySelector(sel).cloneNode(true);
  c.normalize();
  return canon(c);
})`

// fakeRebalancer serves the page over the contract's API: a state the test
// can change, the history, the CSRF token, and every POST recorded and
// answered as the test says.
type fakeRebalancer struct {
	t   testing.TB
	srv *httptest.Server

	mu                     sync.Mutex
	state                  []byte
	failState, failHistory string              // when set, that read answers 503 with it
	servedToPage           func([]byte) []byte // changes the state the server renders the page from
	historyReads           int
	posts                  []post
	answer                 func(path string) (int, string)
}

type post struct {
	Path, CSRF string
	Body       map[string]any
}

func newFakeRebalancer(t testing.TB, stateFile string, o Options) *fakeRebalancer {
	t.Helper()
	st, err := os.ReadFile(stateFile)
	if err != nil {
		t.Fatal(err)
	}
	hist, err := os.ReadFile("testdata/history.json")
	if err != nil {
		t.Fatal(err)
	}
	f := &fakeRebalancer{t: t, state: st, answer: func(string) (int, string) { return 200, `{"result":"applied"}` }}
	mux := http.NewServeMux()
	serve := func(body func() []byte, fail *string) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			f.mu.Lock()
			b, fail := body(), *fail
			if r.URL.Path == "/api/v1/history" {
				f.historyReads++
			}
			f.mu.Unlock()
			w.Header().Set("Content-Type", "application/json")
			if fail != "" {
				w.WriteHeader(http.StatusServiceUnavailable)
				b, _ = json.Marshal(map[string]string{"error": fail})
			}
			_, _ = w.Write(b)
		}
	}
	mux.HandleFunc("GET /api/v1/state", func(w http.ResponseWriter, r *http.Request) {
		// The page's own read carries the browser's page request headers.
		if strings.Contains(r.Header.Get("Accept"), "text/html") {
			f.mu.Lock()
			st, change := f.state, f.servedToPage
			f.mu.Unlock()
			if change != nil {
				_, _ = w.Write(change(st))
				return
			}
		}
		serve(func() []byte { return f.state }, &f.failState)(w, r)
	})
	mux.HandleFunc("GET /api/v1/history", serve(func() []byte { return hist }, &f.failHistory))
	mux.HandleFunc("GET /api/v1/csrf", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte(`{"token":"tok-123"}`)) })
	mux.HandleFunc("POST /api/v1/", func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		p := post{Path: r.URL.Path, CSRF: r.Header.Get("X-CSRF-Token")}
		if err := json.Unmarshal(b, &p.Body); err != nil {
			t.Errorf("POST %s: body %q is not JSON: %v", r.URL.Path, b, err)
		}
		f.mu.Lock()
		f.posts = append(f.posts, p)
		code, answer := f.answer(r.URL.Path)
		f.mu.Unlock()
		w.WriteHeader(code)
		_, _ = w.Write([]byte(answer))
	})
	o.API = mux
	page, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	mux.Handle("/", page)
	f.srv = httptest.NewServer(mux)
	t.Cleanup(f.srv.Close)
	return f
}

// edit changes the served state.
func (f *fakeRebalancer) edit(fn func(st map[string]any)) {
	f.t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	var st map[string]any
	if err := json.Unmarshal(f.state, &st); err != nil {
		f.t.Fatal(err)
	}
	fn(st)
	b, err := json.Marshal(st)
	if err != nil {
		f.t.Fatal(err)
	}
	f.state = b
}

func (f *fakeRebalancer) recorded() []post {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]post(nil), f.posts...)
}

// openPage loads the page and waits for the script's first poll.
func openPage(b *tab, url string) {
	b.T.Helper()
	b.Do(chromedp.Navigate(url))
	b.Wait("window.lbpilot && window.lbpilot.stats.polls >= 1", 10*time.Second)
}

func TestBrowserScriptRendersLikeTheServer(t *testing.T) {
	f := newFakeRebalancer(t, "testdata/state.json", Options{ExpandAll: 3, Refresh: time.Hour})
	b := newTab(t)
	openPage(b, f.srv.URL)
	// What the server rendered, parsed without running the script.
	eval[bool](b, `fetch('/').then(function(r){return r.text()}).then(function(h){window._served=new DOMParser().parseFromString(h,'text/html');return true})`)
	sections := []string{"#status", "#pause-global", "#proposals", "#backends", "#alerts", "#history"}
	served := map[string]string{}
	for _, s := range sections {
		served[s] = eval[string](b, canonJS+"(window._served, "+jsQuote(s)+")")
		if len(served[s]) < 40 {
			t.Fatalf("%s: server rendered %q", s, served[s])
		}
	}
	eval[bool](b, "window.lbpilot.rerender(), true")
	if n := eval[int](b, "window.lbpilot.stats.rowsBuilt"); n < 5 {
		t.Fatalf("the forced re-render built %d rows", n)
	}
	for _, s := range sections {
		if got := eval[string](b, canonJS+"(document, "+jsQuote(s)+")"); got != served[s] {
			t.Errorf("%s: the script renders\n%s\nthe server rendered\n%s", s, got, served[s])
		}
	}
}

func jsQuote(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

func TestBrowserUpdatesOnlyWhatChanged(t *testing.T) {
	f := newFakeRebalancer(t, "testdata/state.json", Options{ExpandAll: 3, Refresh: 100 * time.Millisecond})
	f.edit(func(map[string]any) {}) // the edits below re-encode the state (keys sorted): do it once before
	b := newTab(t)
	openPage(b, f.srv.URL)
	// The first poll found the state the server rendered: nothing rebuilt.
	if !eval[bool](b, "window.lbpilot.stats.adopted && window.lbpilot.stats.rowsBuilt === 0 && window.lbpilot.stats.backendsUpdated === 0") {
		t.Errorf("the first poll rebuilt the server-rendered page: %v", eval[map[string]any](b, "window.lbpilot.stats"))
	}
	b.Wait("window.lbpilot.stats.polls >= 2", 10*time.Second)
	eval[bool](b, `(function(){document.querySelectorAll('tr[data-key]').forEach(function(r){r._mark=1});window._built=window.lbpilot.stats.rowsBuilt;return true})()`)
	f.edit(func(st map[string]any) {
		for _, s := range st["servers"].([]any) {
			if m := s.(map[string]any); m["server"] == "emqx2" {
				m["haproxy_state"] = "DRAIN"
			}
		}
	})
	b.Wait(`(document.querySelector('tr[data-server="emqx2"] .state')||{}).textContent === 'DRAIN'`, 10*time.Second)
	if got := b.Text(`details[data-backend="be_emqx"] .be-sum`); !strings.Contains(got, "1 DRAIN") {
		t.Errorf("summary not updated: %q", got)
	}
	if n := eval[int](b, "window.lbpilot.stats.rowsBuilt - window._built"); n != 1 {
		t.Errorf("%d rows rebuilt for one changed server", n)
	}
	if !eval[bool](b, `document.querySelector('tr[data-server="wcs1"]')._mark === 1 && document.querySelector('tr[data-server="emqx1"]')._mark === 1`) {
		t.Error("unchanged rows were replaced")
	}
	// A collapsed backend gets its rows when opened.
	if eval[int](b, `document.querySelectorAll('details[data-backend="be_quiet"] tbody tr').length`) != 0 {
		t.Fatal("be_quiet has rows while collapsed")
	}
	b.Do(chromedp.Click(chromedp.CSS(`details[data-backend="be_quiet"] > summary`)))
	b.Wait(`document.querySelectorAll('details[data-backend="be_quiet"] tbody tr').length === 2`, 10*time.Second)
	// and stays open across refreshes: the operator opened it.
	polls := eval[int](b, "window.lbpilot.stats.polls")
	f.edit(func(st map[string]any) { st["last_reconcile"] = "2026-12-02T12:05:00Z" })
	b.Wait(fmt.Sprintf("window.lbpilot.stats.polls > %d + 1", polls), 10*time.Second)
	if !eval[bool](b, `document.querySelector('details[data-backend="be_quiet"]').open`) {
		t.Error("be_quiet closed again")
	}
	if got := b.Text("#status"); !strings.Contains(got, "last reconcile 2026-12-02 12:05:00Z ok") {
		t.Errorf("status %q", got)
	}
	// A backend that goes away goes from the page.
	f.edit(func(st map[string]any) {
		var keep []any
		for _, s := range st["servers"].([]any) {
			if s.(map[string]any)["backend"] != "be_quiet" {
				keep = append(keep, s)
			}
		}
		st["servers"] = keep
	})
	b.Wait(`!document.querySelector('details[data-backend="be_quiet"]')`, 10*time.Second)
}

func TestBrowserLabelsStayInert(t *testing.T) {
	f := newFakeRebalancer(t, "testdata/state.json", Options{Refresh: 100 * time.Millisecond})
	b := newTab(t)
	openPage(b, f.srv.URL)
	// Now through the script too: a new alert whose labels carry markup.
	f.edit(func(st map[string]any) {
		st["alerts"] = append(st["alerts"].([]any), map[string]any{
			"fingerprint": "ffff000000000009", "status": "firing", "rule": "x", "in_force": true,
			"labels": map[string]any{"alertname": `<img src=x onerror="window.__xss=1">`, "summary": `<script>window.__xss=2</script>`},
		})
		for _, s := range st["servers"].([]any) {
			if m := s.(map[string]any); m["server"] == "q1" {
				m["alerts"] = []any{"ffff000000000009"}
			}
		}
	})
	b.Wait(`document.querySelector('tr[data-server="q1"] .alert')`, 10*time.Second)
	time.Sleep(300 * time.Millisecond) // an onerror would have fired by now
	if got := b.Text(`tr[data-server="q1"] .alert`); got != `<img src=x onerror="window.__xss=1">` {
		t.Errorf("alert name shown as %q", got)
	}
	if got := b.Text(`tr[data-server="wcs2"] .alert`); got != `<script>bad()</script>` {
		t.Errorf("server-rendered alert name shown as %q", got)
	}
	if n := eval[int](b, `document.querySelectorAll('img, #backends script, #alerts script').length`); n != 0 {
		t.Errorf("%d elements made from labels", n)
	}
	if v := eval[bool](b, `window.__xss === undefined`); !v {
		t.Error("markup from a label ran")
	}
}

func TestBrowserActionsConfirmAndPostWithCSRF(t *testing.T) {
	f := newFakeRebalancer(t, "testdata/state.json", Options{Refresh: time.Hour})
	b := newTab(t)
	openPage(b, f.srv.URL)
	b.Do(chromedp.Click(chromedp.CSS(`tr[data-server="wcs1"] button[data-act="drain"]`)))
	b.Wait(`document.getElementById('confirm').open`, 10*time.Second)
	if got := b.Text("#confirm-title"); got != "drain be_wcs/wcs1" {
		t.Errorf("dialog title %q", got)
	}
	// No reason: refused in the page, nothing sent.
	b.Do(chromedp.SetValue(chromedp.CSS("#f-author"), "dave"), chromedp.Click(chromedp.CSS("#confirm-ok")))
	b.Wait(`document.getElementById('confirm-error').textContent === 'a reason is required'`, 10*time.Second)
	if p := f.recorded(); len(p) != 0 {
		t.Fatalf("sent without a reason: %v", p)
	}
	// The guard refuses: the dialog stays with the API's message.
	f.mu.Lock()
	f.answer = func(string) (int, string) {
		return 409, `{"error":"be_wcs would keep 0 ready servers","guard":"min_ready 1"}`
	}
	f.mu.Unlock()
	b.Do(chromedp.SendKeys(chromedp.CSS("#f-reason"), "kernel update"), chromedp.SetValue(chromedp.CSS("#f-expires"), "30m"), chromedp.Click(chromedp.CSS("#confirm-ok")))
	b.Wait(`document.getElementById('confirm-error').textContent.indexOf('409') === 0`, 10*time.Second)
	if got := b.Text("#confirm-error"); got != "409: be_wcs would keep 0 ready servers (guard: min_ready 1)" {
		t.Errorf("error shown %q", got)
	}
	// Forced, accepted.
	f.mu.Lock()
	f.answer = func(string) (int, string) { return 200, `{"result":"applied","server":{}}` }
	f.mu.Unlock()
	b.Do(chromedp.Click(chromedp.CSS("#f-force")), chromedp.Click(chromedp.CSS("#confirm-ok")))
	b.Wait(`!document.getElementById('confirm').open`, 10*time.Second)
	if got := b.Text("#flash"); got != "drain be_wcs/wcs1: applied" {
		t.Errorf("flash %q", got)
	}
	posts := f.recorded()
	if len(posts) != 2 {
		t.Fatalf("posts %v", posts)
	}
	last := posts[1]
	want := map[string]any{"author": "dave", "reason": "kernel update", "expires_in": "30m", "force": true}
	if last.Path != "/api/v1/servers/be_wcs/wcs1/drain" || last.CSRF != "tok-123" || fmt.Sprint(last.Body) != fmt.Sprint(want) {
		t.Errorf("sent %+v, want path /api/v1/servers/be_wcs/wcs1/drain, token tok-123, body %v", last, want)
	}

	// The other buttons, each with its own path and body.
	for _, tc := range []struct {
		button, path string
		fill         map[string]string
		want         map[string]any
	}{
		{`button[data-act="approve"][data-id="p-1"]`, "/api/v1/proposals/p-1/approve", nil, map[string]any{"author": "dave"}},
		{`button[data-act="reject"][data-id="p-1"]`, "/api/v1/proposals/p-1/reject", map[string]string{"#f-reason": "not now"}, map[string]any{"author": "dave", "reason": "not now"}},
		{`#pause-global button[data-act="pause"]`, "/api/v1/pause", map[string]string{"#f-reason": "incident 42", "#f-expires": "1h"},
			map[string]any{"author": "dave", "backend": "", "reason": "incident 42", "expires_in": "1h", "restores": false}},
		{`button[data-act="resume"][data-backend="be_srs"]`, "/api/v1/resume", nil, map[string]any{"author": "dave", "backend": "be_srs"}},
		{`tr[data-server="emqx1"] button[data-act="release"]`, "/api/v1/servers/be_emqx/emqx1/release", nil, map[string]any{"author": "dave"}},
		{`tr[data-server="q1"] button[data-act="weight"]`, "/api/v1/servers/be_quiet/q1/weight", map[string]string{"#f-reason": "canary", "#f-weight": "10"},
			map[string]any{"author": "dave", "reason": "canary", "weight": 10, "force": false}},
		{`tr[data-server="q2"] button[data-act="weight"]`, "/api/v1/servers/be_quiet/q2/weight", map[string]string{"#f-reason": "drained", "#f-weight": "0"},
			map[string]any{"author": "dave", "reason": "drained", "weight": 0, "force": false}},
		{`tr[data-server="emqx2"] button[data-act="ready"]`, "/api/v1/servers/be_emqx/emqx2/ready", map[string]string{"#f-reason": "back"}, map[string]any{"author": "dave", "reason": "back", "force": false}},
	} {
		n := len(f.recorded())
		b.Do(chromedp.Click(chromedp.CSS(tc.button)))
		b.Wait(`document.getElementById('confirm').open`, 10*time.Second)
		for sel, v := range tc.fill {
			b.SetValue(sel, v)
		}
		b.Do(chromedp.Click(chromedp.CSS("#confirm-ok")))
		b.Wait(`!document.getElementById('confirm').open`, 10*time.Second)
		posts := f.recorded()
		if len(posts) != n+1 {
			t.Errorf("%s: %d posts", tc.button, len(posts)-n)
			continue
		}
		if p := posts[n]; p.Path != tc.path || p.CSRF != "tok-123" || fmt.Sprint(p.Body) != fmt.Sprint(tc.want) {
			t.Errorf("%s: sent %+v, want %s %v", tc.button, p, tc.path, tc.want)
		}
	}
	// A weight out of range is refused in the page.
	n0 := len(f.recorded())
	b.Do(chromedp.Click(chromedp.CSS(`tr[data-server="q1"] button[data-act="weight"]`)))
	b.Wait(`document.getElementById('confirm').open`, 10*time.Second)
	b.SetValue("#f-reason", "too much")
	b.SetValue("#f-weight", "300")
	b.Do(chromedp.Click(chromedp.CSS("#confirm-ok")))
	b.Wait(`document.getElementById('confirm-error').textContent.indexOf('the weight must be') === 0`, 10*time.Second)
	b.Do(chromedp.Click(chromedp.CSS("#confirm-cancel")))
	if len(f.recorded()) != n0 {
		t.Error("a weight of 300 was sent")
	}
	// Cancel sends nothing.
	n := len(f.recorded())
	b.Do(chromedp.Click(chromedp.CSS(`tr[data-server="wcs2"] button[data-act="maint"]`)))
	b.Wait(`document.getElementById('confirm').open`, 10*time.Second)
	b.Do(chromedp.Click(chromedp.CSS("#confirm-cancel")))
	b.Wait(`!document.getElementById('confirm').open`, 10*time.Second)
	if len(f.recorded()) != n {
		t.Error("cancel sent a request")
	}
}

func TestBrowserShowsAPIFailures(t *testing.T) {
	f := newFakeRebalancer(t, "testdata/state.json", Options{Refresh: 100 * time.Millisecond})
	b := newTab(t)
	openPage(b, f.srv.URL)
	set := func(fn func()) { f.mu.Lock(); fn(); f.mu.Unlock() }
	set(func() { f.failState = "state file unreadable" })
	b.Wait(`window.lbpilot.stats.errors > 0`, 10*time.Second)
	if got := b.Text("#refreshed"); got != "failed: /api/v1/state: 503 state file unreadable" {
		t.Errorf("refresh failure shown as %q", got)
	}
	// The last good state stays on the page, and it recovers by itself.
	if got := b.Text(`tr[data-server="wcs1"] .state`); got != "DRAIN" {
		t.Errorf("wcs1 %q", got)
	}
	set(func() { f.failState, f.failHistory = "", "history file unreadable" })
	f.edit(func(st map[string]any) { st["last_reconcile"] = "2026-12-02T12:30:00Z" }) // a change: the history is read again
	b.Wait(`document.getElementById('refreshed').textContent.indexOf('failed') < 0`, 10*time.Second)
	b.Wait(`document.getElementById('history-error').textContent !== ''`, 10*time.Second)
	if got := b.Text("#history-error"); got != "history unavailable: /api/v1/history?limit=50: 503 history file unreadable" {
		t.Errorf("history failure shown as %q", got)
	}
	set(func() { f.failHistory = "" })
	b.Wait(`document.getElementById('history-error').textContent === ''`, 10*time.Second)
}

// The history (a file the rebalancer reads) is fetched when the state
// changed, not on every poll.
func TestBrowserReadsHistoryOnChange(t *testing.T) {
	f := newFakeRebalancer(t, "testdata/state.json", Options{Refresh: 50 * time.Millisecond})
	b := newTab(t)
	openPage(b, f.srv.URL)
	reads := func() int { f.mu.Lock(); defer f.mu.Unlock(); return f.historyReads }
	polls := eval[int](b, "window.lbpilot.stats.polls")
	n := reads()
	b.Wait(fmt.Sprintf("window.lbpilot.stats.polls >= %d", polls+10), 10*time.Second)
	if got := reads(); got != n {
		t.Errorf("%d history reads in 10 polls of an unchanged state", got-n)
	}
	f.edit(func(st map[string]any) { st["last_reconcile"] = "2026-12-02T12:31:00Z" })
	b.Wait(`document.getElementById('status').textContent.indexOf('12:31:00Z') >= 0`, 10*time.Second)
	deadline := time.Now().Add(10 * time.Second)
	for reads() == n && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if got := reads(); got != n+1 {
		t.Errorf("%d history reads after one change, want 1", got-n)
	}
}

// A state that changed between the page and its first poll is not taken
// as rendered: the page is brought in line at once.
func TestBrowserFirstPollAfterAChange(t *testing.T) {
	f := newFakeRebalancer(t, "testdata/state.json", Options{Refresh: time.Hour})
	f.mu.Lock()
	f.servedToPage = func(st []byte) []byte { return []byte(strings.Replace(string(st), `"DRAIN"`, `"MAINT"`, 1)) }
	f.mu.Unlock()
	b := newTab(t)
	openPage(b, f.srv.URL)
	if eval[bool](b, "window.lbpilot.stats.adopted") {
		t.Fatal("a different state was adopted")
	}
	if got := b.Text(`tr[data-server="wcs1"] .state`); got != "DRAIN" {
		t.Errorf("wcs1 shows %q after the first poll", got)
	}
}

func TestBrowserFilter(t *testing.T) {
	f := newFakeRebalancer(t, "testdata/state.json", Options{ExpandAll: 3, Refresh: time.Hour})
	b := newTab(t)
	openPage(b, f.srv.URL)
	shown := func() string {
		return eval[string](b, `Array.prototype.filter.call(document.querySelectorAll('#backends > details'), function(d){return !d.hidden}).map(function(d){
			var rows = Array.prototype.filter.call(d.querySelectorAll('tbody tr'), function(r){return !r.hidden}).map(function(r){return r.getAttribute('data-server')});
			return d.getAttribute('data-backend') + (d.open ? '(' + rows.join(',') + ')' : '');
		}).join(' ')`)
	}
	if got := shown(); got != "be_emqx(emqx1,emqx2) be_quiet be_srs(srs1) be_wcs(wcs1,wcs2)" {
		t.Fatalf("before filtering: %s", got)
	}
	for _, tc := range []struct{ text, want string }{
		{"Q2", "be_quiet(q2)"},          // a server's name: its backend opens, with that server only
		{"be_wcs", "be_wcs(wcs1,wcs2)"}, // a backend's name: all of it
		{"1", "be_emqx(emqx1) be_quiet(q1) be_srs(srs1) be_wcs(wcs1)"},
		{"nothing-like-it", ""},
		{"", "be_emqx(emqx1,emqx2) be_quiet be_srs(srs1) be_wcs(wcs1,wcs2)"}, // cleared: as before
	} {
		b.SetValue("#filter", tc.text)
		eval[bool](b, `document.getElementById('filter').dispatchEvent(new Event('input')), true`)
		deadline := time.Now().Add(10 * time.Second)
		got := shown()
		for got != tc.want && time.Now().Before(deadline) {
			time.Sleep(25 * time.Millisecond)
			got = shown()
		}
		if got != tc.want {
			t.Errorf("filter %q shows %s, want %s", tc.text, got, tc.want)
		}
	}
}
