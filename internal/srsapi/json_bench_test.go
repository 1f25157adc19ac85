package srsapi

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"reflect"
	"sync"
	"testing"

	gojson "github.com/goccy/go-json"

	"github.com/lbpilot/lbpilot/internal/lab"
	"github.com/lbpilot/lbpilot/internal/upstream"
)

// The JSON benchmarks compare, on the answers of one big lab SRS (10,000
// clients: 1,000 publishers and 9,000 players; 1,000 streams), the ways
// lbpilot can read the two list endpoints that dominate an SRS scrape:
// our scanner (fastjson.go), github.com/goccy/go-json and encoding/json,
// each decoding into the same structs. Every implementation's result is
// checked against the first one's before timing. scripts/bench.d/41-json.sh runs
// them alternating and writes the table in BENCHMARKS.md.

// bigBodies are the benchmark's inputs, read once per test binary.
var bigBodies = sync.OnceValues(func() ([2][]byte, error) {
	var bodies [2][]byte
	s, err := lab.Start(lab.Config{Kind: lab.SRS, Name: "big", Load: lab.Load{Publishers: 1000, Subscribers: 9000, BandwidthOutMbps: 900, CPU: 0.7}}, "")
	if err != nil {
		return bodies, err
	}
	defer s.Close()
	get := func(p string) ([]byte, error) {
		resp, err := http.Get(s.URL + p)
		if err != nil {
			return nil, err
		}
		defer resp.Body.Close()
		return io.ReadAll(resp.Body)
	}
	if bodies[0], err = get("/api/v1/clients/?start=0&count=10000"); err != nil {
		return bodies, err
	}
	bodies[1], err = get("/api/v1/streams/?start=0&count=1000")
	return bodies, err
})

func benchBodies(b *testing.B) (clients, streams []byte) {
	b.Helper()
	bodies, err := bigBodies()
	if err != nil {
		b.Fatal(err)
	}
	return bodies[0], bodies[1]
}

// unmarshaler is a library's Unmarshal.
type unmarshaler func([]byte, any) error

var (
	stdUnmarshal unmarshaler = json.Unmarshal
	// goccy/go-json with its defaults (strings are copied out of the body).
	goccyUnmarshal unmarshaler = gojson.Unmarshal
	// goccy/go-json with DecodeNoCopyString: plain strings point into the
	// body, which then lives as long as any of them.
	goccyNoCopy unmarshaler = func(b []byte, v any) error {
		return gojson.UnmarshalWithOption(b, v, gojson.DecodeNoCopyString())
	}
)

// libClients decodes a clients answer with a library into the structs
// decode.go uses, and cleans its strings as a library that passes
// invalid UTF-8 through would need.
func libClients(u unmarshaler, body []byte) ([]Client, error) {
	var a answer
	if err := u(body, &a); err != nil {
		return nil, err
	}
	if a.Code != 0 || a.Clients == nil {
		return nil, fmt.Errorf("code %d, clients present %v", a.Code, a.Clients != nil)
	}
	c := *a.Clients
	for i := range c {
		cl := &c[i]
		cl.Type, cl.IP, cl.URL = upstream.ValidUTF8(cl.Type), upstream.ValidUTF8(cl.IP), upstream.ValidUTF8(cl.URL)
	}
	return c, nil
}

func libStreams(u unmarshaler, body []byte) ([]Stream, error) {
	var a answer
	if err := u(body, &a); err != nil {
		return nil, err
	}
	if a.Code != 0 || a.Streams == nil {
		return nil, fmt.Errorf("code %d, streams present %v", a.Code, a.Streams != nil)
	}
	return cleanStreams(*a.Streams), nil
}

// countAnswer is the least a library must decode to count clients: the
// fields of ClientKey and the id the pager needs. Other fields are only
// checked to be JSON, not typed, so this is a little more lenient than
// the full decode (a string "alive" passes).
type countAnswer struct {
	Code    int `json:"code"`
	Clients *[]struct {
		ID      ID     `json:"id"`
		Vhost   ID     `json:"vhost"`
		Stream  ID     `json:"stream"`
		Type    string `json:"type"`
		Publish bool   `json:"publish"`
	} `json:"clients"`
}

// counter counts one clients page into counts, as a scrape does.
type counter func(body []byte, p *pageState, counts map[ClientKey]int) (int, error)

func oursCount(body []byte, p *pageState, counts map[ClientKey]int) (int, error) {
	n, ok := countClientsFast(body, p, counts, nil, interner{})
	if !ok {
		return 0, fmt.Errorf("fast path refused the page")
	}
	return n, nil
}

// fullCount decodes whole clients, then counts (the fallback's way).
func fullCount(u unmarshaler) counter {
	return func(body []byte, p *pageState, counts map[ClientKey]int) (int, error) {
		page, err := libClients(u, body)
		if err != nil {
			return 0, err
		}
		CountClients(p.filter(len(page), func(i int) ID { return page[i].ID }, page), counts)
		return len(page), nil
	}
}

