package haproxyapi

import (
	"bytes"
	"strings"
	"testing"

	"github.com/lbpilot/lbpilot/internal/testenv"
)

func FuzzParseStat(f *testing.F) {
	testenv.AddSeeds(f, "*.csv")
	f.Add([]byte("# pxname,svname,\"a\"\"b\",\n\"x,y\",\"\n"))
	// Shapes from published outputs: empty lines before the header, rows
	// of empty or unknown type, two proxies of one name.
	f.Add([]byte("\r\n\n# pxname,svname,iid,type,\nbk,BACKEND,3,1,\nbk,BACKEND,4,1,\nbk,s1,3,,\nbk,s2,3,7,\n\n"))
	f.Add([]byte("\n\n\n"))
	// Fields the three-byte form cannot hold (quoted), several per column.
	f.Add([]byte("# pxname,svname,desc,scur,\nbk,\"s1\",a,9\nbk,s2,b,8,\nbk,\"s3\",c,7\r\nbk,\"s,4\",\"d\"\"e\",6,\nbk,s6\nbk,s7,,,\n\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := ParseStat(data)
		if err != nil {
			return
		}
		// Memory stays proportional to the input: at most one row per line
		// and one recorded field per input byte (plus one per row).
		if lines := bytes.Count(data, []byte{'\n'}) + 1; s.Rows() > lines {
			t.Fatalf("%d rows from %d lines", s.Rows(), lines)
		}
		offs := 4 * len(s.rowAt)
		for k := range s.cols {
			offs += 3*s.Rows() + 12*len(s.odd[k])
		}
		if offs > 16*(len(data)+len(s.header)+1) {
			t.Fatalf("%d bytes of offsets for %d bytes", offs, len(data))
		}
		for r := 0; r < s.Rows(); r++ {
			for c := range s.Columns() {
				_ = s.Bytes(r, c)
			}
			_ = s.Type(r)
			_ = ParseStatus(s.Get(r, "status"))
		}
		// Parsing as the bytes trickle in gives the same table.
		compareStats(t, "fuzz", s, parseInSteps(t, data, 1+len(data)%13))
		// Every field reads as a plain split of its line says, whatever
		// form the table stores it in.
		rows := refRows(data, len(s.Columns()))
		if len(rows) != s.Rows() {
			t.Fatalf("%d rows, the reference split has %d", s.Rows(), len(rows))
		}
		for r, fields := range rows {
			for c, want := range fields {
				if got := s.Bytes(r, c); !bytes.Equal(got, want) {
					t.Fatalf("row %d col %d: %q, the reference split says %q", r, c, got, want)
				}
			}
		}
	})
}

// refRows splits a show stat answer the slow, obvious way: lines (one
// "\r" before the line end dropped), the header after any empty lines,
// rows up to the first empty line, fields split at commas outside quotes,
// "" unescaped, a quoted field ending at its closing quote, a trailing
// comma ending the row, missing fields empty, extra ones dropped.
func refRows(data []byte, width int) [][][]byte {
	lines := bytes.Split(data, []byte("\n"))
	if len(lines) > 0 && len(lines[len(lines)-1]) == 0 {
		lines = lines[:len(lines)-1]
	}
	for i := range lines {
		lines[i] = bytes.TrimSuffix(lines[i], []byte("\r"))
	}
	i := 0
	for i < len(lines) && len(lines[i]) == 0 {
		i++
	}
	var rows [][][]byte
	for _, line := range lines[i+1:] {
		if len(line) == 0 {
			break
		}
		var out [][]byte
		p := 0
		for len(out) < width {
			if p < len(line) && line[p] == '"' {
				var v []byte
				q := p + 1
				for ; q < len(line); q++ {
					if line[q] == '"' {
						if q+1 < len(line) && line[q+1] == '"' {
							v = append(v, '"')
							q++
							continue
						}
						break
					}
					v = append(v, line[q])
				}
				out = append(out, v)
				p = len(line)
				if j := bytes.IndexByte(line[min(q, len(line)):], ','); j >= 0 {
					p = q + j
				}
			} else {
				j := bytes.IndexByte(line[p:], ',')
				if j < 0 {
					j = len(line) - p
				}
				out = append(out, line[p:p+j])
				p += j
			}
			if p >= len(line) {
				break
			}
			p++
			if p == len(line) {
				break
			}
		}
		for len(out) < width {
			out = append(out, nil)
		}
		rows = append(rows, out)
	}
	return rows
}

