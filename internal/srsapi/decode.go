package srsapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"

	gojson "github.com/goccy/go-json"

	"github.com/lbpilot/lbpilot/internal/upstream"
)

// ID is an SRS object id. SRS 3.0.157 and later send strings
// ("vid-4o345r5", client "442"); older SRS 3 and SRS 2 send JSON integers.
// Both decode to the same string form.
type ID string

// UnmarshalJSON accepts a string, an integer or null.
func (id *ID) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	switch {
	case len(b) == 0:
		return errors.New("empty id")
	case b[0] == '"' && len(b) >= 2 && bytes.IndexByte(b, '\\') < 0 && utf8.Valid(b):
		// The common case, without escapes: no second decoding pass.
		*id = ID(b[1 : len(b)-1])
	case b[0] == '"':
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		*id = ID(upstream.ValidUTF8(s))
	case string(b) == "null":
		*id = ""
	default:
		if _, err := strconv.ParseFloat(string(b), 64); err != nil {
			return fmt.Errorf("id %s is neither a string nor a number", upstream.Excerpt(b, 80))
		}
		*id = ID(b)
	}
	return nil
}

// Envelope is the part every http_api answer starts with.
type Envelope struct {
	// Code is 0 on success; SRS reports errors as HTTP 200 with only a
	// non-zero code.
	Code int `json:"code"`
	// Server is the server id (stable across restarts since 4.0.257).
	Server ID `json:"server"`
	// Service changes on every process start (SRS 5.0.135+): a restart.
	Service string `json:"service"`
	// PID is the process id (SRS 5.0.135+, a string).
	PID ID `json:"pid"`
}

// Versions is /api/v1/versions' data.
type Versions struct {
	Major    int    `json:"major"`
	Minor    int    `json:"minor"`
	Revision int    `json:"revision"`
	Version  string `json:"version"`
}

// Summaries is /api/v1/summaries' data. Ratios are 0..1 with two decimals,
// memory is KiB, as SRS sends them.
type Summaries struct {
	OK    bool    `json:"ok"`
	NowMS float64 `json:"now_ms"`
	Self  struct {
		Version    string  `json:"version"`
		PID        float64 `json:"pid"`
		MemKByte   float64 `json:"mem_kbyte"` // peak RSS (ru_maxrss)
		MemPercent float64 `json:"mem_percent"`
		CPUPercent float64 `json:"cpu_percent"` // ratio of one core
		Uptime     float64 `json:"srs_uptime"`  // seconds
	} `json:"self"`
	System struct {
		CPUPercent    float64 `json:"cpu_percent"` // host, ratio
		MemRAMKByte   float64 `json:"mem_ram_kbyte"`
		MemRAMPercent float64 `json:"mem_ram_percent"`
		CPUs          float64 `json:"cpus"`
		CPUsOnline    float64 `json:"cpus_online"`
		Uptime        float64 `json:"uptime"`
		Load1m        float64 `json:"load_1m"`
		Load5m        float64 `json:"load_5m"`
		Load15m       float64 `json:"load_15m"`
		SRSRecvBytes  float64 `json:"srs_recv_bytes"`
		SRSSendBytes  float64 `json:"srs_send_bytes"`
		ConnSys       float64 `json:"conn_sys"`
		ConnSysET     float64 `json:"conn_sys_et"`
		ConnSysTW     float64 `json:"conn_sys_tw"`
		ConnSysUDP    float64 `json:"conn_sys_udp"`
		ConnSRS       float64 `json:"conn_srs"` // SRS's stat clients
	} `json:"system"`
}

// ProcStats is the part of /api/v1/self_proc_stats lbpilot reads.
type ProcStats struct {
	Percent float64 `json:"percent"` // ratio of one core
	UTime   float64 `json:"utime"`   // clock ticks (USER_HZ)
	STime   float64 `json:"stime"`
	RSS     float64 `json:"rss"` // pages
	VSize   float64 `json:"vsize"`
}

