// Package srstest serves captured SRS http_api answers the way SRS
// serves them (paging, redirects, the Server header), for tests of
// internal/srsapi and collectors/srs.
package srstest

import (
	"bufio"
	"bytes"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
)

// Replay serves one captured node directory the way SRS serves its
// http_api, so the collector runs against real SRS bodies:
//   - system endpoints answer their captured file;
//   - list endpoints answer the exact captured page when the request's
//     start/count matches one (streams_start10_count10.json, ...), else
//     page the most complete Capture (*_count100.json) with SRS's rules:
//     count is at least 10, default 10, no total; SRS 3 does not page
//     streams;
//   - the list paths without their trailing slash answer 302, as SRS does;
//   - the Server header carries SRS's version and release code name.
type Replay struct {
	Dir      string
	Fallback string // where files missing in dir are taken from
	mu       sync.Mutex
	requests []string
	Override map[string]Capture // path → canned answer (error captures)
	// open counts the server's open connections (NewConnCountingReplay).
	open *atomic.Int64
}

// Capture is one recorded HTTP answer.
type Capture struct {
	Status int
	Header http.Header
	Body   []byte
}

// NewReplay serves dir (files it lacks from fallback, for the system
// endpoints) until the test ends.
func NewReplay(t *testing.T, dir, fallback string) (*Replay, *httptest.Server) {
	t.Helper()
	r := &Replay{Dir: dir, Fallback: fallback, Override: map[string]Capture{}}
	srv := httptest.NewServer(r)
	t.Cleanup(srv.Close)
	return r, srv
}

// NewConnCountingReplay is NewReplay with summaries' conn_srs as SRS 3
// and 4 compute it: not the clients (the capture's client list), but
// every connection SRS holds when it answers, the API requests in flight
// included (the one asking for the summaries, at least). An idle SRS 4
// scraped by an exporter so reads 1 to 6.
func NewConnCountingReplay(t *testing.T, dir, fallback string) (*Replay, *httptest.Server) {
	t.Helper()
	r := &Replay{Dir: dir, Fallback: fallback, Override: map[string]Capture{}, open: &atomic.Int64{}}
	srv := httptest.NewUnstartedServer(r)
	srv.Config.ConnState = func(_ net.Conn, st http.ConnState) {
		switch st {
		case http.StateNew:
			r.open.Add(1)
		case http.StateClosed, http.StateHijacked:
			r.open.Add(-1)
		}
	}
	srv.Start()
	t.Cleanup(srv.Close)
	return r, srv
}

// ListLen is the number of items in the capture's full list (clients,
// streams or vhosts).
func (r *Replay) ListLen(list string) int {
	b, ok := r.file(list + "_count100.json")
	if !ok {
		if b, ok = r.file(list + ".json"); !ok {
			return 0
		}
	}
	var doc map[string]json.RawMessage
	var items []json.RawMessage
	if json.Unmarshal(b, &doc) != nil || json.Unmarshal(doc[list], &items) != nil {
		return 0
	}
	return len(items)
}

var connSRS = regexp.MustCompile(`"conn_srs":[0-9]+`)

// Seen returns the request URIs served so far.
func (r *Replay) Seen() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.requests...)
}

func (r *Replay) file(name string) ([]byte, bool) {
	dirs := []string{r.Dir}
	if !strings.HasPrefix(name, "vhosts") && !strings.HasPrefix(name, "streams") && !strings.HasPrefix(name, "clients") {
		dirs = append(dirs, r.Fallback) // lists only ever come from the scenario itself
	}
	for _, d := range dirs {
		if d == "" {
			continue
		}
		if b, err := os.ReadFile(filepath.Join(d, name)); err == nil {
			return b, true
		}
	}
	return nil, false
}

var codeNames = map[string]string{"3": "OuXuli", "4": "Leo", "5": "Bee", "6": "Hang"}

