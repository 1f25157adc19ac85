package haproxyapi

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/csv"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

func readFixture(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// stripHTTPHeaders removes the "HTTP/1.1 200 …\r\n…\r\n\r\n" block curl -D kept.
func stripHTTPHeaders(b []byte) []byte {
	if !bytes.HasPrefix(b, []byte("HTTP/")) {
		return b
	}
	if i := bytes.Index(b, []byte("\r\n\r\n")); i >= 0 {
		return b[i+4:]
	}
	if i := bytes.Index(b, []byte("\n\n")); i >= 0 {
		return b[i+2:]
	}
	return b
}

// TestParseStatMatchesEncodingCSV checks every field of every CSV fixture
// against Go's encoding/csv reading the same bytes.
func TestParseStatMatchesEncodingCSV(t *testing.T) {
	files, _ := filepath.Glob("testdata/*.csv")
	if len(files) < 20 {
		t.Fatalf("only %d CSV fixtures found", len(files))
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			data := stripHTTPHeaders(readFixture(t, filepath.Base(f)))
			st, err := ParseStat(data)
			if err != nil {
				t.Fatal(err)
			}
			body := data
			if i := bytes.Index(data, []byte("\n\n")); i >= 0 {
				body = data[:i+1] // HAProxy's terminating empty line; the HTTP page has none
			}
			r := csv.NewReader(bytes.NewReader(body))
			r.FieldsPerRecord = -1
			recs, err := r.ReadAll()
			if err != nil {
				t.Fatal(err)
			}
			hdr := recs[0]
			hdr[0] = strings.TrimPrefix(hdr[0], "# ")
			if st.Rows() != len(recs)-1 {
				t.Fatalf("rows = %d, encoding/csv = %d", st.Rows(), len(recs)-1)
			}
			for c, name := range st.Columns() {
				if hdr[c] != name {
					t.Fatalf("column %d = %q, want %q", c, name, hdr[c])
				}
			}
			for row, rec := range recs[1:] {
				for c := range st.Columns() {
					want := ""
					if c < len(rec) {
						want = rec[c]
					}
					if got := st.String(row, c); got != want {
						t.Fatalf("row %d col %s = %q, want %q", row, st.Columns()[c], got, want)
					}
				}
			}
		})
	}
}

func TestParseStatShapes(t *testing.T) {
	st, err := ParseStat(readFixture(t, "show_stat.csv"))
	if err != nil {
		t.Fatal(err)
	}
	if n := len(st.Columns()); n != 128 {
		t.Errorf("2.6.12 header has %d named columns, want 128 (129 with the trailing comma)", n)
	}
	if st.Col("pxname") != 0 || st.Col("uweight") != 99 || st.Col("no_such") != -1 {
		t.Errorf("column lookup wrong: pxname=%d uweight=%d no_such=%d", st.Col("pxname"), st.Col("uweight"), st.Col("no_such"))
	}
	kinds := map[RowType]int{}
	for r := 0; r < st.Rows(); r++ {
		kinds[st.Type(r)]++
	}
	if kinds[TypeFrontend] != 3 || kinds[TypeBackend] != 5 || kinds[TypeServer] != 13 {
		t.Errorf("row types = %v", kinds)
	}
	if v, ok := st.Float(0, st.Col("slim")); !ok || v != 9975 {
		t.Errorf("stats slim = %v %v", v, ok)
	}
	if _, ok := st.Float(0, st.Col("qcur")); ok {
		t.Error("empty qcur parsed as a number")
	}
	if st.Bytes(0, -1) != nil || st.Bytes(999, 0) != nil || st.Bytes(-1, 0) != nil {
		t.Error("out-of-range access returned data")
	}
}

func TestParseStatQuotedAgentDescription(t *testing.T) {
	st, err := ParseStat(readFixture(t, "csv_quoting_agent_desc_with_comma_quote.csv"))
	if err != nil {
		t.Fatal(err)
	}
	if got := st.Get(0, "last_agt"); got != `via agent : down (db "primary", unreachable)` {
		t.Errorf("last_agt = %q", got)
	}
	if got := st.Get(0, "status"); got != "DOWN (agent)" {
		t.Errorf("status after the quoted field = %q", got)
	}
}

