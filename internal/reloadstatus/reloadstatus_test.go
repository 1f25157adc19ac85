package reloadstatus

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

func TestRecord(t *testing.T) {
	start := float64(time.Now().Unix())
	g := New()
	if ok := testutil.ToFloat64(g.ok); ok != 1 {
		t.Fatalf("a new set of gauges reads successful=%v, want 1", ok)
	}
	at := testutil.ToFloat64(g.at)
	if at < start {
		t.Fatalf("success timestamp %v is before the test began (%v)", at, start)
	}
	g.Record(errors.New("line 3: bad key"))
	if ok := testutil.ToFloat64(g.ok); ok != 0 {
		t.Errorf("after a failed reload successful=%v, want 0", ok)
	}
	if got := testutil.ToFloat64(g.at); got != at {
		t.Errorf("a failed reload moved the success timestamp %v → %v", at, got)
	}
	if s := g.Successful(); s != 0 {
		t.Errorf("Successful() = %v after a failed reload, want 0", s)
	}
	g.Record(nil)
	if s := g.Successful(); s != 1 {
		t.Errorf("Successful() = %v after a good reload, want 1", s)
	}
	if ok := testutil.ToFloat64(g.ok); ok != 1 {
		t.Errorf("after a good reload successful=%v, want 1", ok)
	}
	want := `
# HELP lbpilot_config_last_reload_successful Whether the last configuration reload attempt was successful.
# TYPE lbpilot_config_last_reload_successful gauge
lbpilot_config_last_reload_successful 1
`
	if err := testutil.CollectAndCompare(g, strings.NewReader(want), "lbpilot_config_last_reload_successful"); err != nil {
		t.Error(err)
	}
	if n := testutil.CollectAndCount(g); n != 2 {
		t.Errorf("%d series, want 2", n)
	}
}
