package collectors

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

type fakeCollector struct{ err error }

var fakeDesc = prometheus.NewDesc("fake_value", "A value.", nil, nil)

func (fakeCollector) Describe(ch chan<- *prometheus.Desc) { ch <- fakeDesc }
func (f fakeCollector) Update(_ context.Context, ch chan<- prometheus.Metric) error {
	ch <- prometheus.MustNewConstMetric(fakeDesc, prometheus.GaugeValue, 3)
	return f.err
}

func TestPrometheusAdapter(t *testing.T) {
	if err := testutil.CollectAndCompare(Prometheus(fakeCollector{}), strings.NewReader("# HELP fake_value A value.\n# TYPE fake_value gauge\nfake_value 3\n")); err != nil {
		t.Fatal(err)
	}
	// An Update error must surface to a test, not vanish.
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(Prometheus(fakeCollector{err: errors.New("upstream down")}))
	if _, err := reg.Gather(); err == nil || !strings.Contains(err.Error(), "upstream down") {
		t.Fatalf("Gather err = %v", err)
	}
}