func TestParseStatEdgeCases(t *testing.T) {
	hdr := "# pxname,svname,status,type,\n"
	tests := []struct {
		name, in string
		rows     int
		check    func(t *testing.T, s *Stat)
		wantErr  string
	}{
		{name: "crlf", in: strings.ReplaceAll(hdr+"bk,web1,UP,2,\n\n", "\n", "\r\n"), rows: 1,
			check: func(t *testing.T, s *Stat) { expectField(t, s, 0, "type", "2") }},
		{name: "short row", in: hdr + "bk,web1\n\n", rows: 1,
			check: func(t *testing.T, s *Stat) {
				expectField(t, s, 0, "status", "")
				expectField(t, s, 0, "svname", "web1")
			}},
		{name: "long row", in: hdr + "bk,web1,UP,2,x,y,z,\n\n", rows: 1,
			check: func(t *testing.T, s *Stat) { expectField(t, s, 0, "type", "2") }},
		{name: "no final empty line", in: hdr + "bk,web1,UP,2,", rows: 1},
		{name: "stops at empty line", in: hdr + "bk,a,UP,2,\n\ngarbage,x,y,z\n", rows: 1},
		{name: "unterminated quote", in: hdr + "bk,\"web1,UP,2,\n\n", rows: 1,
			check: func(t *testing.T, s *Stat) { expectField(t, s, 0, "svname", "web1,UP,2,") }},
		{name: "quoted empty", in: hdr + "bk,\"\",UP,2\n\n", rows: 1,
			check: func(t *testing.T, s *Stat) { expectField(t, s, 0, "svname", ""); expectField(t, s, 0, "status", "UP") }},
		{name: "permission denied", in: "Permission denied\n\n", wantErr: `HAProxy said "Permission denied"`},
		{name: "no such proxy", in: "No such proxy.\n\n", wantErr: `"No such proxy."`},
		{name: "empty", in: "", wantErr: "HAProxy said nothing"},
		{name: "empty line before header", in: "\n" + hdr + "bk,web1,UP,2,\n\n", rows: 1,
			check: func(t *testing.T, s *Stat) { expectField(t, s, 0, "svname", "web1") }},
		{name: "crlf empty lines before header", in: "\r\n\r\n" + strings.ReplaceAll(hdr+"bk,web1,UP,2,\n\n", "\n", "\r\n"), rows: 1},
		{name: "only empty lines", in: "\n\n\r\n", wantErr: "HAProxy said nothing"},
		{name: "empty line before an error", in: "\nPermission denied\n\n", wantErr: `HAProxy said "Permission denied"`},
		{name: "wrong header", in: "# foo,bar\n\n", wantErr: "does not start with pxname"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := ParseStat([]byte(tt.in))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if s.Rows() != tt.rows {
				t.Fatalf("rows = %d, want %d", s.Rows(), tt.rows)
			}
			if tt.check != nil {
				tt.check(t, s)
			}
		})
	}
}

func expectField(t *testing.T, s *Stat, row int, col, want string) {
	t.Helper()
	if got := s.Get(row, col); got != want {
		t.Errorf("%s = %q, want %q", col, got, want)
	}
}

func TestParseNumber(t *testing.T) {
	tests := []struct {
		in   string
		want float64
		ok   bool
	}{
		{"0", 0, true}, {"42", 42, true}, {"-1", -1, true}, {"1.5", 1.5, true}, {"", 0, false}, {"-", 0, false},
		{"abc", 0, false}, {"18446744073709551615", 18446744073709551615, true}, {"99999999999999999999999", 1e23, true},
	}
	for _, tt := range tests {
		got, ok := ParseNumber([]byte(tt.in))
		if ok != tt.ok || got != tt.want {
			t.Errorf("ParseNumber(%q) = %v, %v", tt.in, got, ok)
		}
	}
}

