package haproxyapi

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/lbpilot/lbpilot/internal/haproxyapi/haproxytest"
)

func ref(b, s string) ServerRef { return ServerRef{Backend: b, Server: s} }

func mustState(t *testing.T, r ServerRef, s AdminState) Command {
	t.Helper()
	c, err := SetServerState(r, s)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestSplitResponsesFixtures(t *testing.T) {
	tests := []struct {
		file string
		want []string
	}{
		{"multi_cmd_with_errors.txt", []string{"No such server.", "No such backend.", "", "50 (initial 50)"}},
		{"set_server_state_drain.txt", []string{""}},
		{"get_weight_bk_web_web1.txt", []string{"100 (initial 100)"}},
		// severity-output on; the garbage-weight error has no empty line
		// and must not swallow the next command's output.
		{"severity_output_number_multi.txt", []string{
			"", "[3]: No such server.", "", "",
			"[3]: Empty weight string empty or preceded by garbage",
			"[3]: Absolute weight can only be between 0 and 256 inclusive.",
			"[3]: Require 'backend/server'.", "100 (initial 100)",
			"[3]: 'set server <srv> state' expects 'ready', 'drain' and 'maint'.",
			"[3]: Backend is using a static LB algorithm and only accepts weights '0%' and '100%'.",
		}},
	}
	for _, tt := range tests {
		got := splitResponses(readFixture(t, tt.file))
		if fmt.Sprintf("%q", got) != fmt.Sprintf("%q", tt.want) {
			t.Errorf("%s:\n got %q\nwant %q", tt.file, got, tt.want)
		}
	}
}

func TestApplyAgainstReplayedFixtures(t *testing.T) {
	// The severity fixture answers exactly this line (see the fixtures README).
	sevOut := readFixture(t, "severity_output_number_multi.txt")
	sock := haproxytest.NewSocket(t, haproxytest.Static(sevOut))
	c, err := New(sock.Addr)
	if err != nil {
		t.Fatal(err)
	}
	w50, _ := SetWeight(ref("bk_web", "web1"), Weight{Value: 50})
	cmds := []Command{
		mustState(t, ref("bk_web", "nosuch"), StateDrain),
		mustState(t, ref("bk_web", "web1"), StateDrain),
		mustState(t, ref("bk_web", "web1"), StateReady),
		w50, // stands in for the garbage weight the fixture sent
	}
	res, err := c.Apply(context.Background(), cmds)
	if err != nil {
		t.Fatal(err)
	}
	var ce *CommandError
	if !errors.As(res[0].Err, &ce) || ce.Message != "No such server." || ce.Severity != 3 {
		t.Errorf("result 0 = %+v", res[0])
	}
	if res[1].Err != nil || res[2].Err != nil {
		t.Errorf("successes reported as errors: %v / %v", res[1].Err, res[2].Err)
	}
	if res[3].Err == nil || !strings.Contains(res[3].Err.Error(), "Empty weight string") {
		t.Errorf("result 3 = %+v", res[3])
	}
	lines := sock.Lines()
	if len(lines) != 1 || !strings.HasPrefix(lines[0], "set severity-output number;set server bk_web/nosuch state drain;") {
		t.Errorf("sent %q", lines)
	}
	if res.Err() == nil {
		t.Error("Results.Err() is nil despite failures")
	}
}

func TestApplyLegacyHAProxyWithoutSeverityOutput(t *testing.T) {
	h := haproxytest.NewHAProxy(t, []haproxytest.Server{{Backend: "bk", Name: "a", Up: true}, {Backend: "bk", Name: "b", Up: true}})
	h.Legacy(true)
	c, _ := New(h.Socket.Addr)
	gw, _ := GetWeight(ref("bk", "a"))
	for round := 0; round < 2; round++ {
		res, err := c.Apply(context.Background(), []Command{
			mustState(t, ref("bk", "a"), StateDrain),
			mustState(t, ref("bk", "nosuch"), StateDrain),
			gw,
			mustState(t, ref("bk", "b"), StateMaint),
		})
		if err != nil {
			t.Fatal(err)
		}
		if res[0].Err != nil || res[3].Err != nil {
			t.Fatalf("round %d: successes failed: %v %v", round, res[0].Err, res[3].Err)
		}
		var ce *CommandError
		if !errors.As(res[1].Err, &ce) || ce.Message != "No such server." || ce.Severity != -1 {
			t.Fatalf("round %d: legacy error not detected: %+v", round, res[1])
		}
		if res[2].Output != "100 (initial 100)" {
			t.Fatalf("round %d: get weight output = %q", round, res[2].Output)
		}
	}
	if s, _ := h.Server("bk", "a"); s.Admin != 0x08 {
		t.Errorf("a admin = %d, want drain", s.Admin)
	}
	// After the first batch the client knows: no more severity-output.
	cmds := h.Commands()
	n := 0
	for _, c := range cmds {
		if c == "set severity-output number" {
			n++
		}
	}
	if n != 1 {
		t.Errorf("severity-output sent %d times to a 1.8-like HAProxy, want once", n)
	}
}

func TestApplyBatchesOfMaxBatch(t *testing.T) {
	var servers []haproxytest.Server
	var cmds []Command
	for i := 0; i < 250; i++ {
		name := fmt.Sprintf("s%d", i)
		servers = append(servers, haproxytest.Server{Backend: "bk", Name: name, Up: true})
		cmds = append(cmds, mustState(t, ref("bk", name), StateDrain))
	}
	h := haproxytest.NewHAProxy(t, servers)
	c, _ := New(h.Socket.Addr)
	res, err := c.Apply(context.Background(), cmds)
	if err != nil || res.Err() != nil {
		t.Fatal(err, res.Err())
	}
	if got := len(h.Socket.Lines()); got != 3 {
		t.Errorf("250 commands used %d connections, want 3", got)
	}
	for _, l := range h.Socket.Lines() {
		if n := strings.Count(l, ";"); n > MaxBatch {
			t.Errorf("line with %d separators", n)
		}
	}
	for _, s := range servers {
		if got, _ := h.Server("bk", s.Name); got.Admin != 0x08 {
			t.Fatalf("%s not drained", s.Name)
		}
	}
}

func TestApplyTransportFailures(t *testing.T) {
	ctx := context.Background()
	cmd := mustState(t, ref("bk", "a"), StateDrain)

	t.Run("dial", func(t *testing.T) {
		c, _ := New("unix:/nonexistent/admin.sock")
		res, err := c.Apply(ctx, []Command{cmd, cmd})
		if !IsConnError(err) || !strings.Contains(err.Error(), "dial") {
			t.Fatalf("err = %v", err)
		}
		if res[0].Err == nil || res[1].Err == nil {
			t.Errorf("commands of an unsent batch report success: %+v", res)
		}
	})
	t.Run("timeout", func(t *testing.T) {
		sock := haproxytest.NewSocket(t, func(string) haproxytest.Reply { return haproxytest.Reply{Hang: true} })
		c, _ := New(sock.Addr, WithTimeout(100*time.Millisecond))
		start := time.Now()
		_, err := c.Apply(ctx, []Command{cmd})
		if !IsConnError(err) || !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("err = %v", err)
		}
		if time.Since(start) > 2*time.Second {
			t.Errorf("timeout took %v", time.Since(start))
		}
	})
	t.Run("cancel", func(t *testing.T) {
		sock := haproxytest.NewSocket(t, func(string) haproxytest.Reply { return haproxytest.Reply{Hang: true} })
		c, _ := New(sock.Addr)
		cctx, cancel := context.WithCancel(ctx)
		time.AfterFunc(50*time.Millisecond, cancel)
		_, err := c.Apply(cctx, []Command{cmd})
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("cut short", func(t *testing.T) {
		// Only the severity-output answer and the first command's answer arrive.
		sock := haproxytest.NewSocket(t, haproxytest.Static([]byte("\n\n")))
		c, _ := New(sock.Addr)
		res, err := c.Apply(ctx, []Command{cmd, cmd, cmd})
		if err != nil {
			t.Fatal(err)
		}
		if res[0].Err != nil || !errors.Is(res[1].Err, ErrNoResponse) || !errors.Is(res[2].Err, ErrNoResponse) {
			t.Errorf("results = %+v", res)
		}
	})
	t.Run("response too large", func(t *testing.T) {
		sock := haproxytest.NewSocket(t, haproxytest.Static([]byte(strings.Repeat("x", 2000))))
		c, _ := New(sock.Addr, WithMaxResponse(1000))
		_, err := c.ShowStatRaw(ctx, StatFilter{})
		if err == nil || !strings.Contains(err.Error(), "larger than 1000") {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("zero command", func(t *testing.T) {
		c, _ := New("unix:/nonexistent")
		if _, err := c.Apply(ctx, []Command{{}}); err == nil || !strings.Contains(err.Error(), "empty command") {
			t.Fatalf("err = %v", err)
		}
	})
}

func TestShowCommandsAgainstReplayedFixtures(t *testing.T) {
	sock := haproxytest.NewSocket(t, haproxytest.ByLine(map[string][]byte{
		"show stat":                  readFixture(t, "show_stat.csv"),
		"show stat bk_web 4 -1":      readFixture(t, "show_stat_filter_bk_web_4_-1.csv"),
		"show stat nosuchproxy 4 -1": readFixture(t, "show_stat_filter_nonexistent_proxy.txt"),
		"show info":                  readFixture(t, "show_info.txt"),
		"show servers state":         readFixture(t, "show_servers_state.txt"),
		"show servers state nosuch":  readFixture(t, "show_servers_state_nonexistent_backend.txt"),
	}))
	c, _ := New(sock.Addr)
	ctx := context.Background()
	st, err := c.ShowStat(ctx, StatFilter{})
	if err != nil || st.Rows() != 21 {
		t.Fatalf("show stat: %v rows=%v", err, st)
	}
	st, err = c.ShowStat(ctx, StatFilter{Proxy: "bk_web", Types: 4})
	if err != nil || st.Rows() != 5 {
		t.Fatalf("filtered show stat: %v", err)
	}
	if _, err := c.ShowStat(ctx, StatFilter{Proxy: "nosuchproxy", Types: 4}); err == nil || !strings.Contains(err.Error(), "No such proxy.") {
		t.Errorf("unknown proxy: %v", err)
	}
	if _, err := c.ShowStat(ctx, StatFilter{Proxy: "bk;show info", Types: 4}); err == nil {
		t.Error("invalid proxy name accepted")
	}
	info, err := c.ShowInfo(ctx)
	if err != nil || info["Pid"] != "20492" {
		t.Errorf("show info: %v %v", info["Pid"], err)
	}
	ss, err := c.ShowServersState(ctx, "")
	if err != nil || len(ss.Servers) != 13 {
		t.Errorf("show servers state: %v", err)
	}
	if _, err := c.ShowServersState(ctx, "nosuch"); err == nil || !strings.Contains(err.Error(), "Can't find backend.") {
		t.Errorf("unknown backend: %v", err)
	}
	if _, err := c.ShowServersState(ctx, "bk web"); err == nil {
		t.Error("invalid backend name accepted")
	}
	for _, l := range sock.Lines() {
		if strings.Contains(l, ";") || strings.Contains(l, "bk web") {
			t.Errorf("an invalid name reached the socket: %q", l)
		}
	}
}

// TestShowStatOnRows checks the incremental hook: every row is handed over
// exactly once, in order, readable during the call as in the final table;
// an answer cut off by max_response_bytes still fails after OnRows saw
// part of it.
func TestShowStatOnRows(t *testing.T) {
	var b strings.Builder
	b.WriteString("# pxname,svname,qcur,status,type,\n")
	for i := 0; i < 20000; i++ {
		fmt.Fprintf(&b, "bk,s%d,%d,UP,2,\n", i, i%7)
	}
	b.WriteString("\n")
	addr := haproxytest.NewSocket(t, haproxytest.Static([]byte(b.String()))).Addr
	var seen []string
	calls, next := 0, 0
	onRows := func(st *Stat, from, to int) {
		calls++
		if from != next || to <= from {
			t.Errorf("rows [%d,%d) after %d", from, to, next)
		}
		next = to
		for r := from; r < to; r++ {
			seen = append(seen, st.Get(r, "svname")+"/"+st.Get(r, "qcur"))
		}
	}
	c, err := New(addr)
	if err != nil {
		t.Fatal(err)
	}
	st, err := c.ShowStatColumns(context.Background(), StatFilter{}, StatOptions{Columns: []string{"qcur"}, OnRows: onRows})
	if err != nil {
		t.Fatal(err)
	}
	if st.Rows() != 20000 || len(seen) != st.Rows() {
		t.Fatalf("%d rows, OnRows saw %d", st.Rows(), len(seen))
	}
	for r := 0; r < st.Rows(); r++ {
		if want := st.Get(r, "svname") + "/" + st.Get(r, "qcur"); seen[r] != want {
			t.Fatalf("row %d: OnRows read %q, the table %q", r, seen[r], want)
		}
	}
	t.Logf("%d calls", calls)

	seen, next = nil, 0
	small, _ := New(addr, WithMaxResponse(int64(b.Len()/2)))
	if _, err := small.ShowStatColumns(context.Background(), StatFilter{}, StatOptions{OnRows: onRows}); !errors.Is(err, ErrResponseTooLarge) {
		t.Fatalf("err = %v", err)
	}
	if len(seen) == 0 {
		t.Log("the cut-off answer arrived in one read; OnRows saw none of it")
	}
}
