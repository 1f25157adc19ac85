package srsapi

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/lbpilot/lbpilot/internal/srsapi/srstest"
)

// TestPagingCapturedPages drives the paging with the pages SRS really sent
// for 13 streams and 17 clients: count=10 gives 10 then 3 (and 10 then 7);
// the short page ends it.
const manyStreamsFallback = "testdata/v6.0.157/load/master"

func TestPagingCapturedPages(t *testing.T) {
	r, srv := srstest.NewReplay(t, "testdata/v6.0.157/many_streams/master", manyStreamsFallback)
	st, err := (&API{BaseURL: srv.URL, PageSize: 10, KeepClients: true}).Fetch(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	counted := 0
	for _, n := range st.ClientCounts {
		counted += n
	}
	if len(st.Streams) != 13 || len(st.Clients) != 17 || counted != 17 {
		t.Fatalf("got %d streams, %d clients (%d counted); want 13 and 17", len(st.Streams), len(st.Clients), counted)
	}
	var lists []string
	for _, req := range r.Seen() {
		if strings.Contains(req, "start=") {
			lists = append(lists, req)
		}
	}
	sort.Strings(lists)
	want := []string{
		"/api/v1/clients/?start=0&count=10", "/api/v1/clients/?start=10&count=10",
		"/api/v1/streams/?start=0&count=10", "/api/v1/streams/?start=10&count=10",
		"/api/v1/vhosts/?start=0&count=10",
	}
	if strings.Join(lists, " ") != strings.Join(want, " ") {
		t.Errorf("requests %v, want %v", lists, want)
	}
	seen := map[ID]bool{}
	for _, s := range st.Streams {
		if seen[s.ID] {
			t.Errorf("stream %s twice", s.ID)
		}
		seen[s.ID] = true
	}
}

// listServer answers a list endpoint from a function of (start, count).
func listServer(t *testing.T, list string, page func(start, count int) []string) (*httptest.Server, func() []string) {
	t.Helper()
	var (
		mu   sync.Mutex
		reqs []string
	)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/api/v1/"+list+"/" {
			http.NotFound(w, r)
			return
		}
		mu.Lock()
		reqs = append(reqs, r.URL.RawQuery)
		mu.Unlock()
		var start, count int
		fmt.Sscanf(r.URL.Query().Get("start"), "%d", &start)
		fmt.Sscanf(r.URL.Query().Get("count"), "%d", &count)
		ids := page(start, max(count, 10))
		items := make([]string, len(ids))
		for i, id := range ids {
			items[i] = fmt.Sprintf(`{"id":%q,"vhost":"v","type":"rtmp-play"}`, id)
		}
		fmt.Fprintf(w, `{"code":0,%q:[%s]}`, list, strings.Join(items, ","))
	}))
	t.Cleanup(srv.Close)
	return srv, func() []string {
		mu.Lock()
		defer mu.Unlock()
		return append([]string(nil), reqs...)
	}
}

func ids(prefix string, from, to int) []string {
	var out []string
	for i := from; i < to; i++ {
		out = append(out, fmt.Sprintf("%s%03d", prefix, i))
	}
	return out
}

func TestPagingEdgeCases(t *testing.T) {
	all25 := ids("c", 0, 25)
	cases := []struct {
		name  string
		page  func(start, count int) []string
		want  int
		calls int
	}{
		{"exact multiple of the page: one empty page ends it", func(s, c int) []string { return all25[min(s, 25):min(s+c, 25)][:0:0] }, 0, 1},
		{"three pages, the last short", func(s, c int) []string { return all25[min(s, 25):min(s+c, 25)] }, 25, 3},
		{"server ignores start and count (SRS 3 streams), 25 items", func(s, c int) []string { return all25 }, 25, 1},
		// The second page is full too, so the third is fetched ahead before
		// the repeat shows; that request may or may not arrive (-1 below).
		{"server ignores start, list exactly one page", func(s, c int) []string { return all25[:10] }, 10, -2},
		{"an object created between pages shifts one item back", func(s, c int) []string {
			shifted := append([]string{"b000"}, all25...) // b000 sorts first, arrives after page 1
			if s == 0 {
				return all25[:c]
			}
			return shifted[min(s, 26):min(s+c, 26)]
		}, 25, 3},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			srv, reqs := listServer(t, "clients", tc.page)
			api := &API{BaseURL: srv.URL, PageSize: 10}
			got, err := fetchAll(context.Background(), api, "/api/v1/clients/", decodeClients, func(c *Client) ID { return c.ID })
			if err != nil {
				t.Fatal(err)
			}
			calls := len(reqs())
			if tc.calls < 0 && (calls == -tc.calls || calls == -tc.calls+1) {
				calls = tc.calls // a fetched-ahead page that was not needed
			}
			if len(got) != tc.want || calls != tc.calls {
				t.Errorf("got %d items in %d requests (%v), want %d in %d", len(got), len(reqs()), reqs(), tc.want, tc.calls)
			}
			seen := map[ID]bool{}
			for _, c := range got {
				if seen[c.ID] {
					t.Errorf("duplicate %s", c.ID)
				}
				seen[c.ID] = true
			}
			// The counting path (what scrapes use) pages the same way.
			counts := map[ClientKey]int{}
			in := interner{}
			err = paginate(context.Background(), api, "/api/v1/clients/", func(_ string, body []byte, p *pageState) (int, error) {
				n, ok := countClientsFast(body, p, counts, nil, in)
				if !ok {
					t.Fatal("fast path refused a plain page")
				}
				return n, nil
			})
			if err != nil {
				t.Fatal(err)
			}
			if n := counts[ClientKey{Vhost: "v", Type: "rtmp-play"}]; n != tc.want {
				t.Errorf("counted %d, want %d", n, tc.want)
			}
		})
	}
}