// Vhost is one entry of /api/v1/vhosts/.
type Vhost struct {
	ID        ID      `json:"id"`
	Name      string  `json:"name"`
	Enabled   bool    `json:"enabled"`
	Clients   float64 `json:"clients"`
	Streams   float64 `json:"streams"` // currently publishing
	SendBytes float64 `json:"send_bytes"`
	RecvBytes float64 `json:"recv_bytes"`
	HLS       *struct {
		Enabled bool `json:"enabled"`
	} `json:"hls"`
}

// Stream is one entry of /api/v1/streams/.
type Stream struct {
	ID        ID      `json:"id"`
	Name      string  `json:"name"`
	Vhost     ID      `json:"vhost"` // a vhost id, not its name
	App       string  `json:"app"`
	TcURL     string  `json:"tcUrl"`
	URL       string  `json:"url"` // /app/stream (SRS 5.0.55+)
	Clients   float64 `json:"clients"`
	Frames    float64 `json:"frames"`
	SendBytes float64 `json:"send_bytes"`
	RecvBytes float64 `json:"recv_bytes"`
	Publish   struct {
		Active bool `json:"active"`
		CID    ID   `json:"cid"`
	} `json:"publish"`
	Video *Video `json:"video"`
	Audio *Audio `json:"audio"`
}

// Video is a stream's video track (null when there is none).
type Video struct {
	Codec   string  `json:"codec"`
	Profile string  `json:"profile"`
	Level   string  `json:"level"`
	Width   float64 `json:"width"`
	Height  float64 `json:"height"`
}

// Audio is a stream's audio track (null when there is none).
type Audio struct {
	Codec      string  `json:"codec"`
	SampleRate float64 `json:"sample_rate"`
	Channel    float64 `json:"channel"`
	Profile    string  `json:"profile"`
}

// Client is one entry of /api/v1/clients/ (the fields lbpilot reads).
type Client struct {
	ID      ID      `json:"id"`
	Vhost   ID      `json:"vhost"`
	Stream  ID      `json:"stream"`
	IP      string  `json:"ip"`
	URL     string  `json:"url"`
	Type    string  `json:"type"`
	Publish bool    `json:"publish"`
	Alive   float64 `json:"alive"` // seconds since the client arrived
}

// APIError is an answer with a non-zero code (SRS sends its errors as
// HTTP 200 with {"code":N}).
type APIError struct {
	URL  string
	Code int
}

// errorMeanings are the codes an exporter can meet (see SRS's
// srs_kernel_error.hpp); others are reported by number.
var errorMeanings = map[int]string{
	1061: "raw API disabled",
	1090: "exporter disabled",
	2014: "vhost not found",
	2048: "stream not found",
	2049: "client not found",
}

func (e *APIError) Error() string {
	msg := fmt.Sprintf("GET %s: SRS error code %d", e.URL, e.Code)
	if m, ok := errorMeanings[e.Code]; ok {
		msg += " (" + m + ")"
	}
	return msg
}

// PayloadError is a success answer without the expected payload key: SRS
// answers unknown paths with an index (HTTP 200, code 0), so a wrong URL
// or a wrong port looks like this.
type PayloadError struct {
	URL  string
	Key  string
	Keys []string // the keys the answer had
}

func (e *PayloadError) Error() string {
	return fmt.Sprintf("GET %s: answer has no %q (it has %s): not SRS's http_api, or an unknown endpoint", e.URL, e.Key, strings.Join(e.Keys, ", "))
}

// answer is an http_api reply with its payload under one of SRS's keys;
// exactly one of the payload fields is asked for per endpoint, and a nil
// one after decoding means the key was missing (or null).
type answer struct {
	Envelope
	Data    *dataPresent `json:"data"`
	Vhosts  *[]Vhost     `json:"vhosts"`
	Streams *[]Stream    `json:"streams"`
	Clients *[]Client    `json:"clients"`
}

