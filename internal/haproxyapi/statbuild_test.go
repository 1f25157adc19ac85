package haproxyapi

import (
	"strings"
	"testing"
)

func TestStatBuilder(t *testing.T) {
	b := NewStatBuilder([]string{"pxname", "svname", "type", "status", "pxname"}, 2, 0)
	for _, row := range [][]string{{"bk", "s1", "2", "DRAIN (agent)", "x"}, {"bk", "s,\"2\"\n", "2", "", "y"}} {
		for c, v := range row {
			b.Append(c, []byte(v))
		}
	}
	st, err := b.Stat()
	if err != nil {
		t.Fatal(err)
	}
	if st.Rows() != 2 || st.Type(0) != TypeServer || st.Get(0, "status") != "DRAIN (agent)" || st.Get(1, "svname") != "s,\"2\"\n" || st.Get(1, "status") != "" {
		t.Fatalf("built table reads wrong: rows %d, %q %q", st.Rows(), st.Get(0, "status"), st.Get(1, "svname"))
	}
	if st.Col("pxname") != 0 || st.String(1, 4) != "y" {
		t.Fatalf("duplicate column: Col %d, value %q", st.Col("pxname"), st.String(1, 4))
	}

	short := NewStatBuilder([]string{"pxname", "svname"}, 2, 0)
	short.Append(0, []byte("bk"))
	short.Append(0, []byte("bk"))
	short.Append(1, []byte("s1"))
	if _, err := short.Stat(); err == nil || !strings.Contains(err.Error(), `column "svname" has 1 values for 2 rows`) {
		t.Fatalf("missing value: %v", err)
	}
}
