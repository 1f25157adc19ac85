package traffic

import (
	"errors"
	"strings"
	"testing"
)

// validPlan is a small plan every validation case starts from.
const validPlan = `{
  "seed": 7,
  "caps": {"max_concurrent": 100, "max_total": 1000, "max_duration": "1m"},
  "open_timeout": "2s",
  "protocols": {
    "tcp": {"target": "tcp://127.0.0.1:9000", "rate": 5, "mix": {"hold": 0.7, "echo": 0.3},
            "lifetime": {"dist": "uniform", "min": "1s", "max": "3s"}, "streams": 2, "options": {"interval": "50ms"}}
  },
  "phases": [
    {"kind": "steady", "duration": "10s"},
    {"name": "crowd", "kind": "flash-crowd", "factor": 3, "duration": 5},
    {"kind": "node-killed", "node": "wcs1", "duration": "5s",
     "request": {"url": "http://127.0.0.1:18801/lab/fault", "body": {"status": 503}}},
    {"kind": "node-back", "node": "wcs1", "duration": "5s", "request": {"method": "DELETE", "url": "http://localhost:18801/lab/fault"}}
  ]
}`

func TestDecodeValidPlan(t *testing.T) {
	p, err := DecodePlan(strings.NewReader(validPlan), DefaultRegistry())
	if err != nil {
		t.Fatal(err)
	}
	if p.Seed != 7 || p.Caps.MaxConcurrent != 100 || len(p.Phases) != 4 || p.Phases[1].factor() != 3 || p.Phases[0].factor() != 1 {
		t.Errorf("decoded %+v", p)
	}
	if p.Phases[1].label(1) != "crowd" || p.Phases[2].label(2) != "3-node-killed" {
		t.Errorf("labels %q %q", p.Phases[1].label(1), p.Phases[2].label(2))
	}
}

// Each case edits the valid plan; the error must name the field.
func TestPlanValidation(t *testing.T) {
	cases := []struct {
		name, old, new, field string
	}{
		{"zero concurrent", `"max_concurrent": 100`, `"max_concurrent": 0`, "caps.max_concurrent"},
		{"over concurrent", `"max_concurrent": 100`, `"max_concurrent": 100001`, "caps.max_concurrent"},
		{"zero total", `"max_total": 1000`, `"max_total": 0`, "caps.max_total"},
		{"negative total", `"max_total": 1000`, `"max_total": -5`, "caps.max_total"},
		{"over total", `"max_total": 1000`, `"max_total": 10000001`, "caps.max_total"},
		{"no duration", `, "max_duration": "1m"`, ``, "caps.max_duration"},
		{"over duration", `"max_duration": "1m"`, `"max_duration": "25h"`, "caps.max_duration"},
		{"negative open timeout", `"open_timeout": "2s"`, `"open_timeout": "-2s"`, "open_timeout"},
		{"unknown protocol", `"tcp": {"target"`, `"rtsp": {"target"`, "protocols.rtsp"},
		{"negative rate", `"rate": 5`, `"rate": -1`, "protocols.tcp.rate"},
		{"over rate", `"rate": 5`, `"rate": 10001`, "protocols.tcp.rate"},
		{"all rates zero", `"rate": 5`, `"rate": 0`, "protocols"},
		{"non-loopback target", `tcp://127.0.0.1:9000`, `tcp://10.0.0.1:9000`, "protocols.tcp.target"},
		{"public name target", `tcp://127.0.0.1:9000`, `tcp://example.com:9000`, "protocols.tcp.target"},
		{"target no scheme", `tcp://127.0.0.1:9000`, `127.0.0.1:9000`, "protocols.tcp.target"},
		{"target bad URL", `tcp://127.0.0.1:9000`, `tcp://[::1`, "protocols.tcp.target"},
		{"no target", `"target": "tcp://127.0.0.1:9000", `, ``, "protocols.tcp.target"},
		{"negative streams", `"streams": 2`, `"streams": -2`, "protocols.tcp.streams"},
		{"empty mix", `{"hold": 0.7, "echo": 0.3}`, `{}`, "protocols.tcp.mix"},
		{"unknown kind", `"echo": 0.3`, `"publish": 0.3`, "protocols.tcp.mix.publish"},
		{"negative weight", `"echo": 0.3`, `"echo": -0.3`, "protocols.tcp.mix.echo"},
		{"zero weights", `{"hold": 0.7, "echo": 0.3}`, `{"hold": 0}`, "protocols.tcp.mix"},
		{"unknown dist", `"dist": "uniform"`, `"dist": "pareto"`, "protocols.tcp.lifetime.dist"},
		{"uniform no max", `"min": "1s", "max": "3s"`, `"min": "1s"`, "protocols.tcp.lifetime.max"},
		{"uniform negative min", `"min": "1s"`, `"min": "-1s"`, "protocols.tcp.lifetime.min"},
		{"uniform min over max", `"min": "1s"`, `"min": "5s"`, "protocols.tcp.lifetime.min"},
		{"fixed no value", `"dist": "uniform", "min": "1s", "max": "3s"`, `"dist": "fixed"`, "protocols.tcp.lifetime.value"},
		{"exponential no mean", `"dist": "uniform", "min": "1s", "max": "3s"`, `"dist": "exponential", "max": "3s"`, "protocols.tcp.lifetime.mean"},
		{"exponential no cap", `"dist": "uniform", "min": "1s", "max": "3s"`, `"dist": "exponential", "mean": "3s"`, "protocols.tcp.lifetime.max"},
		{"zero phase duration", `"duration": "10s"`, `"duration": "0s"`, "phases[0].duration"},
		{"negative phase duration", `"duration": "10s"`, `"duration": -3`, "phases[0].duration"},
		{"unknown phase kind", `"kind": "steady"`, `"kind": "calm"`, "phases[0].kind"},
		{"flash crowd without factor", `"factor": 3, `, ``, "phases[1].factor"},
		{"negative factor", `"factor": 3`, `"factor": -3`, "phases[1].factor"},
		{"over factor", `"factor": 3`, `"factor": 101`, "phases[1].factor"},
		{"kill without node", `"kind": "node-killed", "node": "wcs1"`, `"kind": "node-killed"`, "phases[2].node"},
		{"request on steady", `{"kind": "steady", "duration": "10s"}`, `{"kind": "steady", "duration": "10s", "request": {"url": "http://127.0.0.1:1/"}}`, "phases[0].request"},
		{"non-loopback request", `http://127.0.0.1:18801/lab/fault", "body"`, `http://192.168.1.5:18801/lab/fault", "body"`, "phases[2].request.url"},
		{"bad method", `"method": "DELETE"`, `"method": "PATCH"`, "phases[3].request.method"},
	}
	reg := DefaultRegistry()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			src := validPlan
			if !strings.Contains(src, c.old) {
				t.Fatalf("%q not in the plan", c.old)
			}
			src = strings.Replace(src, c.old, c.new, 1)
			_, err := DecodePlan(strings.NewReader(src), reg)
			if err == nil {
				t.Fatal("accepted")
			}
			var fe *FieldError
			if !errors.As(err, &fe) || fe.Field != c.field {
				t.Fatalf("error %v, want one naming %s", err, c.field)
			}
			if !strings.HasPrefix(err.Error(), c.field+": ") {
				t.Errorf("message %q does not start with the field", err)
			}
		})
	}
}