// TestStatusZooMatchesPromex maps every server status of the status-zoo
// snapshot and checks the state against what HAProxy's own exporter
// reported at the same moment.
func TestStatusZooMatchesPromex(t *testing.T) {
	st, err := ParseStat(readFixture(t, "status_zoo_show_stat.csv"))
	if err != nil {
		t.Fatal(err)
	}
	promex := map[string]string{} // proxy/server -> state with value 1
	re := regexp.MustCompile(`^haproxy_server_status\{proxy="([^"]+)",server="([^"]+)",state="([A-Z]+)"\} 1$`)
	sc := bufio.NewScanner(bytes.NewReader(readFixture(t, "status_zoo_promex_metrics.txt")))
	for sc.Scan() {
		if m := re.FindStringSubmatch(sc.Text()); m != nil {
			promex[m[1]+"/"+m[2]] = m[3]
		}
	}
	seen := map[string]bool{}
	for r := 0; r < st.Rows(); r++ {
		if st.Type(r) != TypeServer {
			continue
		}
		key := st.Get(r, "pxname") + "/" + st.Get(r, "svname")
		raw := st.Get(r, "status")
		got := ParseStatus(raw)
		want, ok := promex[key]
		if !ok {
			t.Fatalf("promex has no status for %s", key)
		}
		if got.State != want {
			t.Errorf("%s: status %q -> %q, promex says %q", key, raw, got.State, want)
		}
		seen[raw] = true
	}
	for _, s := range []string{"DRAIN (agent)", "DOWN (agent)", "MAINT (via bk_web/web1)", "NOLB", "MAINT", "DRAIN", "DOWN", "UP"} {
		if !seen[s] {
			t.Errorf("the zoo fixture no longer contains %q", s)
		}
	}
}

func TestParseStatus(t *testing.T) {
	tests := []struct {
		in   string
		want Status
	}{
		{"UP", Status{State: "UP"}},
		{"UP 1/2", Status{State: "UP", Transition: true}},
		{"DOWN 1/2", Status{State: "DOWN", Transition: true}},
		{"DOWN", Status{State: "DOWN"}},
		{"DOWN (agent)", Status{State: "DOWN", Agent: true}},
		{"DRAIN", Status{State: "DRAIN"}},
		{"DRAIN 1/2", Status{State: "DRAIN", Transition: true}},
		{"DRAIN (agent)", Status{State: "DRAIN", Agent: true}},
		{"MAINT", Status{State: "MAINT"}},
		{"MAINT (via bk_web/web1)", Status{State: "MAINT", Via: "bk_web/web1"}},
		{"MAINT (resolution)", Status{State: "MAINT", Resolution: true}},
		{"NOLB", Status{State: "NOLB"}},
		{"NOLB 1/3", Status{State: "NOLB", Transition: true}},
		{"no check", Status{State: "UP", NoCheck: true}},
		{"OPEN", Status{State: "UP"}},
		{"FULL", Status{State: "UP"}},
		{"STOP", Status{State: "DOWN"}},
		{"UP (3/5)", Status{State: "UP"}},
		{"", Status{}},
		{"WEIRD", Status{}},
		{"UP sideways", Status{}},
	}
	for _, tt := range tests {
		if got := ParseStatus(tt.in); got != tt.want {
			t.Errorf("ParseStatus(%q) = %+v, want %+v", tt.in, got, tt.want)
		}
	}
}

func TestParseServersState(t *testing.T) {
	ss, err := ParseServersState(readFixture(t, "status_zoo_show_servers_state.txt"))
	if err != nil {
		t.Fatal(err)
	}
	if len(ss.Servers) != 13 {
		t.Fatalf("servers = %d", len(ss.Servers))
	}
	web1, _ := ss.Find(ServerRef{"bk_web", "web1"})
	if web1.Admin.State() != StateMaint || web1.OpState != OpStopped || web1.Port != 28181 || web1.Addr != "127.0.0.1" {
		t.Errorf("web1 = %+v", web1)
	}
	web2, _ := ss.Find(ServerRef{"bk_web", "web2"})
	if web2.Admin.State() != StateDrain || web2.Usable() {
		t.Errorf("web2 = %+v usable=%v", web2, web2.Usable())
	}
	agent, ok := ss.Find(ServerRef{"bk_agent", "app1"})
	if !ok || !agent.AgentEnabled() {
		t.Errorf("bk_agent/app1 agent not enabled: %+v", agent)
	}
	if _, ok := ss.Find(ServerRef{"bk_web", "nosuch"}); ok {
		t.Error("found a server that does not exist")
	}

	// A drained DOWN server: op state stopped, admin drain (both visible).
	dd, err := ParseServersState(readFixture(t, "after_drain_down_server_servers_state.txt"))
	if err != nil {
		t.Fatal(err)
	}
	web3, _ := dd.Find(ServerRef{"bk_web", "web3"})
	if web3.OpState != OpStopped || web3.Admin != AdminForcedDrain {
		t.Errorf("drained DOWN web3 = %+v", web3)
	}
	// Config-disabled server: FMAINT|CMAINT = 5.
	cd, err := ParseServersState(readFixture(t, "show_servers_state.txt"))
	if err != nil {
		t.Fatal(err)
	}
	web5, _ := cd.Find(ServerRef{"bk_web", "web5"})
	if web5.Admin != AdminForcedMaint|AdminConfigMaint || web5.Admin.State() != StateMaint {
		t.Errorf("config-disabled web5 admin = %d", web5.Admin)
	}
}

