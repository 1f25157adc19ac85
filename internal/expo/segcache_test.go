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

	a := d.DeflateCached(text("a{s=\"1\"} 1\na{s=\"2\"} 1\n"), slot, SegmentKey{Input: 11})
	segA := a.Wait()
	if a.Reused {
		t.Fatal("an empty slot reused a segment")
	}
	// The same text again: the segment is reused, not compressed again.
	b := d.DeflateCached(text("a{s=\"1\"} 1\na{s=\"2\"} 1\n"), slot, SegmentKey{Input: 12})
	if segB := b.Wait(); !b.Reused || &segB.Deflated[0] != &segA.Deflated[0] {
		t.Fatal("the same text was compressed again")
	}
	// ... and is now keyed by the new input: the caller need not render.
	if p, ok := d.Cached(slot, SegmentKey{Input: 12}); !ok || p.Wait().CRC != segA.CRC || !p.Reused {
		t.Fatal("the segment is not found by the input it was last made from")
	}
	for _, key := range []SegmentKey{{}, {Input: 11}, {Input: 13}, {Rows: 12}} {
		if _, ok := d.Cached(slot, key); ok {
			t.Fatalf("key %+v found a segment", key)
		}
	}
	// Other text: compressed, and what the slot holds from then on.
	other := "a{s=\"1\"} 2\na{s=\"2\"} 1\n"
	p := d.DeflateCached(text(other), slot, SegmentKey{Input: 14, Rows: 40})
	seg := p.Wait()
	var out bytes.Buffer
	if p.Reused {
		t.Fatal("changed text was answered from the cache")
	}
	if err := inflateTo(&out, seg); err != nil || out.String() != other {
		t.Fatalf("inflated %q (%v), want %q", out.String(), err, other)
	}
	if p2, ok := d.Cached(slot, SegmentKey{Input: 14}); !ok || p2.Wait().CRC != seg.CRC {
		t.Fatal("the new segment is not in the slot")
	}
	// Either key finds it; a hit by Input under new Rows adds the rows, so
	// the next scrape (rows unchanged) need not work out its input.
	if _, ok := d.Cached(slot, SegmentKey{Rows: 40}); !ok {
		t.Fatal("the segment is not found by its rows")
	}
	if _, ok := d.Cached(slot, SegmentKey{Rows: 41}); ok {
		t.Fatal("other rows found the segment")
	}
	if _, ok := d.Cached(slot, SegmentKey{Input: 14, Rows: 41}); !ok {
		t.Fatal("the segment is not found by its input with new rows")
	}
	if _, ok := d.Cached(slot, SegmentKey{Rows: 41}); !ok {
		t.Fatal("a hit by input did not add the new rows")
	}
	if _, ok := d.Cached(slot, SegmentKey{Input: 14}); !ok {
		t.Fatal("adding the rows lost the input")
	}
	// The same text made under new keys: reused and keyed by them.
	p3 := d.DeflateCached(text(other), slot, SegmentKey{Input: 15, Rows: 42})
	if p3.Wait(); !p3.Reused {
		t.Fatal("the same text was compressed again")
	}
	for _, key := range []SegmentKey{{Input: 15}, {Rows: 42}} {
		if _, ok := d.Cached(slot, key); !ok {
			t.Fatalf("key %+v does not find the segment its text is reused for", key)
		}
	}
	if _, ok := d.Cached(slot, SegmentKey{Rows: 41}); ok {
		t.Fatal("the rows of before still find the segment")
	}
}

// An empty text keeps its slot like any other: found by its key after.
func TestSegmentCacheEmpty(t *testing.T) {
	c := NewSegmentCache()
	d := NewLineDeflater(1)
	defer d.Close()
	slot := c.Slot("fam", 0)
	key := SegmentKey{Input: 5, Rows: 6}
	if p := d.Empty(slot, key); p.Wait().Size != 0 || p.Reused || len(p.Wait().Deflated) != 0 {
		t.Fatalf("empty text made %+v", p.Wait())
	}
	for _, k := range []SegmentKey{{Input: 5}, {Rows: 6}} {
		if p, ok := d.Cached(slot, k); !ok || p.Wait().Size != 0 || !p.Reused {
			t.Fatalf("key %+v does not find the empty segment", k)
		}
	}
	// Text made at the slot later replaces it.
	p := d.DeflateCached(append(d.Buffer(8), "a 1\n"...), slot, SegmentKey{Input: 7})
	if p.Wait().Size != 4 {
		t.Fatalf("size %d", p.Wait().Size)
	}
	if _, ok := d.Cached(slot, key); ok {
		t.Fatal("the empty segment's key still finds the slot")
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
					key := SegmentKey{Input: uint64(1 + (round+g)%3), Rows: uint64(10 + (round+g)%3)}
					p, ok := d.Cached(slot, key)
					if !ok {
						p = d.DeflateCached(append(d.Buffer(len(s)), s...), slot, key)
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