func TestPlanEmptyLists(t *testing.T) {
	reg := DefaultRegistry()
	for field, mut := range map[string]func(*Plan){
		"protocols": func(p *Plan) { p.Protocols = nil },
		"phases":    func(p *Plan) { p.Phases = nil },
	} {
		p, err := DecodePlan(strings.NewReader(validPlan), reg)
		if err != nil {
			t.Fatal(err)
		}
		mut(p)
		var fe *FieldError
		if err := p.Validate(reg); !errors.As(err, &fe) || fe.Field != field {
			t.Errorf("%s: got %v", field, err)
		}
	}
}

func TestDecodeRejects(t *testing.T) {
	for _, c := range []struct{ name, src, want string }{
		{"unknown field", strings.Replace(validPlan, `"seed": 7`, `"seed": 7, "sead": 1`, 1), "unknown field"},
		{"trailing data", validPlan + `{}`, "data after the plan"},
		{"not JSON", `seed: 7`, "plan:"},
		{"bad duration string", strings.Replace(validPlan, `"max_duration": "1m"`, `"max_duration": "1 minute"`, 1), "plan:"},
		{"bad duration type", strings.Replace(validPlan, `"max_duration": "1m"`, `"max_duration": true`, 1), "want \"90s\""},
		{"huge duration", strings.Replace(validPlan, `"max_duration": "1m"`, `"max_duration": 1e300`, 1), "want \"90s\""},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := DecodePlan(strings.NewReader(c.src), DefaultRegistry())
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %v, want %q", err, c.want)
			}
		})
	}
}

func TestRequestBodyMustBeJSON(t *testing.T) {
	p, err := DecodePlan(strings.NewReader(validPlan), DefaultRegistry())
	if err != nil {
		t.Fatal(err)
	}
	p.Phases[2].Request.Body = []byte("{nope")
	var fe *FieldError
	if err := p.Validate(DefaultRegistry()); !errors.As(err, &fe) || fe.Field != "phases[2].request.body" {
		t.Fatalf("got %v", err)
	}
}

func TestLoopbackHosts(t *testing.T) {
	for _, u := range []string{"tcp://127.0.0.1:1", "tcp://127.9.8.7:1", "ws://[::1]:8080/", "http://localhost:80/x", "rtmp://LOCALHOST/live"} {
		if err := checkLoopbackURL(u); err != nil {
			t.Errorf("%s: %v", u, err)
		}
	}
	for _, u := range []string{"tcp://128.0.0.1:1", "tcp://0.0.0.0:1", "ws://[::2]:1/", "http://localhost.example.com/", "mqtt://10.1.1.1:1883", ""} {
		if err := checkLoopbackURL(u); err == nil {
			t.Errorf("%s accepted", u)
		}
	}
}

func TestDurationJSON(t *testing.T) {
	var d Duration
	if err := d.UnmarshalJSON([]byte(`1.5`)); err != nil || d != Duration(1500e6) {
		t.Errorf("%v %v", d, err)
	}
	b, err := Duration(90e9).MarshalJSON()
	if err != nil || string(b) != `"1m30s"` {
		t.Errorf("%s %v", b, err)
	}
}