func FuzzParseServersState(f *testing.F) {
	testenv.AddSeeds(f, "*servers_state*.txt")
	f.Fuzz(func(t *testing.T, data []byte) {
		ss, err := ParseServersState(data)
		if err != nil {
			return
		}
		for _, s := range ss.Servers {
			if s.Backend == "" || s.Name == "" {
				t.Fatalf("server without names: %+v", s)
			}
			_ = s.Usable()
			_ = s.Admin.State()
		}
	})
}

// FuzzValidName: a name that validates can never carry a separator into a
// command, and every command built from it has exactly the expected words.
func FuzzValidName(f *testing.F) {
	for _, s := range []string{"web1", "#5", "bk_web", "web1;shutdown sessions", "a\nb", "a b", "a/b", "#", "wéb", ""} {
		f.Add(s, s)
	}
	f.Fuzz(func(t *testing.T, backend, server string) {
		ok := ValidName(backend) && ValidName(server)
		cmd, err := SetServerState(ServerRef{backend, server}, StateDrain)
		if ok != (err == nil) {
			t.Fatalf("ValidName=%v but SetServerState err=%v", ok, err)
		}
		for _, s := range []string{backend, server} {
			if ValidName(s) && strings.ContainsAny(s, ";\n\r \t/\\\"'\x00") {
				t.Fatalf("ValidName accepted separator in %q", s)
			}
		}
		if err != nil {
			return
		}
		line := cmd.String()
		if f := strings.Fields(line); len(f) != 5 || strings.ContainsAny(line, ";\n\r\t") || strings.Count(line, "/") != 1 {
			t.Fatalf("command %q is not 5 plain words", line)
		}
	})
}

func FuzzSplitResponses(f *testing.F) {
	testenv.AddSeeds(f, "*multi*.txt")
	testenv.AddSeeds(f, "severity_*.txt")
	f.Fuzz(func(t *testing.T, data []byte) {
		chunks := splitResponses(data)
		if n := bytes.Count(data, []byte{'\n'}) + 1; len(chunks) > n {
			t.Fatalf("%d chunks from %d lines", len(chunks), n)
		}
		for _, c := range chunks {
			_, _ = classify("set server a/b state drain", c, true)
		}
	})
}

func FuzzParseTables(f *testing.F) {
	testenv.AddSeeds(f, "show_table*.txt")
	f.Add([]byte("# table: t, type: string, size:10, used:2\n0x1: key=a b use=1 exp=5 shard=0 gpc(0)=2 server_key=x\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		max := len(data) % 5 // 0 (no limit) to 4
		tables, err := ParseTables(data, max)
		if err != nil {
			return
		}
		headers := 0
		for _, l := range strings.Split(string(data), "\n") {
			if strings.HasPrefix(l, "# table: ") {
				headers++
			}
		}
		if len(tables) != headers {
			t.Fatalf("%d tables from %d header lines", len(tables), headers)
		}
		for _, tb := range tables {
			if max > 0 && len(tb.Entries) > max {
				t.Fatalf("table %q: %d entries, limit %d", tb.Name, len(tb.Entries), max)
			}
			if tb.Name == "" {
				t.Fatal("table without a name")
			}
		}
	})
}

func FuzzParseResolvers(f *testing.F) {
	testenv.AddSeeds(f, "show_resolvers*.txt")
	f.Fuzz(func(t *testing.T, data []byte) {
		ns, err := ParseResolvers(data)
		if err != nil {
			return
		}
		counters := 0
		for _, n := range ns {
			if n.Resolvers == "" {
				t.Fatalf("nameserver %q outside a section", n.Name)
			}
			counters += len(n.Counters)
		}
		if lines := strings.Count(string(data), "\n") + 1; len(ns)+counters > lines {
			t.Fatalf("%d nameservers and %d counters from %d lines", len(ns), counters, lines)
		}
	})
}

func FuzzParseProc(f *testing.F) {
	testenv.AddSeeds(f, "show_proc_*.txt")
	f.Add([]byte("#<PID> <type> <relative PID>\n1 master 0\n# workers\n2 worker 1\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		procs, err := ParseProc(data)
		if err != nil {
			return
		}
		if lines := bytes.Count(data, []byte{'\n'}) + 1; len(procs) > lines {
			t.Fatalf("%d processes from %d lines", len(procs), lines)
		}
		for _, p := range CurrentWorkers(procs) {
			// A worker's pid becomes a master CLI prefix: it must be one
			// ParseProcess accepts, or WorkerPID must refuse it.
			if wp := WorkerPID(p.PID); !wp.IsZero() {
				if _, err := ParseProcess(wp.String()); err != nil && p.PID < 1e9 {
					t.Fatalf("pid %d gives prefix %q that does not parse: %v", p.PID, wp, err)
				}
			}
		}
	})
}
