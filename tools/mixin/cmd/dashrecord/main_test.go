package main

import (
	"strings"
	"testing"
	"time"
)

func TestParseAnswer(t *testing.T) {
	matrix := `{"status": "success", "data": {"resultType": "matrix", "result": [
	 {"metric": {"server": "wcs1"}, "values": [[100, "1"], [102, "NaN"], [104, "2.5"]]},
	 {"metric": {"server": "wcs2"}, "values": [[100, "+Inf"]]}]}}`
	rs, err := parseAnswer([]byte(matrix))
	if err != nil {
		t.Fatal(err)
	}
	if len(rs) != 1 || len(rs[0].points) != 2 || rs[0].points[1] != [2]float64{104, 2.5} {
		t.Fatalf("matrix: %+v (NaN points and all-Inf series are dropped)", rs)
	}
	s := rs[0].series("{{server}}", time.Unix(90, 0))
	if s.Legend != "wcs1" || s.Points[0] != [2]float64{10, 1} {
		t.Errorf("series = %+v", s)
	}
	vector := `{"status": "success", "data": {"resultType": "vector", "result": [{"metric": {}, "value": [200, "7"]}]}}`
	if rs, err := parseAnswer([]byte(vector)); err != nil || len(rs) != 1 || rs[0].points[0][1] != 7 {
		t.Errorf("vector: %+v %v", rs, err)
	}
	scalar := `{"status": "success", "data": {"resultType": "scalar", "result": [200, "3"]}}`
	if rs, err := parseAnswer([]byte(scalar)); err != nil || len(rs) != 1 || rs[0].points[0][1] != 3 {
		t.Errorf("scalar: %+v %v", rs, err)
	}
	for in, want := range map[string]string{
		`{"status": "error", "error": "parse error"}`:                           "parse error",
		`{"status": "success", "data": {"resultType": "string", "result": []}}`: "unexpected result type",
		`<html>`: "the answer",
	} {
		if _, err := parseAnswer([]byte(in)); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("parseAnswer(%s) = %v, want %q", in, err, want)
		}
	}
}

func TestRunFlags(t *testing.T) {
	if code := run([]string{"-x"}); code != 2 {
		t.Errorf("a bad flag: %d", code)
	}
	if code := run([]string{"-step", "0"}); code != 2 {
		t.Errorf("-step 0: %d", code)
	}
	if code := run([]string{"-dashboards", t.TempDir()}); code != 1 {
		t.Errorf("no dashboards: %d", code)
	}
}
