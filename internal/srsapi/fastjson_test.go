package srsapi

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/lbpilot/lbpilot/internal/upstream"
)

func slowClients(body []byte) (*Envelope, []Client, error) {
	var a answer
	env, err := decode("u", body, &a, "clients")
	if err != nil {
		return nil, nil, err
	}
	c := *a.Clients
	for i := range c {
		c[i].Type = upstream.ValidUTF8(c[i].Type)
	}
	return env, c, nil
}

func slowStreams(body []byte) (*Envelope, []Stream, error) {
	var a answer
	env, err := decode("u", body, &a, "streams")
	if err != nil {
		return nil, nil, err
	}
	return env, *a.Streams, nil
}

// TestFastPathTakesRealAnswers: every captured list answer goes through
// the fast path, or for streams the library (else they would not make
// scrapes faster).
func TestFastPathTakesRealAnswers(t *testing.T) {
	files, _ := filepath.Glob("testdata/v*/*/*/*.json")
	n := 0
	for _, f := range files {
		b, _ := os.ReadFile(f)
		base := filepath.Base(f)
		switch {
		case strings.HasPrefix(base, "clients"):
			if _, _, ok := fastClients(b); !ok {
				t.Errorf("%s: fast path refused a real answer", f)
			}
			n++
		case strings.HasPrefix(base, "streams"):
			if _, ok := libDecode(b, &answer{}, "streams"); !ok {
				t.Errorf("%s: library path refused a real answer", f)
			}
			n++
		}
	}
	if n < 50 {
		t.Errorf("only %d list answers", n)
	}
}

// TestFastPathGivesUp: answers whose encoding/json reading is subtle go
// to encoding/json, which then decides.
func TestFastPathGivesUp(t *testing.T) {
	for _, body := range []string{
		`{"code":2048}`,
		`{"code":0.0,"clients":[]}`,
		`{"code":0,"clients":[],"clients":[]}`,
		`{"code":0,"Clients":[]}`,
		`{"code":0,"clients":[{"id":"a","ID":"b"}]}`,
		`{"code":0,"clients":[{"id":"a","id":"b"}]}`,
		`{"code":0,"clients":[null]}`,
		`{"code":0,"clients":[{"publish":"yes"}]}`,
		`{"code":0,"clients":[{"alive":1e999}]}`,
		`{"code":0,"clients":[],"streams":5}`,
		`{"code":0,"clients":[]} x`,
		`{"code":0,"clients":[{"id":1e999}]}`,
		`{"code":0,"clients":[{"k\u0069nd":1}]}`,
	} {
		if _, _, ok := fastClients([]byte(body)); ok {
			t.Errorf("fast path took %s", body)
		}
	}
}

// FuzzFastPathAgrees is differential: whenever the fast path (clients) or
// goccy/go-json (streams) accepts a body, encoding/json must accept it
// too and read the same values.
func FuzzFastPathAgrees(f *testing.F) {
	files, _ := filepath.Glob("testdata/v*/*/*/*.json")
	for _, file := range files {
		base := filepath.Base(file)
		if strings.HasPrefix(base, "clients") || strings.HasPrefix(base, "streams") {
			b, _ := os.ReadFile(file)
			f.Add(b)
		}
	}
	f.Add([]byte(`{"code":0,"clients":[{"id":"a\u00e9","type":"x\ty","alive":1.5e3,"publish":null}]}`))
	f.Add([]byte(`{"code":0,"streams":[{"id":355162,"vhost":"v","name":"a\ud800b","NAME":"c","clients":-1,"clients":2,"video":null,"audio":{"codec":"aac"},"publish":{"active":true,"cid":7}}]}`))
	f.Add([]byte("{\"code\":0,\"streams\":[{\"id\":\"a\",\"name\":\"x\xff\xfey\"}]}"))
	f.Fuzz(func(t *testing.T, body []byte) {
		if env, list, ok := fastClients(body); ok {
			env2, list2, err := slowClients(body)
			if err != nil {
				t.Fatalf("fast path accepted what encoding/json refuses (%v): %q", err, body)
			}
			if !reflect.DeepEqual(env, env2) || !reflect.DeepEqual(list, list2) {
				t.Fatalf("clients differ:\nfast %+v %+v\nslow %+v %+v\n%q", env, list, env2, list2, body)
			}
		}
		fast, fastAlive := map[ClientKey]int{}, map[ID]float64{}
		if n, ok := countClientsFast(body, &pageState{skip: map[ID]bool{}}, fast, fastAlive, interner{}); ok {
			_, list, err := slowClients(body)
			if err != nil {
				t.Fatalf("counting path accepted what encoding/json refuses (%v): %q", err, body)
			}
			slow, slowAlive := map[ClientKey]int{}, map[ID]float64{}
			CountClients(list, slow)
			for _, c := range list {
				slowAlive[c.ID] = c.Alive
			}
			if n != len(list) || !reflect.DeepEqual(fast, slow) {
				t.Fatalf("counts differ: fast %d %v, slow %d %v\n%q", n, fast, len(list), slow, body)
			}
			if !reflect.DeepEqual(fastAlive, slowAlive) {
				t.Fatalf("alive differs: fast %v, slow %v\n%q", fastAlive, slowAlive, body)
			}
		}
		var a answer
		if env, ok := libDecode(body, &a, "streams"); ok {
			list := *a.Streams
			env2, list2, err := slowStreams(body)
			if err != nil {
				t.Fatalf("library path accepted what encoding/json refuses (%v): %q", err, body)
			}
			if !reflect.DeepEqual(env, env2) || !reflect.DeepEqual(list, list2) {
				t.Fatalf("streams differ:\nfast %+v %+v\nslow %+v %+v\n%q", env, list, env2, list2, body)
			}
		}
	})
}
