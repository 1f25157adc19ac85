package srs

import (
	"context"
	"fmt"
	"net/http"
	"regexp"
	"strconv"
	"sync"

	"github.com/lbpilot/lbpilot/collectors"
	"github.com/lbpilot/lbpilot/internal/upstream"
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
	// SkipClients does not read the client list (Stats.Clients stays nil).
	SkipClients bool
	// SkipStreams does not read the stream list (Stats.Streams stays nil).
	SkipStreams bool
	// SkipProcStats does not read /api/v1/self_proc_stats.
	SkipProcStats bool
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
	Clients   []Client // nil when not read
}

// Fetch reads everything lbpilot exports from the SRS http_api at
// baseURL (e.g. http://127.0.0.1:1985) with default settings.
func Fetch(ctx context.Context, hc *http.Client, baseURL string) (*Stats, error) {
	return (&API{HTTP: hc, BaseURL: baseURL}).Fetch(ctx)
}

// Fetch reads the summaries, versions, process stats and the vhost,
// stream and client lists concurrently (SRS answers one at a time, but
// its connections are not kept alive, so setup overlaps). Any failure
// fails the whole reading: a partial one would make counts disagree.
func (c *API) Fetch(ctx context.Context) (*Stats, error) {
	st := &Stats{}
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		firstErr error
	)
	run := func(f func() error) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := f(); err != nil {
				mu.Lock()
				if firstErr == nil {
					firstErr = err
				}
				mu.Unlock()
			}
		}()
	}
	run(func() error {
		u := upstream.Join(c.BaseURL, "/api/v1/summaries")
		body, _, err := c.get(ctx, u)
		if err != nil {
			return err
		}
		env, s, err := decodeSummaries(collectors.RedactURL(u), body)
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
		_, v, err := decodeVersions(collectors.RedactURL(u), body)
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
			_, p, err := decodeProcStats(collectors.RedactURL(u), body)
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
	if !c.SkipClients {
		run(func() error {
			cl, err := fetchAll(ctx, c, "/api/v1/clients/", decodeClients, func(cl *Client) ID { return cl.ID })
			if cl == nil && err == nil {
				cl = []Client{}
			}
			st.Clients = cl
			return err
		})
	}
	wg.Wait()
	if firstErr != nil {
		return nil, firstErr
	}
	return st, nil
}

func (c *API) get(ctx context.Context, u string) ([]byte, http.Header, error) {
	resp, err := upstream.Get(ctx, c.HTTP, u, c.Auth, 0)
	if err != nil {
		return nil, nil, err
	}
	if resp.Status != http.StatusOK {
		body := collectors.Excerpt(resp.Body, 120)
		if resp.Status == http.StatusUnauthorized {
			body = "http_api.auth is on: set username and password_file"
			if c.Auth.Username != "" {
				body = "credentials refused"
			}
		}
		return nil, nil, &collectors.HTTPError{URL: u, Status: resp.Status, Body: body}
	}
	return resp.Body, resp.Header, nil
}

func (c *API) pageSize() int {
	if c.PageSize <= 0 {
		return DefaultPageSize
	}
	return max(c.PageSize, minPageSize)
}

// minPageSize is SRS's floor: a smaller count is raised to 10.
const minPageSize = 10

// fetchAll reads a list endpoint page by page with ?start=&count= until a
// short page. SRS has no total; objects created between two pages can
// shift an item onto the next page, so items are de-duplicated by id.
// SRS 3 and early SRS 4 ignore start and count for streams and return the
// whole list every time: an answer longer than count, or a second page
// starting with the first page's first id, ends the paging.
func fetchAll[T any](ctx context.Context, c *API, path string, dec func(string, []byte) (*Envelope, []T, error), id func(*T) ID) ([]T, error) {
	size := c.pageSize()
	base := upstream.Join(c.BaseURL, path)
	var (
		all   []T
		seen  map[ID]bool
		first ID
	)
	for page, start := 0, 0; ; page++ {
		if page == maxPages {
			return nil, fmt.Errorf("GET %s: still full pages after %d pages of %d; raise page_size", collectors.RedactURL(base), maxPages, size)
		}
		u := base + "?start=" + strconv.Itoa(start) + "&count=" + strconv.Itoa(size)
		body, _, err := c.get(ctx, u)
		if err != nil {
			return nil, err
		}
		_, items, err := dec(collectors.RedactURL(u), body)
		if err != nil {
			return nil, err
		}
		if page == 0 {
			if len(items) < size {
				return items, nil // the common case: everything in one answer
			}
			all = make([]T, 0, 2*len(items))
			seen = make(map[ID]bool, 2*len(items))
			first = id(&items[0])
		} else if len(items) > 0 && first != "" && id(&items[0]) == first {
			return all, nil // the server ignores start: we have it all
		}
		for i := range items {
			k := id(&items[i])
			if k != "" {
				if seen[k] {
					continue
				}
				seen[k] = true
			}
			all = append(all, items[i])
		}
		if len(items) != size {
			return all, nil // a short page, or one that ignored count
		}
		start += len(items)
	}
}

var serverHeaderRE = regexp.MustCompile(`^SRS/[0-9.]+\(([^)]+)\)`)

// codeName returns the release code name from a Server header
// ("SRS/6.0.157(Hang)" → "Hang"); the versions answer lacks it.
func codeName(server string) string {
	if m := serverHeaderRE.FindStringSubmatch(server); m != nil {
		return validUTF8(m[1])
	}
	return ""
}
