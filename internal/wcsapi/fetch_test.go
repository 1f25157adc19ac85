package wcsapi

import (
	"context"
	"errors"
	"net/http"
	"testing"

	"github.com/lbpilot/lbpilot/internal/testenv"
	"github.com/lbpilot/lbpilot/internal/upstream"
)

func TestStatURL(t *testing.T) {
	cases := []struct{ base, format, want string }{
		{"http://h:8081", FormatJSON, "http://h:8081/?action=stat&format=json"},
		{"http://h:8081/", FormatText, "http://h:8081/?action=stat"},
		{"https://h:8444/wcs/", FormatJSON, "https://h:8444/wcs/?action=stat&format=json"},
		{"http://h:8081/?action=stat&params=connections_hls", FormatJSON, "http://h:8081/?action=stat&params=connections_hls"},
		{"http://h:8081/?preventCache=1", FormatText, "http://h:8081/?action=stat&preventCache=1"},
	}
	for _, tc := range cases {
		if got := StatURL(tc.base, tc.format); got != tc.want {
			t.Errorf("StatURL(%q, %q) = %q, want %q", tc.base, tc.format, got, tc.want)
		}
	}
}

// TestFetch is the agent's entry point: JSON requested, typed numbers back.
func TestFetch(t *testing.T) {
	srv, seen := testenv.ServeFile(t, http.StatusOK, "stat_loaded.json")
	st, err := Fetch(context.Background(), nil, srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	if (*seen)[0] != "/?action=stat&format=json" {
		t.Errorf("requested %v", *seen)
	}
	if p, _ := st.Publishers(); p != 18 {
		t.Errorf("publishers %v, want 18", p)
	}
	srv404, _ := testenv.ServeFile(t, http.StatusNotFound, "stat_html_error_page.txt")
	var he *upstream.HTTPError
	if _, err := Fetch(context.Background(), nil, srv404.URL); !errors.As(err, &he) || he.Status != 404 {
		t.Errorf("got %v, want an HTTPError 404", err)
	}
}

func TestParseUnit(t *testing.T) {
	cases := []struct {
		in   string
		want Unit
		ok   bool
	}{
		{"", Mbps, true}, {"MBPS", Mbps, true}, {"kbps", Kbps, true}, {"Bps", Bps, true},
		{"gbps", "", false}, {"bytes", "", false},
	}
	for _, tc := range cases {
		if got, ok := ParseUnit(tc.in); got != tc.want || ok != tc.ok {
			t.Errorf("ParseUnit(%q) = %q, %v; want %q, %v", tc.in, got, ok, tc.want, tc.ok)
		}
	}
}
