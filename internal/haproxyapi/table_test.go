package haproxyapi

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

func TestParseTables(t *testing.T) {
	got, err := ParseTables(readFixture(t, "show_table.txt"), 0)
	if err != nil {
		t.Fatal(err)
	}
	want := []StickTable{{Name: "st_str", Type: "string", Size: 100, Used: 0}, {Name: "st_src", Type: "ip", Size: 1024, Used: 1}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("show table:\n got %+v\nwant %+v", got, want)
	}
	got, err = ParseTables(readFixture(t, "show_table_st_src.txt"), 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || len(got[0].Entries) != 1 {
		t.Fatalf("show table st_src: %+v", got)
	}
	e := got[0].Entries[0]
	wantData := []StickData{{Name: "gpc0", Value: 0, Text: "0", Numeric: true}, {Name: "conn_cur", Value: 0, Text: "0", Numeric: true}, {Name: "http_req_cnt", Value: 5, Text: "5", Numeric: true}}
	if e.Key != "127.0.0.1" || e.Use != 0 || e.Exp != 59221 || !reflect.DeepEqual(e.Data, wantData) {
		t.Errorf("entry %+v", e)
	}
}

func TestParseTableEntries(t *testing.T) {
	in := "# table: t, type: string, size:10, used:3\n" +
		"0x1: key=a b use=1 exp=100 shard=0 http_req_rate(10000)=7 server_key=web1 gpc(0)=2\n" +
		"0x2: key=c use=0 exp=50 conn_cnt=1\n" +
		"0x3: key=d use=0 exp=50 conn_cnt=2\n\n"
	got, err := ParseTables([]byte(in), 2)
	if err != nil {
		t.Fatal(err)
	}
	es := got[0].Entries
	if len(es) != 2 {
		t.Fatalf("limit 2 kept %d entries", len(es))
	}
	want := []StickData{{"http_req_rate(10000)", 7, "7", true}, {"server_key", 0, "web1", false}, {"gpc(0)", 2, "2", true}}
	if es[0].Key != "a b" || es[0].Use != 1 || !reflect.DeepEqual(es[0].Data, want) {
		t.Errorf("entry %+v", es[0])
	}
}

func TestParseTablesErrors(t *testing.T) {
	for name, tc := range map[string]struct {
		in   string
		want string
	}{
		"unknown table":  {string(readFixture(t, "show_table_unknown.txt")), `HAProxy refused "show table": No such table`},
		"bad size":       {"# table: t, type: ip, size:big, used:0\n", `table "t": size "big" is not a number`},
		"no colon":       {"# table: t, type ip\n", `field "type ip" has no ':'`},
		"no name":        {"# table: , type: ip\n", "table header without a name"},
		"entry no key":   {"# table: t, type: ip, size:1, used:1\n0x1: use=0\n", "entry without key"},
		"entry no use":   {"# table: t, type: ip, size:1, used:1\n0x1: key=a exp=0\n", "entry without use="},
		"entry no equal": {"# table: t, type: ip, size:1, used:1\n0x1: key=a use=0 junk\n", `field "junk" has no '='`},
	} {
		_, err := ParseTables([]byte(tc.in), 0)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err %v, want %q", name, err, tc.want)
		}
	}
	if _, err := ParseTables([]byte("Unknown command, but maybe one of the following ones is a better match:\n  help\n\n"), 0); !errors.Is(err, ErrUnsupported) {
		t.Errorf("help text: err %v, want ErrUnsupported", err)
	}
}

func TestParseResolvers(t *testing.T) {
	got, err := ParseResolvers(readFixture(t, "show_resolvers.txt"))
	if err != nil {
		t.Fatal(err)
	}
	// HAProxy adds a "default" section from /etc/resolv.conf.
	if len(got) != 4 {
		t.Fatalf("%d nameservers: %+v", len(got), got)
	}
	var names []string
	for _, ns := range got {
		names = append(names, ns.Resolvers+"/"+ns.Name)
	}
	if strings.Join(names, ",") != "dns1/ns1,dns1/ns2,dns2/google,default/10.255.255.53" {
		t.Errorf("nameservers %v", names)
	}
	if len(got[0].Counters) != 15 || got[0].Counters[0] != (Counter{"sent", 53}) || got[0].Counters[14].Name != "outdated" {
		t.Errorf("ns1 counters %+v", got[0].Counters)
	}
	for name, tc := range map[string]struct{ in, want string }{
		"unknown section": {string(readFixture(t, "show_resolvers_unknown.txt")), `HAProxy refused "show resolvers": Can't find that resolvers section`},
		"orphan ns":       {" nameserver a:\n", "nameserver outside a resolvers section"},
		"bad number":      {"Resolvers section r\n nameserver a:\n  sent: x\n", `sent "x" is not a number`},
		"no colon":        {"Resolvers section r\n nameserver a:\n  sent 1\n", `"sent 1" has no ':'`},
	} {
		if _, err := ParseResolvers([]byte(tc.in)); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err %v, want %q", name, err, tc.want)
		}
	}
	if _, err := ParseResolvers([]byte("Unknown command. Please enter one of the following commands only:\n")); !errors.Is(err, ErrUnsupported) {
		t.Errorf("help text: %v", err)
	}
	if ns, err := ParseResolvers(nil); err != nil || len(ns) != 0 {
		t.Errorf("empty output: %v %v", ns, err)
	}
}