func TestParseServersStateErrors(t *testing.T) {
	hdr := "1\n# be_id be_name srv_id srv_name srv_addr srv_op_state srv_admin_state srv_uweight srv_iweight\n"
	tests := []struct{ name, in, want string }{
		{"unknown backend", string(readFixture(t, "show_servers_state_nonexistent_backend.txt")), `"Can't find backend."`},
		{"permission", "Permission denied\n\n", `"Permission denied"`},
		{"version 2", "2\n# be_id\n\n", "unsupported format version 2"},
		{"no header", "1\n5 bk 1 s\n\n", "missing header"},
		{"header lacks admin", "1\n# be_id be_name srv_name srv_op_state srv_uweight\n\n", "lacks srv_admin_state"},
		{"bad number", hdr + "5 bk 1 s 127.0.0.1 x 0 1 1\n\n", `srv_op_state="x"`},
		{"short line", hdr + "5\n\n", "too few fields"},
	}
	for _, tt := range tests {
		_, err := ParseServersState([]byte(tt.in))
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: err = %v, want %q", tt.name, err, tt.want)
		}
	}
	// HAProxy 1.8 prints fewer columns; missing ones read as zero.
	old := "1\n# be_id be_name srv_id srv_name srv_addr srv_op_state srv_admin_state srv_uweight srv_iweight srv_time_since_last_change srv_check_status srv_check_result srv_check_health srv_check_state srv_agent_state bk_f_forced_id srv_f_forced_id\n3 bk 1 s1 10.0.0.1 2 8 100 100 5 15 3 4 6 0 0 0\n\n"
	ss, err := ParseServersState([]byte(old))
	if err != nil || len(ss.Servers) != 1 || ss.Servers[0].Admin.State() != StateDrain || ss.Servers[0].Port != 0 {
		t.Errorf("1.8 format: %+v %v", ss, err)
	}
}

func TestParseInfo(t *testing.T) {
	info, err := ParseInfo(readFixture(t, "show_info.txt"))
	if err != nil {
		t.Fatal(err)
	}
	if info["Version"] != "2.6.12-1+deb12u4" || info["Unstoppable Jobs"] != "1" {
		t.Errorf("info = %v", info)
	}
	if v, ok := info.Float("Uptime_sec"); !ok || v != 33 {
		t.Errorf("Uptime_sec = %v %v", v, ok)
	}
	if _, err := ParseInfo([]byte("Permission denied\n\n")); err == nil || !strings.Contains(err.Error(), "Permission denied") {
		t.Errorf("error output accepted: %v", err)
	}
}

// TestStatParserIncremental feeds every CSV fixture in uneven pieces, as
// the socket delivers it, and requires the same table as one-shot parsing.
func TestStatParserIncremental(t *testing.T) {
	files, _ := filepath.Glob("testdata/*.csv")
	for _, f := range files {
		data := stripHTTPHeaders(readFixture(t, filepath.Base(f)))
		want, err := ParseStat(data)
		if err != nil {
			t.Fatal(err)
		}
		for _, step := range []int{1, 7, 100, 4096} {
			got := parseInSteps(t, data, step)
			compareStats(t, filepath.Base(f), want, got)
		}
	}
}

func parseInSteps(t testing.TB, data []byte, step int) *Stat {
	t.Helper()
	p := &statParser{}
	// Copy into a growing buffer so earlier slices may be reallocated.
	var buf []byte
	for i := 0; i < len(data); i += step {
		buf = append(buf, data[i:min(i+step, len(data))]...)
		if err := p.advance(buf, false); err != nil {
			t.Fatal(err)
		}
	}
	if err := p.advance(buf, true); err != nil {
		t.Fatal(err)
	}
	return p.stat(buf)
}

