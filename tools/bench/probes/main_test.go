package main

import (
	"bufio"
	"bytes"
	"io"
	"testing"
	"time"

	"github.com/lbpilot/lbpilot/internal/probe/flv"
)

// The FLV the benchmark serves is what the probe accepts: a header, a
// script tag and a video tag.
func TestFLVBody(t *testing.T) {
	br := bufio.NewReader(bytes.NewReader(flvBody))
	if _, err := flv.ReadHeader(br); err != nil {
		t.Fatal(err)
	}
	var types []byte
	for {
		tg, err := flv.NextTag(br)
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		types = append(types, tg.Type)
	}
	if !bytes.Equal(types, []byte{flv.TagScript, flv.TagVideo}) {
		t.Errorf("tags %v", types)
	}
}

func TestMedianAndAlternate(t *testing.T) {
	if m := median([]time.Duration{5, 1, 3}); m != 3 {
		t.Errorf("median %v", m)
	}
	if m := median(nil); m != 0 {
		t.Errorf("median of nothing %v", m)
	}
	calls := 0
	slow := func() error { calls++; time.Sleep(2 * time.Millisecond); return nil }
	fast := func() error { calls++; return nil }
	a, b, d, err := alternate(3, slow, fast)
	if err != nil || calls != 6 || a < 2*time.Millisecond || b >= a || d <= 0 {
		t.Errorf("alternate: %v %v %v %v (%d calls)", a, b, d, err, calls)
	}
	if _, _, _, err := alternate(2, fast, func() error { return io.ErrUnexpectedEOF }); err != io.ErrUnexpectedEOF {
		t.Errorf("an error is not returned: %v", err)
	}
}
