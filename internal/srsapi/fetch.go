package srsapi

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"regexp"
	"strconv"

	"github.com/lbpilot/lbpilot/internal/upstream"
	"golang.org/x/sync/errgroup"
)

// DefaultPageSize is the count asked for per list page. SRS has no upper
// cap and no total; it serves the API on its media thread, so very large
// pages are split.
const DefaultPageSize = 1000

// maxPages bounds one list's paging: a server that keeps returning full
// pages of new ids (or a bug) cannot keep a scrape going forever.
const maxPages = 1000

// API reads one SRS's http_api.
type API struct {
	// HTTP is the client to use; nil means a shared pooled one.
	HTTP *http.Client
	// BaseURL is the http_api address, e.g. http://127.0.0.1:1985.
	BaseURL string
	// Auth is HTTP basic auth (SRS 5.0.152+/6.0.40+ http_api.auth).
	Auth upstream.Auth
	// PageSize is the count per list page (at least 10, SRS's minimum);
	// 0 means DefaultPageSize.
	PageSize int
	// SkipClients does not read the client list (Stats.ClientCounts and
	// Stats.Clients stay nil).
	SkipClients bool
	// KeepClients keeps every client in Stats.Clients; without it only
	// the counts are kept (much cheaper with many clients).
	KeepClients bool
	// SkipStreams does not read the stream list (Stats.Streams stays nil).
	SkipStreams bool
	// SkipProcStats does not read /api/v1/self_proc_stats.
	SkipProcStats bool
	// ClientAlive records every client's alive (Stats.Alive), for the
	// age of each stream's publisher.
	ClientAlive bool
	// SkipFeatures does not read /api/v1/features (Stats.BuildDate).
	SkipFeatures bool
}

// Stats is one reading of an SRS: what the collector exports and what
// other packages (the agent) read without Prometheus.
type Stats struct {
	// Envelope of the summaries answer: server id, service (changes on
	// every restart), pid.
	Envelope  Envelope
	Versions  Versions
	Code      string // release code name from the Server header ("Hang"), if any
	Summaries Summaries
	Proc      *ProcStats // nil when not read
	Vhosts    []Vhost
	Streams   []Stream // nil when not read
	// ClientCounts counts the clients by vhost id, type and publish flag
	// (nil when the client list was not read).
	ClientCounts map[ClientKey]int
	// Clients is every client, read only with API.KeepClients.
	Clients []Client
	// Alive is each client's alive in seconds, by client id (only with
	// API.ClientAlive).
	Alive map[ID]float64
	// BuildDate is /api/v1/features' data.build ("2026-11-21 19:04:43"),
	// "" when not read.
	BuildDate string
}

// ClientKey groups clients for ClientCounts: by vhost, stream, type and
// publish flag.
type ClientKey struct {
	Vhost   ID
	Type    string
	Publish bool
	Stream  ID
}

// CountClients adds a client list to the counts in into.
func CountClients(list []Client, into map[ClientKey]int) {
	for i := range list {
		into[ClientKey{Vhost: list[i].Vhost, Type: list[i].Type, Publish: list[i].Publish, Stream: list[i].Stream}]++
	}
}

// Fetch reads everything lbpilot exports from the SRS http_api at
// baseURL (e.g. http://127.0.0.1:1985) with default settings.
func Fetch(ctx context.Context, hc *http.Client, baseURL string) (*Stats, error) {
	return (&API{HTTP: hc, BaseURL: baseURL}).Fetch(ctx)
}