// slimCount decodes countAnswer, then counts.
func slimCount(u unmarshaler) counter {
	return func(body []byte, p *pageState, counts map[ClientKey]int) (int, error) {
		var a countAnswer
		if err := u(body, &a); err != nil {
			return 0, err
		}
		if a.Code != 0 || a.Clients == nil {
			return 0, fmt.Errorf("code %d", a.Code)
		}
		page := *a.Clients
		for _, c := range filter(p, len(page), func(i int) ID { return page[i].ID }, page) {
			counts[ClientKey{Vhost: c.Vhost, Type: upstream.ValidUTF8(c.Type), Publish: c.Publish, Stream: c.Stream}]++
		}
		return len(page), nil
	}
}

var countImpls = []struct {
	name string
	f    counter
}{
	{"ours", oursCount},
	{"goccy", fullCount(goccyUnmarshal)},
	{"goccy_slim", slimCount(goccyUnmarshal)},
	{"goccy_slim_nocopy", slimCount(goccyNoCopy)},
	{"stdlib", fullCount(stdUnmarshal)},
	{"stdlib_slim", slimCount(stdUnmarshal)},
}

// BenchmarkJSONCount10k counts a 10,000-client answer into per-type
// counts (what every default scrape does).
func BenchmarkJSONCount10k(b *testing.B) {
	body, _ := benchBodies(b)
	var want map[ClientKey]int
	for _, impl := range countImpls {
		counts := map[ClientKey]int{}
		n, err := impl.f(body, &pageState{skip: map[ID]bool{}}, counts)
		if err != nil || n != 10000 {
			b.Fatalf("%s: %d clients, %v", impl.name, n, err)
		}
		if want == nil {
			want = counts
		} else if !reflect.DeepEqual(counts, want) {
			b.Fatalf("%s counts %v, want %v", impl.name, counts, want)
		}
	}
	for _, impl := range countImpls {
		b.Run("impl="+impl.name, func(b *testing.B) {
			b.SetBytes(int64(len(body)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := impl.f(body, &pageState{skip: map[ID]bool{}}, map[ClientKey]int{}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

var clientImpls = []struct {
	name string
	f    func([]byte) ([]Client, error)
}{
	{"ours", func(b []byte) ([]Client, error) {
		_, c, ok := fastClients(b)
		if !ok {
			return nil, fmt.Errorf("fast path refused the page")
		}
		return c, nil
	}},
	{"goccy", func(b []byte) ([]Client, error) { return libClients(goccyUnmarshal, b) }},
	{"goccy_nocopy", func(b []byte) ([]Client, error) { return libClients(goccyNoCopy, b) }},
	{"stdlib", func(b []byte) ([]Client, error) { return libClients(stdUnmarshal, b) }},
}

// BenchmarkJSONClients10k decodes a 10,000-client answer into []Client
// (scrapes with keep_clients, and the agent).
func BenchmarkJSONClients10k(b *testing.B) {
	body, _ := benchBodies(b)
	benchDecoders(b, body, 10000, clientImpls)
}

var streamImpls = []struct {
	name string
	f    func([]byte) ([]Stream, error)
}{
	{"goccy", func(b []byte) ([]Stream, error) { return libStreams(goccyUnmarshal, b) }},
	{"goccy_nocopy", func(b []byte) ([]Stream, error) { return libStreams(goccyNoCopy, b) }},
	{"stdlib", func(b []byte) ([]Stream, error) { return libStreams(stdUnmarshal, b) }},
}

// BenchmarkJSONStreams1k decodes a 1,000-stream answer (one default page).
// Our scanner had a streams reader too, measured against these in
// BENCHMARKS.md and deleted: decodeStreams is the "goccy" row (libDecode).
func BenchmarkJSONStreams1k(b *testing.B) {
	_, body := benchBodies(b)
	benchDecoders(b, body, 1000, streamImpls)
}

// benchDecoders checks that every decoder reads body into the same n
// items, then times each as a sub-benchmark impl=<name>.
func benchDecoders[T any](b *testing.B, body []byte, n int, impls []struct {
	name string
	f    func([]byte) ([]T, error)
}) {
	var want []T
	for _, impl := range impls {
		got, err := impl.f(body)
		if err != nil || len(got) != n {
			b.Fatalf("%s: %d items, %v", impl.name, len(got), err)
		}
		if want == nil {
			want = got
		} else if !reflect.DeepEqual(got, want) {
			b.Fatalf("%s decodes differently", impl.name)
		}
	}
	for _, impl := range impls {
		b.Run("impl="+impl.name, func(b *testing.B) {
			b.SetBytes(int64(len(body)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := impl.f(body); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