// decode reads one answer in a single pass, then checks the code and that
// the payload key was there. url names the request in errors.
func decode(url string, body []byte, a *answer, key string) (*Envelope, error) {
	if err := json.Unmarshal(body, a); err != nil {
		var ute *json.UnmarshalTypeError
		if errors.As(err, &ute) && (ute.Field == "code" || ute.Field == "Envelope.code") {
			return nil, fmt.Errorf("GET %s: code is a JSON %s, want a number", url, ute.Value)
		}
		if a.Code != 0 {
			return nil, &APIError{URL: url, Code: a.Code}
		}
		if errors.As(err, &ute) {
			return nil, fmt.Errorf("GET %s: %q holds a JSON %s, want a %s", url, ute.Field, ute.Value, ute.Type)
		}
		return nil, fmt.Errorf("GET %s: invalid JSON: %v: %s", url, err, upstream.Excerpt(body, 80))
	}
	if a.Code != 0 {
		return nil, &APIError{URL: url, Code: a.Code}
	}
	if a.missing(key) {
		return nil, &PayloadError{URL: url, Key: key, Keys: topKeys(body)}
	}
	e := a.Envelope
	e.Service = upstream.ValidUTF8(e.Service)
	return &e, nil
}

// missing tells whether the payload under key was absent (or null).
func (a *answer) missing(key string) bool {
	switch key {
	case "data":
		return a.Data == nil || !a.Data.seen
	case "vhosts":
		return a.Vhosts == nil
	case "streams":
		return a.Streams == nil
	case "clients":
		return a.Clients == nil
	}
	return false
}

// libDecode reads a list answer with github.com/goccy/go-json, several
// times faster than encoding/json on SRS's large stream lists (see
// BENCHMARKS.md). It only takes what it can answer exactly as decode
// would: a body of valid UTF-8 (encoding/json replaces each invalid byte
// with U+FFFD, upstream.ValidUTF8 each run of them) that decodes without
// error, with code 0 and the payload key present. ok false means the
// caller decodes the body again with decode, a fresh answer, and
// encoding/json's semantics and error messages; FuzzFastPathAgrees
// checks that both agree whenever ok is true.
//
// A panic inside the library (it has had some on malformed input) is
// taken as a refusal too, so a bad answer fails one scrape at most.
func libDecode(body []byte, a *answer, key string) (env *Envelope, ok bool) {
	defer func() {
		if recover() != nil {
			env, ok = nil, false
		}
	}()
	if !utf8.Valid(body) || gojson.Unmarshal(body, a) != nil || a.Code != 0 || a.missing(key) {
		return nil, false
	}
	e := a.Envelope
	e.Service = upstream.ValidUTF8(e.Service)
	return &e, true
}

// dataPresent decodes "data" into out and records that the key was there
// (a null "data" resets the pointer to nil; a missing one leaves seen false).
type dataPresent struct {
	out  any
	seen bool
}

func (d *dataPresent) UnmarshalJSON(b []byte) error {
	d.seen = true
	if d.out == nil {
		return nil // a "data" key beside a list answer's payload: not read
	}
	return json.Unmarshal(b, d.out)
}

func decodeData(url string, body []byte, out any) (*Envelope, error) {
	a := answer{Data: &dataPresent{out: out}}
	env, err := decode(url, body, &a, "data")
	if err != nil {
		return nil, err
	}
	return env, nil
}

// DecodeSummaries decodes /api/v1/summaries.
func DecodeSummaries(body []byte) (*Envelope, *Summaries, error) {
	return decodeSummaries("/api/v1/summaries", body)
}

func decodeSummaries(url string, body []byte) (*Envelope, *Summaries, error) {
	var s Summaries
	env, err := decodeData(url, body, &s)
	if err != nil {
		return nil, nil, err
	}
	return env, &s, nil
}

// DecodeVersions decodes /api/v1/versions.
func DecodeVersions(body []byte) (*Envelope, *Versions, error) {
	return decodeVersions("/api/v1/versions", body)
}

func decodeVersions(url string, body []byte) (*Envelope, *Versions, error) {
	var v Versions
	env, err := decodeData(url, body, &v)
	if err != nil {
		return nil, nil, err
	}
	v.Version = upstream.ValidUTF8(v.Version)
	return env, &v, nil
}