// Fetch reads the summaries, versions, process stats and the vhost,
// stream and client lists concurrently (SRS answers one at a time, but
// its connections are not kept alive, so setup overlaps). Any failure
// fails the whole reading (and cancels the rest): a partial one would make counts disagree.
func (c *API) Fetch(ctx context.Context) (*Stats, error) {
	st := &Stats{}
	// The first failure cancels the requests still in flight.
	g, ctx := errgroup.WithContext(ctx)
	run := g.Go
	run(func() error {
		u := upstream.Join(c.BaseURL, "/api/v1/summaries")
		body, _, err := c.get(ctx, u)
		if err != nil {
			return err
		}
		env, s, err := decodeSummaries(upstream.RedactURL(u), body)
		if err != nil {
			return err
		}
		st.Envelope, st.Summaries = *env, *s
		return nil
	})
	run(func() error {
		u := upstream.Join(c.BaseURL, "/api/v1/versions")
		body, hdr, err := c.get(ctx, u)
		if err != nil {
			return err
		}
		_, v, err := decodeVersions(upstream.RedactURL(u), body)
		if err != nil {
			return err
		}
		st.Versions = *v
		st.Code = codeName(hdr.Get("Server"))
		return nil
	})
	if !c.SkipProcStats {
		run(func() error {
			u := upstream.Join(c.BaseURL, "/api/v1/self_proc_stats")
			body, _, err := c.get(ctx, u)
			if err != nil {
				return err
			}
			_, p, err := decodeProcStats(upstream.RedactURL(u), body)
			if err != nil {
				return err
			}
			st.Proc = p
			return nil
		})
	}
	run(func() error {
		v, err := fetchAll(ctx, c, "/api/v1/vhosts/", decodeVhosts, func(v *Vhost) ID { return v.ID })
		st.Vhosts = v
		return err
	})
	if !c.SkipStreams {
		run(func() error {
			s, err := fetchAll(ctx, c, "/api/v1/streams/", decodeStreams, func(s *Stream) ID { return s.ID })
			if s == nil && err == nil {
				s = []Stream{}
			}
			st.Streams = s
			return err
		})
	}
	if !c.SkipFeatures {
		run(func() error {
			u := upstream.Join(c.BaseURL, "/api/v1/features")
			body, _, err := c.get(ctx, u)
			if err != nil {
				return err
			}
			_, f, err := decodeFeatures(upstream.RedactURL(u), body)
			if err != nil {
				return err
			}
			st.BuildDate = f.Build
			return nil
		})
	}
	if !c.SkipClients {
		run(func() error {
			counts := map[ClientKey]int{}
			var kept []Client
			var alive map[ID]float64
			if c.ClientAlive {
				alive = map[ID]float64{}
			}
			in := interner{}
			err := paginate(ctx, c, "/api/v1/clients/", func(u string, body []byte, p *pageState) (int, error) {
				if !c.KeepClients {
					if n, ok := countClientsFast(body, p, counts, alive, in); ok {
						return n, nil
					}
				}
				_, page, err := decodeClients(u, body)
				if err != nil {
					return 0, err
				}
				list := p.filter(len(page), func(i int) ID { return page[i].ID }, page)
				CountClients(list, counts)
				for i := range list {
					if alive != nil {
						alive[list[i].ID] = list[i].Alive
					}
				}
				if c.KeepClients {
					kept = append(kept, list...)
				}
				return p.n, nil
			})
			if err != nil {
				return err
			}
			st.ClientCounts = counts
			st.Alive = alive
			if c.KeepClients {
				if kept == nil {
					kept = []Client{}
				}
				st.Clients = kept
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	return st, nil
}

func (c *API) get(ctx context.Context, u string) ([]byte, http.Header, error) {
	resp, err := upstream.Get(ctx, c.HTTP, u, c.Auth, 0)
	if err != nil {
		return nil, nil, err
	}
	if resp.Status != http.StatusOK {
		body := upstream.Excerpt(resp.Body, 120)
		if resp.Status == http.StatusUnauthorized {
			body = "http_api.auth is on: set username and password_file in http_client_config.basic_auth"
			if c.Auth.Username != "" {
				body = "credentials refused"
			}
		}
		return nil, nil, &upstream.HTTPError{URL: u, Status: resp.Status, Body: body}
	}
	return resp.Body, resp.Header, nil
}

func (c *API) pageSize() int {
	if c.PageSize <= 0 {
		return DefaultPageSize
	}
	return max(c.PageSize, MinPageSize)
}

// MinPageSize is SRS's floor: a smaller count is raised to 10.
const MinPageSize = 10

// pageState is what the pager tells a page's decoder, and learns from it.
type pageState struct {
	// skip holds the ids at the end of the previous page: SRS orders its
	// lists by id, so an object created between two requests shifts the
	// previous page's last items onto the next page, where they repeat.
	skip map[ID]bool
	// firstOfFirst is the first page's first id: a later page starting
	// with it comes from a server that ignores start (SRS 3 streams).
	firstOfFirst ID
	// Set by the decoder: items on the page (repeats included), its first
	// id, the ids of its tail, and whether it repeated the first page.
	n        int
	first    ID
	tail     []ID
	repeated bool
}

// tailLen is how many ids of a page's end are remembered for the next.
const tailLen = 16

// filter applies the page state to a decoded page of n items: it records
// first, tail and n, and returns list without a repeated page or the
// leading items the previous page already had.
func filter[T any](p *pageState, n int, id func(int) ID, list []T) []T {
	p.n = n
	if n == 0 {
		return list
	}
	p.first = id(0)
	if p.firstOfFirst != "" && p.first == p.firstOfFirst {
		p.repeated = true
		return list[:0]
	}
	p.tail = p.tail[:0]
	for i := max(0, n-tailLen); i < n; i++ {
		p.tail = append(p.tail, id(i))
	}
	skip := 0
	for skip < n && p.skip[id(skip)] {
		skip++
	}
	return list[skip:]
}

func (p *pageState) filter(n int, id func(int) ID, list []Client) []Client {
	return filter(p, n, id, list)
}

// paginate reads a list endpoint page by page with ?start=&count= until a
// short page (SRS has no total). page decodes one page and returns how
// many items it held. SRS 3 and early SRS 4 ignore start and count for
// streams: an answer longer than count, or a page repeating the first
// one, ends the paging.
func paginate(ctx context.Context, c *API, path string, page func(u string, body []byte, p *pageState) (int, error)) error {
	size := c.pageSize()
	base := upstream.Join(c.BaseURL, path)
	p := &pageState{skip: map[ID]bool{}}
	pageURL := func(start int) string {
		return base + "?start=" + strconv.Itoa(start) + "&count=" + strconv.Itoa(size)
	}
	// next is the fetch of the following page, started while the current
	// one is decoded when that one is full: decoding and SRS's answering
	// then overlap instead of adding up.
	type fetched struct {
		body []byte
		err  error
	}
	var (
		next       chan fetched
		cancelNext context.CancelFunc = func() {}
	)
	defer func() { cancelNext() }()
	for n, start := 0, 0; ; n++ {
		if n == maxPages {
			return fmt.Errorf("GET %s: still full pages after %d pages of %d; raise page_size", upstream.RedactURL(base), maxPages, size)
		}
		u := pageURL(start)
		var body []byte
		if next != nil {
			f := <-next
			next = nil
			if f.err != nil {
				return f.err
			}
			body = f.body
		} else {
			var err error
			if body, _, err = c.get(ctx, u); err != nil {
				return err
			}
		}
		if bytes.Count(body, idKey) == size {
			sctx, cancel := context.WithCancel(ctx)
			cancelNext = cancel
			next = make(chan fetched, 1)
			go func(u string, ch chan<- fetched) {
				b, _, err := c.get(sctx, u)
				ch <- fetched{b, err}
			}(pageURL(start+size), next)
		}
		p.n, p.repeated = 0, false
		items, err := page(upstream.RedactURL(u), body, p)
		if err != nil {
			return err
		}
		if p.repeated || items != size {
			return nil // a short page, one that ignored count, or a repeat (the speculative fetch is cancelled)
		}
		if n == 0 {
			p.firstOfFirst = p.first
		}
		clear(p.skip)
		for _, id := range p.tail {
			p.skip[id] = true
		}
		start += items
	}
}

// idKey starts every vhost, stream and client object (and nothing else:
// SRS's strings hold no quotes); counting it tells a full page before
// decoding it, so the next page is fetched ahead only when needed.
var idKey = []byte(`"id":`)

// fetchAll reads a whole list endpoint into a slice.
func fetchAll[T any](ctx context.Context, c *API, path string, dec func(string, []byte) (*Envelope, []T, error), id func(*T) ID) ([]T, error) {
	var all []T
	err := paginate(ctx, c, path, func(u string, body []byte, p *pageState) (int, error) {
		_, items, err := dec(u, body)
		if err != nil {
			return 0, err
		}
		kept := filter(p, len(items), func(i int) ID { return id(&items[i]) }, items)
		if all == nil {
			all = kept // the common single page: no copy
		} else {
			all = append(all, kept...)
		}
		return len(items), nil
	})
	if err != nil {
		return nil, err
	}
	return all, nil
}

var serverHeaderRE = regexp.MustCompile(`^SRS/[0-9.]+\(([^)]+)\)`)

// codeName returns the release code name from a Server header
// ("SRS/6.0.157(Hang)" → "Hang"); the versions answer lacks it.
func codeName(server string) string {
	if m := serverHeaderRE.FindStringSubmatch(server); m != nil {
		return upstream.ValidUTF8(m[1])
	}
	return ""
}
