package agent

import (
	"errors"
	"strings"
	"testing"
)

func TestReloadSwapsPolicyAndRefusesBadOptions(t *testing.T) {
	ta := newTestAgent(t, nil)
	ta.src.set(sampleWith(map[Dimension]float64{Subscribers: 150}), nil)
	if got := check(t, ta.addr, ""); got != "up 1%\n" {
		t.Fatalf("before the reload: %q", got)
	}
	opts := ta.cur().opts
	raised := opts
	raised.Policy.Thresholds = DefaultThresholds(WCS)
	raised.Policy.Thresholds[Subscribers] = 1000
	if err := ta.Reload(func() (Options, error) { return raised, nil }); err != nil {
		t.Fatal(err)
	}
	if got := check(t, ta.addr, ""); got != "up 100%\n" {
		t.Fatalf("after raising the threshold: %q", got)
	}
	if v := ta.m.reload.Successful(); v != 1 {
		t.Fatalf("reload_successful %v", v)
	}
	for _, c := range []struct {
		name string
		load func() (Options, error)
		want string
	}{
		{"load error", func() (Options, error) { return Options{}, errors.New("config.yml: line 3: unknown key") }, "line 3"},
		{"kind", func() (Options, error) { o := raised; o.Kind = SRS; return o, nil }, "source kind cannot change"},
		{"mode", func() (Options, error) { o := raised; o.Policy.Mode = ModeUpDown; return o, nil }, "mode cannot change"},
		{"no source", func() (Options, error) { o := raised; o.Source = nil; return o, nil }, "no source"},
		{"timeout", func() (Options, error) { o := raised; o.UpstreamTimeout = 0; return o, nil }, "upstream timeout"},
	} {
		t.Run(c.name, func(t *testing.T) {
			err := ta.Reload(c.load)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err %v, want one naming %q", err, c.want)
			}
			if v := ta.m.reload.Successful(); v != 0 {
				t.Fatalf("reload_successful %v after a refused reload", v)
			}
			if got := check(t, ta.addr, ""); got != "up 100%\n" {
				t.Fatalf("a refused reload changed the answer: %q", got)
			}
		})
	}
}
