package agent

import (
	"strings"
	"testing"
)

func TestParseDimension(t *testing.T) {
	for i, name := range dimensionNames {
		d, err := ParseDimension(name)
		if err != nil || d != Dimension(i) || d.String() != name {
			t.Errorf("%s: %v %v", name, d, err)
		}
	}
	for in, want := range map[string]Dimension{"BAND_IN": BandIn, " Band-Out ": BandOut, "HLS": HLS} {
		if d, err := ParseDimension(in); err != nil || d != want {
			t.Errorf("%q: %v %v, want %v", in, d, err, want)
		}
	}
	if _, err := ParseDimension("memory"); err == nil || !strings.Contains(err.Error(), `unknown threshold "memory"`) {
		t.Errorf("memory: %v", err)
	}
	if s := Dimension(42).String(); s != "dimension(42)" {
		t.Errorf("out of range: %q", s)
	}
}

func TestParseKindAndDefaults(t *testing.T) {
	if _, err := ParseKind("nginx"); err == nil {
		t.Error("nginx accepted as a source")
	}
	tests := []struct {
		kind Kind
		want string
	}{
		{WCS, "cpu=90 publishers=100 subscribers=100 hls=100 band-in=100 band-out=100"},
		{SRS, "cpu=90 band-in=100 band-out=100 clients=100 streams=100"},
		{EMQX, "cpu=90 connections=100"},
	}
	for _, tt := range tests {
		k, err := ParseKind(" " + strings.ToUpper(string(tt.kind)))
		if err != nil || k != tt.kind {
			t.Fatalf("%s: %v %v", tt.kind, k, err)
		}
		if got := DefaultThresholds(k).String(); got != tt.want {
			t.Errorf("%s defaults: %q, want %q", k, got, tt.want)
		}
	}
	if got := (Thresholds{}).String(); got != "none" {
		t.Errorf("empty thresholds: %q", got)
	}
}

func TestParseLimit(t *testing.T) {
	for in, want := range map[string]float64{"70": 70, " 2.5 ": 2.5, "1e3": 1000} {
		if v, on, err := ParseLimit(in); err != nil || !on || v != want {
			t.Errorf("%q: %v %v %v", in, v, on, err)
		}
	}
	if _, on, err := ParseLimit("OFF"); err != nil || on {
		t.Errorf("off: %v %v", on, err)
	}
	for _, bad := range []string{"0", "-5", "NaN", "Inf", "seventy", ""} {
		if _, _, err := ParseLimit(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestThresholdsApply(t *testing.T) {
	base := DefaultThresholds(WCS)
	got, err := base.Apply(WCS, map[string]string{"cpu": "70", "hls": "off", "band_out": "1000"})
	if err != nil {
		t.Fatal(err)
	}
	if s := got.String(); s != "cpu=70 publishers=100 subscribers=100 band-in=100 band-out=1000" {
		t.Errorf("applied: %q", s)
	}
	if base[CPU] != DefaultCPULimit {
		t.Error("Apply changed its receiver")
	}
	tests := []struct {
		kind Kind
		set  map[string]string
		want string
	}{
		{WCS, map[string]string{"ram": "5"}, `unknown threshold "ram"`},
		{WCS, map[string]string{"connections": "5"}, "source wcs does not measure it (it measures cpu, publishers, subscribers, hls, band-in, band-out)"},
		{EMQX, map[string]string{"streams": "5"}, "source emqx does not measure it"},
		{SRS, map[string]string{"clients": "-1"}, `threshold clients: limit "-1"`},
	}
	for _, tt := range tests {
		if _, err := DefaultThresholds(tt.kind).Apply(tt.kind, tt.set); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%v: %v, want %q", tt.set, err, tt.want)
		}
	}
}