func compareStats(t testing.TB, name string, want, got *Stat) {
	t.Helper()
	if got.Rows() != want.Rows() || len(got.Columns()) != len(want.Columns()) {
		t.Fatalf("%s: %d rows/%d cols, want %d/%d", name, got.Rows(), len(got.Columns()), want.Rows(), len(want.Columns()))
	}
	for r := 0; r < want.Rows(); r++ {
		for c := range want.Columns() {
			if !bytes.Equal(got.Bytes(r, c), want.Bytes(r, c)) {
				t.Fatalf("%s row %d col %d: %q, want %q", name, r, c, got.Bytes(r, c), want.Bytes(r, c))
			}
		}
	}
}

func TestParseStatColumns(t *testing.T) {
	data := readFixture(t, "show_stat.csv")
	all, _ := ParseStat(data)
	st, err := ParseStatColumns(data, []string{"status", "scur", "no_such_column"})
	if err != nil {
		t.Fatal(err)
	}
	if len(st.cols) != 5 { // pxname, svname, type are always kept
		t.Errorf("kept %d columns, want 5", len(st.cols))
	}
	for r := 0; r < all.Rows(); r++ {
		for _, c := range []string{"pxname", "svname", "type", "status", "scur"} {
			if st.Get(r, c) != all.Get(r, c) {
				t.Fatalf("row %d %s = %q, want %q", r, c, st.Get(r, c), all.Get(r, c))
			}
		}
		if st.Get(r, "bin") != "" {
			t.Fatalf("unkept column bin returned %q", st.Get(r, "bin"))
		}
	}
}

func TestParseStatRefusesHostileShortRows(t *testing.T) {
	hdr := "# pxname," + strings.Repeat("c,", 3000) + "\n"
	body := strings.Repeat("x\n", 5000)
	_, err := ParseStat([]byte(hdr + body))
	if err == nil || !strings.Contains(err.Error(), "much shorter than the") {
		t.Fatalf("err = %v", err)
	}
	if _, err := ParseStat([]byte("# pxname," + strings.Repeat("c,", maxColumns) + "\n")); err == nil || !strings.Contains(err.Error(), "too many") {
		t.Fatalf("wide header: %v", err)
	}
}

func TestServerStateFailing(t *testing.T) {
	for _, tc := range []struct {
		state, result int
		want          bool
	}{
		{CheckConfigured | CheckEnabled, CheckFailed, true},
		{CheckConfigured | CheckEnabled, 3, false}, // passed
		{CheckConfigured, CheckFailed, false},      // checks disabled
		{0, CheckFailed, false},                    // no checks
		{CheckConfigured | CheckEnabled | CheckInProgress, CheckFailed, true},
	} {
		if got := (ServerState{CheckState: tc.state, CheckResult: tc.result}).Failing(); got != tc.want {
			t.Errorf("check state %#x, result %d: failing %v, want %v", tc.state, tc.result, got, tc.want)
		}
	}
}

// TestParseStatOddFields covers the fields the three-byte form cannot
// hold (quoted, longer than 255 bytes, starting past 64 KiB into a long
// line) next to ordinary ones, parsed whole and in small steps.
func TestParseStatOddFields(t *testing.T) {
	long := strings.Repeat("x", 70000)
	data := "# pxname,svname,desc,scur,\n" +
		"bk,s1,a,9\n" + // last field ends the line
		"bk,s2,b,8,\n" + // ordinary
		"bk,s3,c,7\r\n" + // CRLF
		"bk,\"s,4\",\"d\"\"e\",6,\n" + // quoted, escaped
		"bk,s5," + long + ",5,\n" + // scur starts past 64 KiB
		"bk,s6\n" + // short row
		"bk,s7,,,\n" + // empty fields
		"bk,s8,f,4,5,6,\n" + // longer than the header
		"\n"
	want := [][4]string{
		{"bk", "s1", "a", "9"}, {"bk", "s2", "b", "8"}, {"bk", "s3", "c", "7"}, {"bk", "s,4", "d\"e", "6"},
		{"bk", "s5", long, "5"}, {"bk", "s6", "", ""}, {"bk", "s7", "", ""}, {"bk", "s8", "f", "4"},
	}
	whole, err := ParseStat([]byte(data))
	if err != nil {
		t.Fatal(err)
	}
	for name, st := range map[string]*Stat{"whole": whole, "steps": parseInSteps(t, []byte(data), 7)} {
		if st.Rows() != len(want) {
			t.Fatalf("%s: %d rows, want %d", name, st.Rows(), len(want))
		}
		for r, w := range want {
			for c, v := range w {
				if got := st.String(r, c); got != v {
					t.Errorf("%s row %d col %d: %.20q, want %.20q", name, r, c, got, v)
				}
			}
		}
	}
	// Only the fields that need it use the odd lists.
	odd := 0
	for _, o := range whole.odd {
		odd += len(o)
	}
	if odd != 4 { // s5's desc (long) and scur (past 64 KiB), "s,4", "d""e"
		t.Errorf("%d odd fields, want 4", odd)
	}
}

