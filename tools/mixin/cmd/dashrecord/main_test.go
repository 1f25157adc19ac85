package main

import (
	"context"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/model"
)

func TestFromValue(t *testing.T) {
	mat := model.Matrix{
		{Metric: model.Metric{"server": "wcs1"}, Values: []model.SamplePair{{Timestamp: 100_000, Value: 1}, {Timestamp: 102_000, Value: model.SampleValue(math.NaN())}, {Timestamp: 104_000, Value: 2.5}}},
		{Metric: model.Metric{"server": "wcs2"}, Values: []model.SamplePair{{Timestamp: 100_000, Value: model.SampleValue(math.Inf(1))}}},
	}
	rs, err := fromValue(mat)
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
	if rs, err := fromValue(model.Vector{{Metric: model.Metric{}, Timestamp: 200_000, Value: 7}}); err != nil || len(rs) != 1 || rs[0].points[0][1] != 7 {
		t.Errorf("vector: %+v %v", rs, err)
	}
	if rs, err := fromValue(&model.Scalar{Timestamp: 200_000, Value: 3}); err != nil || len(rs) != 1 || rs[0].points[0][1] != 3 {
		t.Errorf("scalar: %+v %v", rs, err)
	}
	if _, err := fromValue(&model.String{Value: "x"}); err == nil || !strings.Contains(err.Error(), "unexpected result type") {
		t.Errorf("a string result: %v", err)
	}
}

// TestQuery asks a stand-in Prometheus through the API client: a range
// query's answer comes back as results, an error answer as an error
// naming it.
func TestQuery(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = r.ParseForm()
		w.Header().Set("Content-Type", "application/json")
		if r.Form.Get("query") == "bad(" {
			w.WriteHeader(http.StatusBadRequest)
			_, _ = io.WriteString(w, `{"status":"error","errorType":"bad_data","error":"parse error at char 5"}`)
			return
		}
		_, _ = io.WriteString(w, `{"status":"success","data":{"resultType":"matrix","result":[{"metric":{"server":"wcs1"},"values":[[100,"1"],[102,"2"]]}]}}`)
	}))
	defer srv.Close()
	p, err := newPromClient(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	rs, err := p.query(context.Background(), "up", false, time.Unix(100, 0), time.Unix(102, 0), 2)
	if err != nil || len(rs) != 1 || len(rs[0].points) != 2 || rs[0].labels["server"] != "wcs1" {
		t.Fatalf("range query: %+v %v", rs, err)
	}
	if _, err := p.query(context.Background(), "bad(", true, time.Time{}, time.Unix(102, 0), 2); err == nil || !strings.Contains(err.Error(), "parse error at char 5") {
		t.Errorf("an error answer: %v", err)
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
