package expo

import (
	"net/http"
	"testing"
)

func TestAcceptsGzip(t *testing.T) {
	for _, tc := range []struct {
		name   string
		header []string // Accept-Encoding lines; nil: no header
		want   bool
	}{
		{"no header", nil, false},
		{"empty header", []string{""}, false},
		{"gzip (what Prometheus sends)", []string{"gzip"}, true},
		{"browser header", []string{"gzip, deflate, br, zstd"}, true},
		{"gzip with lower weight", []string{"gzip;q=0.5"}, true},
		{"gzip weighted, others listed", []string{"br;q=1.0, gzip;q=0.8, *;q=0.1"}, true},
		{"gzip refused", []string{"gzip;q=0"}, false},
		{"gzip refused, identity asked", []string{"gzip;q=0, identity"}, false},
		{"gzip refused with decimals", []string{"gzip;q=0.000"}, false},
		{"gzip refused, star accepted", []string{"gzip;q=0, *"}, false},
		{"star", []string{"*"}, true},
		{"star weighted", []string{"*;q=0.3"}, true},
		{"star refused", []string{"*;q=0"}, false},
		{"star refused, gzip named", []string{"*;q=0, gzip"}, true},
		{"identity only", []string{"identity"}, false},
		{"identity refused, gzip listed", []string{"identity;q=0, gzip;q=0.2"}, true},
		{"identity preferred over gzip", []string{"identity;q=1, gzip;q=0.5"}, false},
		{"identity and gzip equal", []string{"identity;q=0.5, gzip;q=0.5"}, true},
		{"star preferred over gzip", []string{"gzip;q=0.2, *;q=0.9"}, false},
		{"other codings only", []string{"br, deflate"}, false},
		{"upper case", []string{"GZIP;Q=0.5"}, true},
		{"upper case refused", []string{"GZip;Q=0"}, false},
		{"x-gzip", []string{"x-gzip"}, true},
		{"whitespace", []string{"  deflate ,\tgzip ; q = 0.7 , "}, true},
		{"whitespace refused", []string{"gzip ; q = 0 "}, false},
		{"empty elements", []string{",,gzip,,"}, true},
		{"invalid q ignored", []string{"gzip;q=2"}, false},
		{"invalid q, star stands", []string{"gzip;q=abc, *"}, true},
		{"NaN is no q-value", []string{"gzip;q=NaN"}, false},
		{"too many decimals", []string{"gzip;q=0.1234"}, false},
		{"q=1.000", []string{"gzip;q=1.000"}, true},
		{"q=1.001 invalid", []string{"gzip;q=1.001"}, false},
		{"other parameters", []string{"gzip;level=1;q=0.4"}, true},
		{"several header lines", []string{"br", "gzip;q=0.5"}, true},
		{"refused on a second line", []string{"identity", "gzip;q=0"}, false},
		{"gzip twice, highest counts", []string{"gzip;q=0, gzip;q=0.3"}, true},
		{"not a prefix match", []string{"gzipper"}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := http.Header{}
			for _, v := range tc.header {
				h.Add("Accept-Encoding", v)
			}
			if got := AcceptsGzip(h); got != tc.want {
				t.Errorf("Accept-Encoding %q: AcceptsGzip = %v, want %v", tc.header, got, tc.want)
			}
		})
	}
}

func TestParseQValue(t *testing.T) {
	for s, want := range map[string]float64{"0": 0, "0.": 0, "0.5": 0.5, "0.125": 0.125, "1": 1, "1.0": 1, "1.000": 1} {
		if got, ok := parseQValue(s); !ok || got != want {
			t.Errorf("parseQValue(%q) = %v, %v; want %v", s, got, ok, want)
		}
	}
	for _, s := range []string{"", ".5", "2", "-0", "1.5", "0.1234", "0x1", "1e0", "NaN", "Inf", "0.5a", "01"} {
		if got, ok := parseQValue(s); ok {
			t.Errorf("parseQValue(%q) = %v, accepted", s, got)
		}
	}
}
