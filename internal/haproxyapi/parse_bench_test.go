package haproxyapi

import (
	"fmt"
	"os"
	"strings"
	"testing"
)

// BenchmarkParseStat10k parses a show stat of one backend with 10,000
// servers, keeping the columns the HAProxy collector asks for (about 70
// of 129 in 2.6's layout, here every column the fixture row has).
func BenchmarkParseStat10k(b *testing.B) {
	raw, err := os.ReadFile("testdata/after_drain_down_server_show_stat.csv")
	if err != nil {
		b.Fatal(err)
	}
	lines := strings.Split(string(raw), "\n")
	var row string
	for _, l := range lines[1:] {
		if f := strings.SplitN(l, ",", 3); len(f) == 3 && f[1] != "FRONTEND" && f[1] != "BACKEND" {
			row = f[2]
			break
		}
	}
	var sb strings.Builder
	sb.WriteString(lines[0] + "\n")
	for i := 0; i < 10000; i++ {
		fmt.Fprintf(&sb, "bk,s%d,%s\n", i, row)
	}
	sb.WriteString("\n")
	data := []byte(sb.String())
	keep := strings.Split(strings.TrimPrefix(lines[0], "# "), ",")[:70]
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		st, err := ParseStatColumns(data, keep)
		if err != nil || st.Rows() != 10000 {
			b.Fatal(st.Rows(), err)
		}
	}
}
