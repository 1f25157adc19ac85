package webui

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sort"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/lbpilot/lbpilot/internal/browser"
)

// bigState is a state of backends × servers in which one backend in a
// hundred has a server drained for an alert (the rest need no attention),
// plus a proposal. flip changes one server of an open backend.
func bigState(backends, servers int, flip bool) []byte {
	st := State{LastReconcile: time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC), LastReconcileOK: true,
		Sockets: map[string]Socket{"unix:/run/haproxy/admin.sock": {Up: true}}, Paused: Paused{Backends: map[string]Pause{}}}
	for b := 0; b < backends; b++ {
		be := fmt.Sprintf("be_%04d", b)
		for s := 0; s < servers; s++ {
			sv := Server{Backend: be, Server: fmt.Sprintf("srv%02d", s), Socket: "unix:/run/haproxy/admin.sock", HAProxyState: "READY", Weight: 100, Alerts: []string{}}
			if b%100 == 0 && s == 0 {
				fp := fmt.Sprintf("%016x", b)
				sv.HAProxyState, sv.Owner, sv.Alerts = "DRAIN", "alert", []string{fp}
				st.Alerts = append(st.Alerts, Alert{Fingerprint: fp, Status: "firing", Rule: "default", InForce: true,
					Labels: map[string]string{"alertname": "WCSOverloaded", "haproxy_backend": be, "haproxy_server": sv.Server}})
			}
			if flip && b == 0 && s == 1 {
				sv.HAProxyState = "MAINT"
			}
			st.Servers = append(st.Servers, sv)
		}
	}
	st.Proposals = []Proposal{{ID: "p1", Backend: "be_0100", Server: "srv01", Action: "drain", Rule: "gated", Alerts: []string{}, Guard: "ok",
		Created: st.LastReconcile, Expires: st.LastReconcile.Add(time.Hour)}}
	b, err := json.Marshal(st)
	if err != nil {
		panic(err)
	}
	return b
}

// pageTimes is one load and a few refreshes of the page, in milliseconds,
// measured by the browser.
type pageTimes struct {
	Server    float64 `json:"server"`    // request sent → first byte of the page (the server's rendering)
	FCP       float64 `json:"fcp"`       // navigation start → first contentful paint
	Loaded    float64 `json:"loaded"`    // navigation start → load event end
	Live      float64 `json:"live"`      // navigation start → first poll rendered
	RawJSON   float64 `json:"raw"`       // fetch + JSON.parse of /api/v1/state alone (median of 3)
	Refresh   float64 `json:"refresh"`   // a poll that finds nothing changed (fetch, parse, diff, layout)
	Changed   float64 `json:"changed"`   // a poll with one server changed
	Rerender  float64 `json:"rerender"`  // rebuilding every open row and summary from the last state, with layout
	HTMLBytes float64 `json:"htmlBytes"` // the page as served
}

const measureJS = `(async function(){
  var nav = performance.getEntriesByType('navigation')[0];
  var fcp = (performance.getEntriesByName('first-contentful-paint')[0] || {startTime: 0}).startTime;
  var raws = [];
  for (var i = 0; i < 3; i++) {
    var t = performance.now();
    var r = await fetch('/api/v1/state', {cache: 'no-store'});
    JSON.parse(await r.text());
    raws.push(performance.now() - t);
  }
  var raw = raws.sort(function(a, b){ return a - b; })[1];
  var t0 = performance.now(); await window.lbpilot.refresh(); document.body.offsetHeight;
  var refresh = performance.now() - t0;
  await fetch('/bench/flip');
  t0 = performance.now(); await window.lbpilot.refresh(); document.body.offsetHeight;
  var changed = performance.now() - t0;
  t0 = performance.now(); window.lbpilot.rerender(); document.body.offsetHeight;
  var rerender = performance.now() - t0;
  return {server: nav.responseStart - nav.requestStart, fcp: fcp, loaded: nav.loadEventEnd, live: window.lbpilot.stats.liveMS, raw: raw, refresh: refresh, changed: changed, rerender: rerender, htmlBytes: nav.transferSize || nav.encodedBodySize};
})()`

