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
		offs := 0
		for _, c := range s.cols {
			offs += len(c)
		}
		if offs > 8*(len(data)+len(s.header)+1) {
			t.Fatalf("%d offsets for %d bytes", offs, len(data))
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
	})
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
