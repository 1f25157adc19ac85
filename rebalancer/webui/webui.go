// Package webui serves the rebalancer's operator page at "/": per backend,
// every server's HAProxy state, weight, owner, alerts, operator holds,
// deferred actions and graceful-maintenance progress; the pending proposals;
// the pause switches; buttons for drain, ready, maint, release, approve and
// reject; and the recent history.
//
// The page is rendered on the server with html/template (so every label,
// name and reason is escaped) and kept current by a little vanilla
// JavaScript that polls GET /api/v1/state and re-renders only what changed,
// building DOM nodes with textContent (never innerHTML). There is no build
// step: the template, script and style sheet are embedded in the binary.
//
// The page reads and writes the rebalancer only through its HTTP API, by
// passing its own requests (with their credentials) to the API handler: it
// sees what an API client sees, needs no access to the rebalancer's
// internals, and is refused exactly when the API would refuse the caller.
// State-changing requests are POSTs from the script carrying the API's CSRF
// token, which the page embeds in <meta name="csrf-token">.
package webui

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"html/template"
	"io/fs"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"
)

//go:embed assets
var assets embed.FS

// Link is one entry of the page's header (metrics, raw state, health …).
type Link struct {
	Address string
	Text    string
}

// Options configure the page.
type Options struct {
	// API serves the rebalancer's HTTP API (GET /api/v1/state,
	// /api/v1/history, /api/v1/csrf); the page sends its reads there.
	API http.Handler
	// Title is the page's heading; empty is "lbpilot rebalancer".
	Title string
	// Version is shown in the footer.
	Version string
	// Links go into the header.
	Links []Link
	// Refresh is how often the script polls the state; 0 is 2s.
	Refresh time.Duration
	// HistoryLimit is how many history entries are shown; 0 is 50.
	HistoryLimit int
	// ExpandAll is the number of servers up to which every backend is shown
	// open; above it only backends that need attention are (0 is 200).
	ExpandAll int
}

// Handler serves the page at "/" and its assets under "/ui/".
type Handler struct {
	o        Options
	page     *template.Template
	files    map[string]asset
	assetVer string
}

type asset struct {
	body        []byte
	contentType string
}

// New builds the page handler; templates are parsed once, here.
func New(o Options) (*Handler, error) { return newHandler(o, assets) }

// newHandler builds the handler from the files under assets/ of files.
func newHandler(o Options, files fs.FS) (*Handler, error) {
	if o.API == nil {
		return nil, fmt.Errorf("webui: no API handler")
	}
	if o.Title == "" {
		o.Title = "lbpilot rebalancer"
	}
	if o.Refresh <= 0 {
		o.Refresh = 2 * time.Second
	}
	if o.HistoryLimit <= 0 {
		o.HistoryLimit = 50
	}
	if o.ExpandAll <= 0 {
		o.ExpandAll = 200
	}
	h := &Handler{o: o, files: map[string]asset{}}
	sum := sha256.New()
	for name, ct := range map[string]string{"app.js": "text/javascript; charset=utf-8", "style.css": "text/css; charset=utf-8"} {
		b, err := fs.ReadFile(files, "assets/"+name)
		if err != nil {
			return nil, fmt.Errorf("webui: asset %s: %w", name, err)
		}
		h.files["/ui/"+name] = asset{body: b, contentType: ct}
		sum.Write(b)
	}
	h.assetVer = hex.EncodeToString(sum.Sum(nil))[:12]
	tmpl, err := template.New("page.html").Funcs(template.FuncMap{
		"ts":        formatTime,
		"owner":     ownerText,
		"pause":     pauseText,
		"actor":     actorText,
		"weight":    weightText,
		"labels":    labelsText,
		"alertName": alertName,
	}).ParseFS(files, "assets/page.html")
	if err != nil {
		return nil, fmt.Errorf("webui: template: %w", err)
	}
	h.page = tmpl
	return h, nil
}