func TestPagingGivesUp(t *testing.T) {
	n := 0
	srv, _ := listServer(t, "clients", func(s, c int) []string { n++; return ids(fmt.Sprintf("p%d-", n), 0, c) })
	_, err := fetchAll(context.Background(), &API{BaseURL: srv.URL, PageSize: 10}, "/api/v1/clients/", decodeClients, func(c *Client) ID { return c.ID })
	if err == nil || !strings.Contains(err.Error(), "still full pages after 1000 pages of 10") {
		t.Fatalf("got %v", err)
	}
}

func TestNodeHelpers(t *testing.T) {
	cases := []struct {
		dir                     string
		publishers, players     int
		active, clients, stream int
	}{
		{"testdata/v6.0.157/load/master", 1, 4, 1, 5, 1},
		{"testdata/v6.0.157/load/slave", 1, 0, 1, 1, 1}, // the master's forward
		{"testdata/v6.0.157/load/edge", 0, 2, 1, 2, 1},  // the ingest is no client on an edge
		{"testdata/v6.0.157/after_unpublish/master", 0, 1, 0, 1, 1},
		{"testdata/v3.0.170/load/master", 1, 3, 1, 4, 1},
	}
	for _, tc := range cases {
		t.Run(tc.dir, func(t *testing.T) {
			_, srv := srstest.NewReplay(t, tc.dir, "")
			st, err := Fetch(context.Background(), nil, srv.URL)
			if err != nil {
				t.Fatal(err)
			}
			players, ok := st.Players()
			if st.Publishers() != tc.publishers || !ok || players != tc.players || st.ActiveStreams() != tc.active ||
				clientCount(st) != float64(tc.clients) || len(st.Streams) != tc.stream {
				t.Errorf("publishers %d players %d active %d clients %v streams %d; want %d %d %d %d %d",
					st.Publishers(), players, st.ActiveStreams(), clientCount(st), len(st.Streams),
					tc.publishers, tc.players, tc.active, tc.clients, tc.stream)
			}
		})
	}
	// Without the client list, publishers fall back to active streams.
	_, srv := srstest.NewReplay(t, "testdata/v6.0.157/load/edge", "")
	st, err := (&API{BaseURL: srv.URL, SkipClients: true}).Fetch(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := st.Players(); ok || st.Publishers() != 1 || st.ClientCounts != nil || st.Clients != nil {
		t.Errorf("without clients: publishers %d, clients %v", st.Publishers(), st.ClientCounts)
	}
	if m, ok := st.MemoryBytes(); !ok || m != 4096*float64(st.Proc.RSS) {
		t.Errorf("memory %v %v", m, ok)
	}
}

// clientCount is Stats.ClientCount for a reading that has it.
func clientCount(st *Stats) float64 {
	n, ok := st.ClientCount()
	if !ok {
		return -1
	}
	return n
}

// TestClientCountSources: the client list when read; without it, conn_srs
// on SRS 5+ only (on 3 and 4 it counts the API's connections too).
func TestClientCountSources(t *testing.T) {
	var sum Summaries
	sum.System.ConnSRS = 7
	cases := []struct {
		name  string
		st    Stats
		want  float64
		known bool
	}{
		{"list", Stats{Versions: Versions{Major: 4}, Summaries: sum, ClientCounts: map[ClientKey]int{{Type: "rtmp-play"}: 2, {Type: "fmle-publish", Publish: true}: 1}}, 3, true},
		{"empty list", Stats{Versions: Versions{Major: 6}, Summaries: sum, ClientCounts: map[ClientKey]int{}}, 0, true},
		{"no list, SRS 5", Stats{Versions: Versions{Major: 5}, Summaries: sum}, 7, true},
		{"no list, SRS 4", Stats{Versions: Versions{Major: 4}, Summaries: sum}, 0, false},
		{"no list, SRS 3", Stats{Versions: Versions{Major: 3}, Summaries: sum}, 0, false},
	}
	for _, tc := range cases {
		if n, ok := tc.st.ClientCount(); n != tc.want || ok != tc.known {
			t.Errorf("%s: %v %v, want %v %v", tc.name, n, ok, tc.want, tc.known)
		}
	}
}

// TestFeaturesAndAlive: build_date from /api/v1/features, clients' alive
// by id, and counts per stream, from the captures of SRS 3 to 6.
func TestFeaturesAndAlive(t *testing.T) {
	cases := []struct {
		dir, build, cid string
		alive           float64
		players         int
	}{
		{"testdata/v6.0.157/load/master", "2026-11-21 19:04:43", "54y0xi71", 49.71, 4},
		{"testdata/v3.0.170/load/edge", "2026-11-21 19:19:27", "490", 45, 2},
	}
	for _, tc := range cases {
		_, srv := srstest.NewReplay(t, tc.dir, "")
		st, err := (&API{BaseURL: srv.URL, ClientAlive: true}).Fetch(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if st.BuildDate != tc.build {
			t.Errorf("%s: build date %q, want %q", tc.dir, st.BuildDate, tc.build)
		}
		s := &st.Streams[0]
		if s.Publish.CID != ID(tc.cid) {
			t.Fatalf("%s: cid %q", tc.dir, s.Publish.CID)
		}
		if a, ok := st.PublisherAlive(s); !ok || a != tc.alive {
			t.Errorf("%s: publisher alive %v %v, want %v", tc.dir, a, ok, tc.alive)
		}
		players := 0
		for k, n := range st.StreamClients(s.ID) {
			if !k.Publish {
				players += n
			}
		}
		if players != tc.players {
			t.Errorf("%s: %d players on the stream, want %d", tc.dir, players, tc.players)
		}
		if _, ok := (&Stats{}).PublisherAlive(s); ok {
			t.Error("an age without the alive list")
		}
	}
	_, srv := srstest.NewReplay(t, "testdata/v6.0.157/load/master", "")
	st, err := (&API{BaseURL: srv.URL, SkipFeatures: true}).Fetch(context.Background())
	if err != nil || st.BuildDate != "" || st.Alive != nil {
		t.Errorf("features skipped: %q %v %v", st.BuildDate, st.Alive, err)
	}
	if _, _, err := DecodeFeatures([]byte(`{"code":0,"urls":{}}`)); err == nil {
		t.Error("a features answer without data was accepted")
	}
}

func TestStreamKey(t *testing.T) {
	vh := map[ID]string{"v1": "__defaultVhost__"}
	cases := []struct {
		st                 Stream
		vhost, app, stream string
	}{
		{Stream{Vhost: "v1", App: "live", Name: "test", URL: "/live/test"}, "__defaultVhost__", "live", "test"},
		{Stream{Vhost: "v1", App: "live", Name: "test.flv", URL: "/live/test"}, "__defaultVhost__", "live", "test"},
		{Stream{Vhost: "v1", App: "live", Name: "test.flv"}, "__defaultVhost__", "live", "test"}, // SRS 4: no url
		{Stream{Vhost: "v1", App: "live", Name: "cam.m3u8"}, "__defaultVhost__", "live", "cam"},
		{Stream{Vhost: "v9", App: "live", Name: "x"}, UnknownVhost, "live", "x"},
		{Stream{Vhost: "v1", App: "live", Name: ".flv"}, "__defaultVhost__", "live", ".flv"},
	}
	for _, tc := range cases {
		v, a, s := StreamKey(&tc.st, vh)
		if v != tc.vhost || a != tc.app || s != tc.stream {
			t.Errorf("%+v: got %s/%s/%s, want %s/%s/%s", tc.st, v, a, s, tc.vhost, tc.app, tc.stream)
		}
	}
}

func TestClientProtocol(t *testing.T) {
	cases := []struct {
		typ       string
		publish   bool
		dir, prot string
	}{
		{"fmle-publish", true, "publish", "rtmp"},
		{"flash-publish", true, "publish", "rtmp"},
		{"haivision-publish", true, "publish", "rtmp"},
		{"rtc-publish", true, "publish", "rtc"},
		{"srt-publish", true, "publish", "srt"},
		{"Play", false, "play", "rtmp"},
		{"rtmp-play", false, "play", "rtmp"},
		{"flv-play", false, "play", "flv"},
		{"hls-play", false, "play", "hls"},
		{"rtc-play", false, "play", "rtc"},
		{"srt-play", false, "play", "srt"},
		{"Unknown", false, "play", "unknown"},
		{"whip-publish", true, "publish", "unknown"},
	}
	for _, tc := range cases {
		d, p := ClientProtocol(tc.typ, tc.publish)
		if d != tc.dir || p != tc.prot {
			t.Errorf("%s: %s/%s, want %s/%s", tc.typ, d, p, tc.dir, tc.prot)
		}
	}
}

func TestCodeName(t *testing.T) {
	cp := srstest.ReadCapture(t, "testdata/v6.0.157/misc/versions.http.txt")
	if got := codeName(cp.Header.Get("Server")); got != "Hang" {
		t.Errorf("codeName(%q) = %q", cp.Header.Get("Server"), got)
	}
	for _, s := range []string{"", "nginx/1.2", "SRS/3.0.170"} {
		if got := codeName(s); got != "" {
			t.Errorf("codeName(%q) = %q", s, got)
		}
	}
}