// AppendFields is Bytes for many rows at once: the same bytes, each
// field with its length, for every kind of field the table stores (near,
// quoted, far past 64 KiB, empty, missing from a short row), for a column
// not kept, and for rows out of range.
func TestAppendFieldsMatchesBytes(t *testing.T) {
	long := strings.Repeat("x", 70000)
	data := "# pxname,svname,desc,scur,\n" +
		"bk,s1,a,9\n" + "bk,\"s,4\",\"d\"\"e\",6,\n" + "bk,s5," + long + ",5,\n" + "bk,s6\n" + "bk,s7,,,\n" + "\n"
	whole, err := ParseStat([]byte(data))
	if err != nil {
		t.Fatal(err)
	}
	kept, err := ParseStatColumns([]byte(data), []string{"pxname", "svname", "scur"})
	if err != nil {
		t.Fatal(err)
	}
	b := NewStatBuilder([]string{"pxname", "svname", "desc", "scur"}, 5, 0)
	for c := range 4 {
		for r := range 5 {
			b.Append(c, whole.Bytes(r, c))
		}
	}
	built, err := b.Stat()
	if err != nil {
		t.Fatal(err)
	}
	rows := []int{4, 0, 2, 1, 3, -1, 99, 2}
	for name, st := range map[string]*Stat{"whole": whole, "steps": parseInSteps(t, []byte(data), 7), "desc not kept": kept, "built": built} {
		for col := -1; col <= 5; col++ {
			var want []byte
			for _, r := range rows {
				f := st.Bytes(r, col)
				want = binary.AppendUvarint(want, uint64(len(f)))
				want = append(want, f...)
			}
			if got := st.AppendFields([]byte("prefix"), col, rows); !bytes.Equal(got, append([]byte("prefix"), want...)) {
				t.Errorf("%s, column %d: %.60q, want %.60q", name, col, got, want)
			}
		}
	}
}

// parseRowWith parses line as the first row under a header of width
// columns, every other one kept, with parse (one of parseRow's paths).
func parseRowWith(t testing.TB, width int, line []byte, fast bool) (*Stat, error) {
	t.Helper()
	var hdr strings.Builder
	hdr.WriteString("# pxname")
	for c := 1; c < width; c++ {
		fmt.Fprintf(&hdr, ",c%d", c)
	}
	p := &statParser{}
	for c := 0; c < width; c += 2 {
		p.keep = append(p.keep, fmt.Sprintf("c%d", c))
	}
	data := []byte(hdr.String() + "\n")
	if err := p.advance(data, false); err != nil {
		t.Fatal(err)
	}
	s := &p.s
	s.rowAt = grow(s.rowAt, 1)
	for i := range s.cols {
		s.cols[i] = grow(s.cols[i], 1)[:1]
		s.lens[i] = grow(s.lens[i], 1)[:1]
	}
	start := len(data)
	data = append(data, line...)
	parse := s.parseRowQuoted
	if fast {
		parse = s.parseRowFast
	}
	err := parse(data, start, len(data))
	s.rows = 1
	s.data = data
	return s, err
}

// The comma-finding path and the general one record the same fields, for
// lines of commas, minus signs right after commas (which a careless
// zero-byte test takes for commas), fields longer than a three-byte
// field holds, rows shorter and longer than the header, trailing commas.
func TestParseRowPathsAgree(t *testing.T) {
	rnd := rand.New(rand.NewPCG(1, 2))
	alphabet := []byte(",,,-1a9 \x00\xff\x2d\x2c\x2b")
	var lines [][]byte
	for _, l := range []string{"", ",", ",,", "a", "a,", "-1,-1,-", ",-,-,-,-,-,-,-,-,-,-", strings.Repeat("9", 300) + ",x", strings.Repeat("a,", 40)} {
		lines = append(lines, []byte(l))
	}
	for range 3000 {
		n := rnd.IntN(140)
		if rnd.IntN(20) == 0 {
			n = 256 + rnd.IntN(600)
		}
		l := make([]byte, n)
		for i := range l {
			l[i] = alphabet[rnd.IntN(len(alphabet))]
		}
		lines = append(lines, l)
	}
	for _, l := range lines {
		for _, width := range []int{1, 5, 33} {
			checkRowPaths(t, width, l)
		}
	}
}