// ServeHTTP serves "/" and "/ui/*"; any other path is 404.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if a, ok := h.files[r.URL.Path]; ok {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			methodNotAllowed(w)
			return
		}
		w.Header().Set("Content-Type", a.contentType)
		w.Header().Set("X-Content-Type-Options", "nosniff")
		w.Header().Set("Cache-Control", "public, max-age=86400")
		_, _ = w.Write(a.body)
		return
	}
	if r.URL.Path != "/" {
		http.NotFound(w, r)
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		methodNotAllowed(w)
		return
	}
	h.servePage(w, r)
}

func methodNotAllowed(w http.ResponseWriter) {
	w.Header().Set("Allow", "GET, HEAD")
	http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
}

// pageData is what the template renders.
type pageData struct {
	Title, Version, CSRF, Operator, AssetVersion string
	StateHash                                    string // of the state rendered (app.js's fnv1a)
	RefreshMS, ExpandAll, HistoryLimit           int
	Links                                        []Link
	State                                        *State
	Alerts                                       map[string]Alert
	Backends                                     []backendView
	Proposals                                    []Proposal
	History                                      []HistoryEntry
	HistoryError                                 string
	Rendered                                     time.Time
}

type backendView struct {
	Name    string
	Open    bool
	Count   int
	Summary []string
	Pause   *Pause
	Servers []serverView // only for an open backend: a closed one is filled in by the script when opened
}

type serverView struct {
	Server
	AlertRefs []alertRef
	Notes     []string
}

type alertRef struct{ Fingerprint, Name string }

// alertName is an alert's alertname label, or its fingerprint when the
// state does not list it (any more); app.js's alertName() does the same.
func alertName(alerts map[string]Alert, fp string) string {
	if a, ok := alerts[fp]; ok && a.Labels["alertname"] != "" {
		return a.Labels["alertname"]
	}
	return fp
}