// DecodeProcStats decodes /api/v1/self_proc_stats.
func DecodeProcStats(body []byte) (*Envelope, *ProcStats, error) {
	return decodeProcStats("/api/v1/self_proc_stats", body)
}

func decodeProcStats(url string, body []byte) (*Envelope, *ProcStats, error) {
	var p ProcStats
	env, err := decodeData(url, body, &p)
	if err != nil {
		return nil, nil, err
	}
	return env, &p, nil
}

// Features is the part of /api/v1/features lbpilot reads.
type Features struct {
	// Build is the build time as SRS prints it ("2026-11-21 19:04:43"),
	// the build_date label of SRS's own srs_build_info.
	Build string `json:"build"`
}

// DecodeFeatures decodes /api/v1/features.
func DecodeFeatures(body []byte) (*Envelope, *Features, error) {
	return decodeFeatures("/api/v1/features", body)
}

func decodeFeatures(url string, body []byte) (*Envelope, *Features, error) {
	var f Features
	env, err := decodeData(url, body, &f)
	if err != nil {
		return nil, nil, err
	}
	f.Build = upstream.ValidUTF8(f.Build)
	return env, &f, nil
}

// DecodeVhosts decodes one page of /api/v1/vhosts/.
func DecodeVhosts(body []byte) (*Envelope, []Vhost, error) {
	return decodeVhosts("/api/v1/vhosts/", body)
}

func decodeVhosts(url string, body []byte) (*Envelope, []Vhost, error) {
	var a answer
	env, err := decode(url, body, &a, "vhosts")
	if err != nil {
		return nil, nil, err
	}
	v := *a.Vhosts
	for i := range v {
		v[i].Name = upstream.ValidUTF8(v[i].Name)
	}
	return env, v, nil
}

// DecodeStreams decodes one page of /api/v1/streams/.
func DecodeStreams(body []byte) (*Envelope, []Stream, error) {
	return decodeStreams("/api/v1/streams/", body)
}

func decodeStreams(url string, body []byte) (*Envelope, []Stream, error) {
	var a answer
	env, ok := libDecode(body, &a, "streams")
	if !ok {
		a = answer{}
		var err error
		if env, err = decode(url, body, &a, "streams"); err != nil {
			return nil, nil, err
		}
	}
	return env, cleanStreams(*a.Streams), nil
}

// cleanStreams replaces invalid UTF-8 in the strings lbpilot exports.
func cleanStreams(s []Stream) []Stream {
	for i := range s {
		st := &s[i]
		st.Name, st.App, st.URL, st.TcURL = upstream.ValidUTF8(st.Name), upstream.ValidUTF8(st.App), upstream.ValidUTF8(st.URL), upstream.ValidUTF8(st.TcURL)
		if st.Video != nil {
			st.Video.Codec, st.Video.Profile, st.Video.Level = upstream.ValidUTF8(st.Video.Codec), upstream.ValidUTF8(st.Video.Profile), upstream.ValidUTF8(st.Video.Level)
		}
		if st.Audio != nil {
			st.Audio.Codec, st.Audio.Profile = upstream.ValidUTF8(st.Audio.Codec), upstream.ValidUTF8(st.Audio.Profile)
		}
	}
	return s
}

// DecodeClients decodes one page of /api/v1/clients/.
func DecodeClients(body []byte) (*Envelope, []Client, error) {
	return decodeClients("/api/v1/clients/", body)
}

func decodeClients(url string, body []byte) (*Envelope, []Client, error) {
	env, c, ok := fastClients(body)
	if !ok {
		var a answer
		var err error
		if env, err = decode(url, body, &a, "clients"); err != nil {
			return nil, nil, err
		}
		c = *a.Clients
	}
	for i := range c {
		c[i].Type = upstream.ValidUTF8(c[i].Type)
	}
	return env, c, nil
}

func topKeys(body []byte) []string {
	var m map[string]json.RawMessage
	if json.Unmarshal(body, &m) != nil {
		return []string{"none"}
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, upstream.ValidUTF8(k))
	}
	sort.Strings(keys)
	if len(keys) == 0 {
		return []string{"none"}
	}
	return keys
}