func checkRowPaths(t *testing.T, width int, line []byte) {
	t.Helper()
	if bytes.ContainsAny(line, "\"\n") {
		return // not the fast path's
	}
	fast, errF := parseRowWith(t, width, line, true)
	slow, errS := parseRowWith(t, width, line, false)
	if (errF == nil) != (errS == nil) || fast.padded != slow.padded {
		t.Fatalf("width %d, %q: errors %v / %v, padded %d / %d", width, line, errF, errS, fast.padded, slow.padded)
	}
	for c := range width {
		if f, s := fast.Bytes(0, c), slow.Bytes(0, c); !bytes.Equal(f, s) || (f == nil) != (s == nil) {
			t.Fatalf("width %d, %q: column %d %q, general path %q", width, line, c, f, s)
		}
	}
	for k := range fast.cols {
		if fast.cols[k][0] != slow.cols[k][0] || fast.lens[k][0] != slow.lens[k][0] || fmt.Sprint(fast.odd[k]) != fmt.Sprint(slow.odd[k]) {
			t.Fatalf("width %d, %q: kept column %d recorded differently", width, line, k)
		}
	}
}

func FuzzParseRowPaths(f *testing.F) {
	f.Add([]byte("bk,s1,-1,,0,12,-,"), 40)
	f.Add([]byte(strings.Repeat("1,", 200)), 7)
	f.Fuzz(func(t *testing.T, line []byte, width int) {
		if width < 1 || width > 300 || len(line) > maxNear {
			return
		}
		checkRowPaths(t, width, line)
	})
}

func TestAppendLine(t *testing.T) {
	long := strings.Repeat("x", 300)
	data := "# pxname,svname,lastchg,scur,desc,\n" +
		"bk,s1,17,9,a,\r\n" + // CRLF, trailing comma
		"bk,s2,,8,\"q,\"\"r\",\n" + // empty field left out, quoted one with doubled quotes stays
		"bk,s3,\"5\",7," + long + ",\n" + // quoted field left out (its content), a long one
		"bk,s4\n" + // short row: the fields left out are absent
		"bk,s5,3,6,z" + // last line, no line end
		"\n\n"
	st, err := ParseStat([]byte(data))
	if err != nil {
		t.Fatal(err)
	}
	lastchg, scur, desc := st.Col("lastchg"), st.Col("scur"), st.Col("desc")
	cases := []struct {
		row    int
		except []int
		want   string
	}{
		{0, nil, "bk,s1,17,9,a,"},
		{0, []int{lastchg}, "bk,s1,,9,a,"},
		{0, []int{lastchg, scur}, "bk,s1,,,a,"},
		{1, []int{lastchg, desc}, `bk,s2,,8,"q,""r",`},
		{2, []int{lastchg, desc}, `bk,s3,"",7,,`},
		{3, []int{lastchg, scur}, "bk,s4"},
		{4, []int{scur}, "bk,s5,3,,z"},
	}
	for _, tc := range cases {
		got, ok := st.AppendLine([]byte("|"), tc.row, tc.except)
		if !ok || string(got) != "|"+tc.want {
			t.Errorf("row %d except %v: %q (%v), want %q", tc.row, tc.except, got, ok, tc.want)
		}
	}
	// Not kept: the field stays in the line.
	kept, err := ParseStatColumns([]byte(data), []string{"scur"})
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := kept.AppendLine(nil, 0, []int{lastchg, scur}); string(got) != "bk,s1,17,,a," {
		t.Errorf("lastchg not kept: %q", got)
	}
	for _, row := range []int{-1, 5} {
		if got, ok := st.AppendLine([]byte("|"), row, nil); ok || string(got) != "|" {
			t.Errorf("row %d out of range: %q, %v", row, got, ok)
		}
	}
	b := NewStatBuilder([]string{"pxname", "svname"}, 1, 0)
	b.Append(0, []byte("bk"))
	b.Append(1, []byte("s1"))
	built, err := b.Stat()
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := built.AppendLine(nil, 0, nil); ok {
		t.Error("a built table has lines")
	}
}
