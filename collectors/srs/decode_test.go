package srs

import (
	"errors"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/lbpilot/lbpilot/collectors"
)

func TestIDForms(t *testing.T) {
	cases := []struct {
		body string
		want ID
		err  bool
	}{
		{`{"code":0,"streams":[{"id":"vid-96e66j5","vhost":"vid-4pl833w"}]}`, "vid-96e66j5", false},
		{`{"code":0,"streams":[{"id":355162,"vhost":355159}]}`, "355162", false},
		{`{"code":0,"streams":[{"id":null}]}`, "", false},
		{`{"code":0,"streams":[{"id":true}]}`, "", true},
		{`{"code":0,"streams":[{"id":{}}]}`, "", true},
	}
	for _, tc := range cases {
		_, s, err := DecodeStreams([]byte(tc.body))
		if tc.err {
			if err == nil {
				t.Errorf("%s: accepted", tc.body)
			}
			continue
		}
		if err != nil || len(s) != 1 || s[0].ID != tc.want {
			t.Errorf("%s: %v %v, want id %q", tc.body, s, err, tc.want)
		}
	}
}

func TestDecodeErrors(t *testing.T) {
	cases := []struct {
		name string
		f    func([]byte) error
		body string
		want string
	}{
		{"code only", decStreams, `{"code":2048}`, "SRS error code 2048 (stream not found)"},
		{"unknown code", decStreams, `{"code":1234}`, "SRS error code 1234"},
		{"code with a payload", decSummaries, `{"code":1,"data":{}}`, "SRS error code 1"},
		{"code as a string", decSummaries, `{"code":"0","data":{}}`, "code is a JSON string, want a number"},
		{"null payload", decSummaries, `{"code":0,"data":null}`, `answer has no "data"`},
		{"missing list", decVhosts, `{"code":0,"server":"x"}`, `answer has no "vhosts" (it has code, server)`},
		{"list of the wrong type", decClients, `{"code":0,"clients":{}}`, "holds a JSON object"},
		{"field of the wrong type", decClients, `{"code":0,"clients":[{"publish":"yes"}]}`, `"clients.publish" holds a JSON string, want a bool`},
		{"not JSON", decVersions, `<html>`, "invalid JSON"},
		{"empty", decVersions, ``, "invalid JSON"},
		{"truncated", decSummaries, `{"code":0,"data":{"self":`, "invalid JSON"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.f([]byte(tc.body))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want %q", err, tc.want)
			}
		})
	}
	var ae *APIError
	if !errors.As(decStreams([]byte(`{"code":2048}`)), &ae) || ae.Code != 2048 {
		t.Error("code errors are not *APIError")
	}
}

func decStreams(b []byte) error   { _, _, err := DecodeStreams(b); return err }
func decClients(b []byte) error   { _, _, err := DecodeClients(b); return err }
func decVhosts(b []byte) error    { _, _, err := DecodeVhosts(b); return err }
func decSummaries(b []byte) error { _, _, err := DecodeSummaries(b); return err }
func decVersions(b []byte) error  { _, _, err := DecodeVersions(b); return err }

// TestHugeAndNegativeNumbers: SRS 3's HTTP-FLV accounting bug gives 4.7e14
// bytes and negative kbps; numbers decode as float64, and a negative
// counter is dropped from the output rather than read as a reset.
func TestHugeAndNegativeNumbers(t *testing.T) {
	_, v, err := DecodeVhosts([]byte(`{"code":0,"vhosts":[{"id":"a","name":"v","send_bytes":472662274946262,"recv_bytes":-5,"kbps":{"recv_30s":-1205506797}}]}`))
	if err != nil {
		t.Fatal(err)
	}
	if v[0].SendBytes != 472662274946262 || v[0].RecvBytes != -5 {
		t.Fatalf("%+v", v[0])
	}
	c, err := New(Options{}, collectors.Target{URL: "http://srs:1985"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	ch := make(chan prometheus.Metric, 100)
	c.send(&Stats{Vhosts: v}, ch)
	close(ch)
	for m := range ch {
		if strings.Contains(m.Desc().String(), "srs_vhost_receive_bytes_total") {
			t.Error("negative receive bytes were exported")
		}
	}
}

// endpointOf guesses which decoder a fixture file belongs to.
func endpointOf(name string) uint8 {
	for i, p := range []string{"summaries", "versions", "self_proc_stats", "vhosts", "streams", "clients"} {
		if strings.HasPrefix(filepath.Base(name), p) {
			return uint8(i)
		}
	}
	return 0
}

// FuzzDecode feeds every decoder arbitrary bodies (seeded with every JSON
// capture and the error answers): no panic, and whatever is accepted turns
// into a valid exposition with every option on.
func FuzzDecode(f *testing.F) {
	files, _ := filepath.Glob("testdata/*/*/*/*.json")
	more, _ := filepath.Glob("testdata/community/*.json")
	files = append(files, more...)
	if len(files) < 100 {
		f.Fatalf("only %d seed files", len(files))
	}
	for _, file := range files {
		b, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b, endpointOf(file))
	}
	for _, e := range []string{`{"code":2048}`, `{"code":0,"urls":{}}`, `cb({"code":0})`} {
		f.Add([]byte(e), uint8(0))
	}
	c, err := New(Options{StreamMetrics: true, MaxStreams: 3}, collectors.Target{URL: "http://srs:1985"}, nil)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, body []byte, endpoint uint8) {
		st := &Stats{ClientCounts: map[ClientKey]int{}, Streams: []Stream{}}
		var err error
		switch endpoint % 6 {
		case 0:
			var s *Summaries
			if _, s, err = DecodeSummaries(body); err == nil {
				st.Summaries = *s
			}
		case 1:
			var v *Versions
			if _, v, err = DecodeVersions(body); err == nil {
				st.Versions = *v
			}
		case 2:
			_, st.Proc, err = DecodeProcStats(body)
		case 3:
			_, st.Vhosts, err = DecodeVhosts(body)
		case 4:
			_, st.Streams, err = DecodeStreams(body)
		case 5:
			var list []Client
			if _, list, err = DecodeClients(body); err == nil {
				countClients(list, st.ClientCounts)
			}
		}
		if err != nil {
			if err.Error() == "" || !utf8.ValidString(err.Error()) {
				t.Fatalf("bad error message %q", err)
			}
			return
		}
		if math.IsNaN(st.Summaries.System.ConnSRS) {
			t.Fatal("NaN from JSON")
		}
		reg := prometheus.NewPedanticRegistry()
		reg.MustRegister(sendOnly{c, st})
		if _, err := reg.Gather(); err != nil {
			t.Fatalf("accepted body gives an invalid exposition: %v", err)
		}
	})
}

type sendOnly struct {
	c  *Collector
	st *Stats
}

func (s sendOnly) Describe(ch chan<- *prometheus.Desc) { s.c.Describe(ch) }
func (s sendOnly) Collect(ch chan<- prometheus.Metric) { s.c.send(s.st, ch) }
