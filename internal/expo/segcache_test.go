package expo

import (
	"bufio"
	"bytes"
	"fmt"
	"sync"
	"testing"
)

func TestSegmentCache(t *testing.T) {
	c := NewSegmentCache()
	d := NewLineDeflater(2)
	defer d.Close()
	text := func(s string) []byte { return append(d.Buffer(len(s)), s...) }
	slot := c.Slot("fam", 0)
	if c.Slot("fam", 0) != slot || c.Slot("fam", 1) == slot || c.Slot("other", 0) == slot {
		t.Fatal("slots are not one per family and position")
	}

	a := d.DeflateCached(text("a{s=\"1\"} 1\na{s=\"2\"} 1\n"), slot, 11)
	segA := a.Wait()
	if a.Reused {
		t.Fatal("an empty slot reused a segment")
	}
	// The same text again: the segment is reused, not compressed again.
	b := d.DeflateCached(text("a{s=\"1\"} 1\na{s=\"2\"} 1\n"), slot, 12)
	if segB := b.Wait(); !b.Reused || &segB.Deflated[0] != &segA.Deflated[0] {
		t.Fatal("the same text was compressed again")
	}
	// ... and is now keyed by the new input: the caller need not render.
	if p, ok := d.Cached(slot, 12); !ok || p.Wait().CRC != segA.CRC || !p.Reused {
		t.Fatal("the segment is not found by the input it was last made from")
	}
	for _, key := range []uint64{0, 11, 13} {
		if _, ok := d.Cached(slot, key); ok {
			t.Fatalf("key %d found a segment", key)
		}
	}
	// Other text: compressed, and what the slot holds from then on.
	other := "a{s=\"1\"} 2\na{s=\"2\"} 1\n"
	p := d.DeflateCached(text(other), slot, 14)
	seg := p.Wait()
	var out bytes.Buffer
	if p.Reused {
		t.Fatal("changed text was answered from the cache")
	}
	if err := inflateTo(&out, seg); err != nil || out.String() != other {
		t.Fatalf("inflated %q (%v), want %q", out.String(), err, other)
	}
	if p2, ok := d.Cached(slot, 14); !ok || p2.Wait().CRC != seg.CRC {
		t.Fatal("the new segment is not in the slot")
	}
}

func inflateTo(w *bytes.Buffer, seg Segment) error {
	bw := bufio.NewWriter(w)
	if err := InflateSegments(bw, []Segment{seg}); err != nil {
		return err
	}
	return bw.Flush()
}

func TestSegmentCacheRowsMeasuredOnce(t *testing.T) {
	c := NewSegmentCache()
	calls := 0
	measure := func() int { calls++; return 40 }
	if n := c.Rows("fam", measure); n != 40 {
		t.Fatalf("rows %d, want 40", n)
	}
	if n := c.Rows("fam", func() int { calls++; return 7 }); n != 40 || calls != 1 {
		t.Fatalf("rows %d after %d measures, want 40 after 1", n, calls)
	}
	if n := c.Rows("zero", func() int { return 0 }); n != 1 {
		t.Fatalf("rows %d, want at least 1", n)
	}
}

// Scrapes of one target share its cache: run with -race.
func TestSegmentCacheConcurrentScrapes(t *testing.T) {
	c := NewSegmentCache()
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			d := NewLineDeflater(2)
			defer d.Close()
			for round := range 20 {
				for k := range 8 {
					s := fmt.Sprintf("m{k=\"%d\"} %d\n", k, (round+g)%3)
					slot := c.Slot("m", k)
					p, ok := d.Cached(slot, uint64(1+(round+g)%3))
					if !ok {
						p = d.DeflateCached(append(d.Buffer(len(s)), s...), slot, uint64(1+(round+g)%3))
					}
					var out bytes.Buffer
					if err := inflateTo(&out, p.Wait()); err != nil || out.String() != s {
						t.Errorf("got %q (%v), want %q", out.String(), err, s)
						return
					}
				}
			}
		}()
	}
	wg.Wait()
}