// BenchmarkPageInBrowser loads the page with 1,000 backends × 10 servers in
// headless Chromium, as served (quiet backends collapsed) and with every
// backend open, alternating, and reports medians of what the browser
// measured, next to a plain fetch + JSON.parse of the same state.
func BenchmarkPageInBrowser(b *testing.B) {
	states := [2][]byte{bigState(1000, 10, false), bigState(1000, 10, true)}
	var flipped atomic.Bool
	newSite := func(expandAll int) *httptest.Server {
		mux := http.NewServeMux()
		mux.HandleFunc("GET /api/v1/state", func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			i := 0
			if flipped.Load() {
				i = 1
			}
			_, _ = w.Write(states[i])
		})
		mux.HandleFunc("GET /api/v1/history", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte(`{"entries":[]}`)) })
		mux.HandleFunc("GET /api/v1/csrf", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte(`{"token":"t"}`)) })
		mux.HandleFunc("GET /bench/flip", func(w http.ResponseWriter, _ *http.Request) { flipped.Store(!flipped.Load()) })
		page, err := New(Options{API: mux, Refresh: time.Hour, ExpandAll: expandAll})
		if err != nil {
			b.Fatal(err)
		}
		mux.Handle("/", page)
		srv := httptest.NewServer(mux)
		b.Cleanup(srv.Close)
		return srv
	}
	sites := map[string]*httptest.Server{"collapsed": newSite(0), "expanded": newSite(1 << 30)}
	tab := browser.NewTab(b)
	runs := map[string][]pageTimes{}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		for _, mode := range []string{"collapsed", "expanded"} {
			flipped.Store(false)
			tab.Do(chromedp.Navigate(sites[mode].URL + "/"))
			tab.Wait("window.lbpilot && window.lbpilot.stats.polls >= 1", time.Minute)
			runs[mode] = append(runs[mode], browser.Eval[pageTimes](tab, measureJS))
		}
	}
	b.StopTimer()
	med := func(mode string, f func(pageTimes) float64) float64 {
		var v []float64
		for _, r := range runs[mode] {
			v = append(v, f(r))
		}
		sort.Float64s(v)
		return v[len(v)/2]
	}
	for _, mode := range []string{"collapsed", "expanded"} {
		// Each load's times over its own raw fetch: the ratios of one load
		// share its moment's machine load.
		b.ReportMetric(med(mode, func(p pageTimes) float64 { return p.FCP / p.RawJSON }), mode+"-fcp-x")
		b.ReportMetric(med(mode, func(p pageTimes) float64 { return p.Loaded / p.RawJSON }), mode+"-loaded-x")
		b.ReportMetric(med(mode, func(p pageTimes) float64 { return p.Live / p.RawJSON }), mode+"-live-x")
		b.ReportMetric(med(mode, func(p pageTimes) float64 { return p.Refresh / p.RawJSON }), mode+"-refresh-x")
		b.ReportMetric(med(mode, func(p pageTimes) float64 { return p.Changed / p.RawJSON }), mode+"-changed-x")
		b.ReportMetric(med(mode, func(p pageTimes) float64 { return p.Rerender / p.RawJSON }), mode+"-rerender-x")
		b.ReportMetric(med(mode, func(p pageTimes) float64 { return p.Server }), mode+"-server-ms")
		b.ReportMetric(med(mode, func(p pageTimes) float64 { return p.FCP }), mode+"-fcp-ms")
		b.ReportMetric(med(mode, func(p pageTimes) float64 { return p.Loaded }), mode+"-loaded-ms")
		b.ReportMetric(med(mode, func(p pageTimes) float64 { return p.Live }), mode+"-live-ms")
		b.ReportMetric(med(mode, func(p pageTimes) float64 { return p.RawJSON }), mode+"-rawjson-ms")
		b.ReportMetric(med(mode, func(p pageTimes) float64 { return p.Refresh }), mode+"-refresh-ms")
		b.ReportMetric(med(mode, func(p pageTimes) float64 { return p.Changed }), mode+"-changed-ms")
		b.ReportMetric(med(mode, func(p pageTimes) float64 { return p.Rerender }), mode+"-rerender-ms")
		b.ReportMetric(med(mode, func(p pageTimes) float64 { return p.HTMLBytes / 1024 }), mode+"-html-KiB")
	}
	b.ReportMetric(float64(len(states[0]))/1024, "state-json-KiB")
}

// BenchmarkPageRender is the server's side of a page load at 1,000
// backends × 10 servers: the state read through the API handler, decoded,
// grouped and rendered.
func BenchmarkPageRender(b *testing.B) {
	state := bigState(1000, 10, false)
	mux := http.NewServeMux()
	mux.HandleFunc("GET /api/v1/state", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write(state) })
	page, err := New(Options{API: mux})
	if err != nil {
		b.Fatal(err)
	}
	req := httptest.NewRequest(http.MethodGet, "/", nil)
	b.ReportAllocs()
	for b.Loop() {
		rec := httptest.NewRecorder()
		page.ServeHTTP(rec, req)
		if rec.Code != 200 {
			b.Fatalf("status %d", rec.Code)
		}
	}
}