func (r *Replay) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	r.mu.Lock()
	r.requests = append(r.requests, req.URL.RequestURI())
	r.mu.Unlock()
	if c, ok := r.Override[req.URL.Path]; ok {
		for k, v := range c.Header {
			w.Header()[k] = v
		}
		w.WriteHeader(c.Status)
		_, _ = w.Write(c.Body)
		return
	}
	w.Header().Set("Connection", "Close")
	if b, ok := r.file("versions.json"); ok {
		var v struct {
			Data struct {
				Major   int    `json:"major"`
				Version string `json:"version"`
			} `json:"data"`
		}
		if json.Unmarshal(b, &v) == nil {
			w.Header().Set("Server", "SRS/"+v.Data.Version+"("+codeNames[strconv.Itoa(v.Data.Major)]+")")
		}
	}
	name := strings.TrimPrefix(req.URL.Path, "/api/v1/")
	switch name {
	case "summaries", "versions", "self_proc_stats", "features":
		b, ok := r.file(name + ".json")
		if !ok {
			http.NotFound(w, req)
			return
		}
		if name == "summaries" && r.open != nil {
			n := int64(r.ListLen("clients")) + r.open.Load()
			b = connSRS.ReplaceAll(b, []byte(`"conn_srs":`+strconv.FormatInt(n, 10)))
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(b)
	case "vhosts/", "streams/", "clients/":
		r.serveList(w, req, strings.TrimSuffix(name, "/"))
	case "vhosts", "streams", "clients":
		loc := req.URL.Path + "/"
		if req.URL.RawQuery != "" {
			loc += "?" + req.URL.RawQuery
		}
		w.Header().Set("Location", loc)
		w.WriteHeader(http.StatusFound)
		_, _ = io.WriteString(w, "Redirect to "+loc)
	default:
		http.NotFound(w, req)
	}
}

func (r *Replay) serveList(w http.ResponseWriter, req *http.Request, list string) {
	q := req.URL.Query()
	w.Header().Set("Content-Type", "application/json")
	// An exact captured page wins (count is raised to 10 as SRS does).
	start, _ := strconv.Atoi(q.Get("start"))
	count, _ := strconv.Atoi(q.Get("count"))
	start, count = max(start, 0), max(count, 10)
	var names []string
	if start == 0 && count == 10 {
		names = append(names, list+".json")
	}
	if start == 0 {
		names = append(names, list+"_count"+strconv.Itoa(count)+".json")
	}
	names = append(names, list+"_start"+strconv.Itoa(start)+"_count"+strconv.Itoa(count)+".json")
	if count == 10 {
		names = append(names, list+"_start"+strconv.Itoa(start)+".json")
	}
	for _, name := range names {
		if b, ok := r.file(name); ok {
			_, _ = w.Write(b)
			return
		}
	}
	b, ok := r.file(list + "_count100.json")
	if !ok {
		if b, ok = r.file(list + ".json"); !ok {
			http.NotFound(w, req)
			return
		}
	}
	var doc map[string]json.RawMessage
	var items []json.RawMessage
	if err := json.Unmarshal(b, &doc); err != nil || json.Unmarshal(doc[list], &items) != nil {
		http.Error(w, "bad fixture", 500)
		return
	}
	major := 6
	if v, ok := r.file("versions.json"); ok {
		var vv struct {
			Data struct {
				Major   int    `json:"major"`
				Version string `json:"version"`
			} `json:"data"`
		}
		_ = json.Unmarshal(v, &vv)
		major = vv.Data.Major
	}
	if !(list == "streams" && major <= 3) {
		if start > len(items) {
			start = len(items)
		}
		items = items[start:min(start+count, len(items))]
	}
	page, _ := json.Marshal(items)
	doc[list] = page
	// Keep SRS's key order (code first); the collector does not care, but
	// the bodies stay recognisable.
	var out bytes.Buffer
	out.WriteString("{")
	for i, k := range []string{"code", "server", "service", "pid", list} {
		if v, ok := doc[k]; ok {
			if i > 0 && out.Len() > 1 {
				out.WriteString(",")
			}
			out.WriteString(strconv.Quote(k) + ":" + string(v))
		}
	}
	out.WriteString("}")
	_, _ = w.Write(out.Bytes())
}

// ReadCapture reads a `curl -i` capture: status line, headers, body.
func ReadCapture(t *testing.T, path string) Capture {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(bytes.NewReader(b))
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return Capture{Status: resp.StatusCode, Header: resp.Header, Body: body}
}