func (h *Handler) servePage(w http.ResponseWriter, r *http.Request) {
	var st State
	var stateHash string
	if code, hdr, body := h.get(r, "/api/v1/state", nil); code != http.StatusOK {
		// The API refused (auth) or failed: answer as it did.
		if v := hdr.Get("WWW-Authenticate"); v != "" {
			w.Header().Set("WWW-Authenticate", v)
		}
		http.Error(w, "state: "+apiError(code, body), code)
		return
	} else if err := json.Unmarshal(body, &st); err != nil {
		http.Error(w, "state: undecodable answer of /api/v1/state: "+err.Error(), http.StatusBadGateway)
		return
	} else {
		fh := fnv.New32a()
		fh.Write(body)
		stateHash = fmt.Sprintf("%08x", fh.Sum32())
	}
	d := pageData{
		Title: h.o.Title, Version: h.o.Version, AssetVersion: h.assetVer, Links: h.o.Links, StateHash: stateHash,
		RefreshMS: int(h.o.Refresh / time.Millisecond), ExpandAll: h.o.ExpandAll, HistoryLimit: h.o.HistoryLimit,
		State: &st, Alerts: map[string]Alert{}, Proposals: st.Proposals, Rendered: time.Now().UTC(),
	}
	if user, _, ok := r.BasicAuth(); ok {
		d.Operator = user
	}
	if code, _, body := h.get(r, "/api/v1/csrf", nil); code == http.StatusOK {
		var tok struct {
			Token string `json:"token"`
		}
		if json.Unmarshal(body, &tok) == nil {
			d.CSRF = tok.Token
		}
	}
	if code, _, body := h.get(r, "/api/v1/history", url.Values{"limit": {strconv.Itoa(h.o.HistoryLimit)}}); code == http.StatusOK {
		var hist History
		if err := json.Unmarshal(body, &hist); err != nil {
			d.HistoryError = "undecodable history: " + err.Error()
		} else {
			d.History = hist.Entries
		}
	} else {
		d.HistoryError = "history unavailable: " + apiError(code, body)
	}
	for _, a := range st.Alerts {
		d.Alerts[a.Fingerprint] = a
	}
	d.Backends = groupBackends(&st, d.Alerts, h.o.ExpandAll)
	var buf bytes.Buffer
	if err := h.page.Execute(&buf, d); err != nil {
		http.Error(w, "rendering the page: "+err.Error(), http.StatusInternalServerError)
		return
	}
	hdr := w.Header()
	hdr.Set("Content-Type", "text/html; charset=utf-8")
	hdr.Set("Cache-Control", "no-store")
	hdr.Set("X-Content-Type-Options", "nosniff")
	hdr.Set("X-Frame-Options", "DENY")
	hdr.Set("Referrer-Policy", "no-referrer")
	// No inline script or style at all: even markup that slipped through
	// would not run.
	hdr.Set("Content-Security-Policy", "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
	_, _ = w.Write(buf.Bytes())
}

// get passes a GET with the caller's credentials to the API handler.
func (h *Handler) get(r *http.Request, path string, query url.Values) (int, http.Header, []byte) {
	u := &url.URL{Path: path, RawQuery: query.Encode()}
	req := r.Clone(r.Context())
	req.Method, req.URL, req.RequestURI, req.Body, req.ContentLength = http.MethodGet, u, u.RequestURI(), http.NoBody, 0
	// The page decodes the answer itself: it must come uncompressed.
	req.Header.Del("Accept-Encoding")
	rec := &recorder{header: http.Header{}, code: http.StatusOK}
	h.o.API.ServeHTTP(rec, req)
	return rec.code, rec.header, rec.body.Bytes()
}

// recorder is the minimal ResponseWriter the page's own API calls need.
type recorder struct {
	header http.Header
	code   int
	wrote  bool
	body   bytes.Buffer
}

func (c *recorder) Header() http.Header { return c.header }
func (c *recorder) WriteHeader(code int) {
	if !c.wrote {
		c.code, c.wrote = code, true
	}
}
func (c *recorder) Write(b []byte) (int, error) {
	c.wrote = true
	return c.body.Write(b)
}

// apiError is the message of an API error answer.
func apiError(code int, body []byte) string {
	var e struct {
		Error string `json:"error"`
	}
	if json.Unmarshal(body, &e) == nil && e.Error != "" {
		return e.Error
	}
	msg := strings.TrimSpace(string(body))
	if len(msg) > 200 {
		msg = msg[:200]
	}
	if msg == "" {
		msg = http.StatusText(code)
	}
	return fmt.Sprintf("%d %s", code, msg)
}

// groupBackends sorts the servers by backend, server and socket, and opens
// the backends that need attention (or all of them when there are few).
func groupBackends(st *State, alerts map[string]Alert, expandAll int) []backendView {
	sort.SliceStable(st.Servers, func(i, j int) bool {
		a, b := st.Servers[i], st.Servers[j]
		if a.Backend != b.Backend {
			return a.Backend < b.Backend
		}
		if a.Server != b.Server {
			return a.Server < b.Server
		}
		return a.Socket < b.Socket
	})
	proposed := map[string]int{}
	for _, p := range st.Proposals {
		proposed[p.Backend]++
	}
	var out []backendView
	for i := 0; i < len(st.Servers); {
		j := i
		for j < len(st.Servers) && st.Servers[j].Backend == st.Servers[i].Backend {
			j++
		}
		name := st.Servers[i].Backend
		srv := st.Servers[i:j]
		bv := backendView{Name: name, Count: len(srv)}
		if p, ok := st.Paused.Backends[name]; ok {
			bv.Pause = &p
		}
		bv.Summary = backendSummary(srv, bv.Pause != nil, proposed[name])
		bv.Open = len(st.Servers) <= expandAll || bv.Pause != nil || proposed[name] > 0 || needsAttention(srv)
		if bv.Open {
			for _, s := range srv {
				sv := serverView{Server: s, Notes: serverNotes(s)}
				for _, fp := range s.Alerts {
					sv.AlertRefs = append(sv.AlertRefs, alertRef{Fingerprint: fp, Name: alertName(alerts, fp)})
				}
				bv.Servers = append(bv.Servers, sv)
			}
		}
		out = append(out, bv)
		i = j
	}
	return out
}

func needsAttention(srv []Server) bool {
	for _, s := range srv {
		if s.HAProxyState != "READY" || s.Owner != "" || len(s.Alerts) > 0 || s.Deferred != "" || s.Hold != nil || s.MaintProgress != nil {
			return true
		}
	}
	return false
}

// backendSummary is the one-line summary of a backend; app.js's summary()
// builds the same.
func backendSummary(srv []Server, paused bool, proposals int) []string {
	states := map[string]int{}
	owned, deferred := 0, 0
	for _, s := range srv {
		states[s.HAProxyState]++
		if s.Owner != "" {
			owned++
		}
		if s.Deferred != "" {
			deferred++
		}
	}
	names := make([]string, 0, len(states))
	for k := range states {
		names = append(names, k)
	}
	sort.Strings(names)
	out := []string{fmt.Sprintf("%d servers", len(srv))}
	for _, k := range names {
		out = append(out, fmt.Sprintf("%d %s", states[k], k))
	}
	if owned > 0 {
		out = append(out, fmt.Sprintf("%d owned", owned))
	}
	if deferred > 0 {
		out = append(out, fmt.Sprintf("%d deferred", deferred))
	}
	if proposals > 0 {
		out = append(out, fmt.Sprintf("%d proposed", proposals))
	}
	if paused {
		out = append(out, "paused")
	}
	return out
}

// formatTime is UTC to the second; app.js's ts() writes the same.
func formatTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format("2006-01-02 15:04:05Z")
}

