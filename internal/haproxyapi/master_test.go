package haproxyapi

import (
	"context"
	"os"
	"reflect"
	"strings"
	"testing"

	"github.com/lbpilot/lbpilot/internal/haproxyapi/haproxytest"
)

func TestParseProc(t *testing.T) {
	for _, tc := range []struct {
		file    string
		want    []Proc
		current []int
	}{
		{"show_proc_2.6.txt", []Proc{
			{PID: 13752, Type: "master", Version: "2.6.12-1+deb12u4"},
			{PID: 13755, Type: "worker", Version: "2.6.12-1+deb12u4"},
		}, []int{13755}},
		// The layout of HAProxy 2.0's management guide: a relative PID
		// column, two workers (nbproc 2) and an old worker of a reload.
		{"show_proc_2.0_nbproc.txt", []Proc{
			{PID: 1162, Type: "master", Version: "2.0.1"},
			{PID: 1271, Type: "worker", RelativePID: 1, Version: "2.0.1"},
			{PID: 1272, Type: "worker", RelativePID: 2, Version: "2.0.1"},
			{PID: 1233, Type: "worker", Old: true, Version: "2.0.1"},
		}, []int{1271, 1272}},
	} {
		t.Run(tc.file, func(t *testing.T) {
			b, err := os.ReadFile("testdata/" + tc.file)
			if err != nil {
				t.Fatal(err)
			}
			got, err := ParseProc(b)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("ParseProc = %+v, want %+v", got, tc.want)
			}
			var pids []int
			for _, p := range CurrentWorkers(got) {
				pids = append(pids, p.PID)
			}
			if !reflect.DeepEqual(pids, tc.current) {
				t.Fatalf("CurrentWorkers = %v, want %v", pids, tc.current)
			}
		})
	}
}

func TestParseProcErrors(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"Unknown command, but maybe one of the following ones is a better match:\n", "is this the master CLI socket?"},
		{"", "no header"},
		{"#<PID> <type>\nabc master\n", "bad pid"},
		{"#<PID> <type>\n12\n", "malformed line"},
	} {
		if _, err := ParseProc([]byte(tc.in)); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("ParseProc(%q) = %v, want an error containing %q", tc.in, err, tc.want)
		}
	}
}

func TestParseProcess(t *testing.T) {
	for _, ok := range []string{"@1", "@12", "@!4242", "@master"} {
		p, err := ParseProcess(ok)
		if err != nil || p.String() != ok {
			t.Errorf("ParseProcess(%q) = %v, %v", ok, p, err)
		}
	}
	for _, bad := range []string{"", "@", "@!", "@0", "@!0", "@01", "1", "@1 show", "@1;quit", "@!12a", "@-1", "@9999999999", "@worker"} {
		if _, err := ParseProcess(bad); err == nil || !strings.Contains(err.Error(), "want @<n>, @!<pid> or @master") {
			t.Errorf("ParseProcess(%q) = %v, want an error", bad, err)
		}
	}
	if !WorkerPID(0).IsZero() || WorkerPID(7).String() != "@!7" {
		t.Errorf("WorkerPID: %q %q", WorkerPID(0), WorkerPID(7))
	}
}

// TestClientThroughMaster: every command of a line carries the prefix and
// the line ends with quit, so the master closes the connection.
func TestClientThroughMaster(t *testing.T) {
	stat, err := os.ReadFile("testdata/show_stat.csv")
	if err != nil {
		t.Fatal(err)
	}
	sock := haproxytest.NewSocket(t, haproxytest.ByLine(map[string][]byte{
		"@!42 show stat;quit":          stat,
		"@!42 show servers state;quit": []byte("1\n# be_id be_name srv_id srv_name srv_addr srv_op_state srv_admin_state srv_uweight srv_iweight srv_time_since_last_change srv_check_status srv_check_result srv_check_health srv_check_state srv_agent_state bk_f_forced_id srv_f_forced_id srv_fqdn srv_port srvrecord srv_use_ssl srv_check_port srv_check_addr srv_agent_addr srv_agent_port\n\n"),
		"show proc;quit":               []byte("#<PID> <type> <reloads> <uptime> <version>\n41 master 0 [failed: 0] 0d00h00m01s 2.6.12\n# workers\n42 worker 0 0d00h00m01s 2.6.12\n# programs\n\n"),
	}))
	ctx := context.Background()
	master, err := New(sock.Addr)
	if err != nil {
		t.Fatal(err)
	}
	procs, err := master.ShowProc(ctx)
	if err != nil {
		t.Fatal(err)
	}
	w := CurrentWorkers(procs)
	if len(w) != 1 || w[0].PID != 42 {
		t.Fatalf("workers = %+v", w)
	}
	worker, err := New(sock.Addr, WithProcess(WorkerPID(w[0].PID)))
	if err != nil {
		t.Fatal(err)
	}
	st, err := worker.ShowStat(ctx, StatFilter{})
	if err != nil || st.Rows() == 0 {
		t.Fatalf("show stat through the master: %v", err)
	}
	if _, err := worker.ShowServersState(ctx, ""); err != nil {
		t.Fatal(err)
	}
	if _, err := worker.ShowProc(ctx); err == nil || !strings.Contains(err.Error(), "bound to process @!42") {
		t.Fatalf("ShowProc on a worker client: %v", err)
	}
	// A batch: each command prefixed, severity-output included.
	cmd, _ := SetServerState(ServerRef{Backend: "bk", Server: "s1"}, StateDrain)
	_, _ = worker.Apply(ctx, []Command{cmd})
	lines := sock.Lines()
	if last := lines[len(lines)-1]; last != "@!42 set severity-output number;@!42 set server bk/s1 state drain;quit" {
		t.Fatalf("batch line = %q", last)
	}
	// A worker that is gone: the master's message becomes the error.
	gone := haproxytest.NewSocket(t, haproxytest.Static([]byte("Can't find the target PID matching the prefix '@!42'\n")))
	worker, _ = New(gone.Addr, WithProcess(WorkerPID(42)))
	if _, err := worker.ShowStat(ctx, StatFilter{}); err == nil || !strings.Contains(err.Error(), "Can't find the target PID") {
		t.Fatalf("show stat of a gone worker: %v", err)
	}
}