func ownerText(o string) string {
	if o == "" {
		return "nobody"
	}
	return o
}

func weightText(w *int) string {
	if w == nil {
		return ""
	}
	return strconv.Itoa(*w)
}

// serverNotes are the hold, deferral and maintenance progress of a server;
// app.js's notes() builds the same.
func serverNotes(s Server) []string {
	var out []string
	if h := s.Hold; h != nil {
		n := "hold " + h.Action
		if h.Weight != nil {
			n += " " + strconv.Itoa(*h.Weight)
		}
		n += " by " + h.Author
		if h.Reason != "" {
			n += ": " + h.Reason
		}
		if !h.Expires.IsZero() {
			n += " (until " + formatTime(h.Expires) + ")"
		}
		if h.Forced {
			n += " [forced]"
		}
		out = append(out, n)
	}
	if s.Deferred != "" {
		out = append(out, "deferred: "+s.Deferred)
	}
	if p := s.MaintProgress; p != nil {
		n := fmt.Sprintf("draining for maint: %d sessions", p.Sessions)
		if !p.Deadline.IsZero() {
			n += ", maint at " + formatTime(p.Deadline) + " at the latest"
		}
		out = append(out, n)
	}
	return out
}

// pauseText describes a pause; app.js's pauseText() builds the same.
func pauseText(p *Pause) string {
	if p == nil {
		return ""
	}
	n := "paused by " + p.Author + " since " + formatTime(p.Since)
	if !p.Expires.IsZero() {
		n += " until " + formatTime(p.Expires)
	}
	if p.Reason != "" {
		n += ": " + p.Reason
	}
	if p.Restores {
		n += " (restores continue)"
	}
	return n
}

func actorText(a Actor) string {
	n := a.Type
	if a.Name != "" {
		n += " " + a.Name
	}
	if a.Rule != "" {
		n += " rule " + a.Rule
	}
	return n
}

// labelsText writes an alert's labels as name="value", sorted.
func labelsText(l map[string]string) string {
	keys := make([]string, 0, len(l))
	for k := range l {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = k + "=" + jsonQuote(l[k])
	}
	return strings.Join(parts, " ")
}

// jsonQuote quotes like JavaScript's JSON.stringify, which app.js uses.
func jsonQuote(s string) string {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(s)
	return strings.TrimSuffix(b.String(), "\n")
}
