package expo

import (
	"hash/maphash"
	"sync"
	"sync/atomic"
)

// SegmentCache keeps the last segment made at each position of a
// stream's families (family name, ordinal), so that a scrape whose text
// there is the same as last time reuses the compressed bytes instead of
// compressing them again. On a large HAProxy most server families do not
// change between two scrapes (states, weights, limits, idle servers'
// counters); see BENCHMARKS.md for what it saves and what it costs when
// everything changes.
//
// Text is recognised by its length and a 64-bit maphash (seeded at random
// per process), so two different texts are taken for the same one with a
// probability of about 2⁻⁶⁴ per segment. A cache is safe for concurrent use
// by several scrapes: each slot holds an immutable entry, swapped
// atomically.
type SegmentCache struct {
	mu   sync.Mutex
	fams map[string]*segFamily
}

type segFamily struct {
	rows  int
	slots []*SegmentSlot
}

// SegmentSlot is one position of a SegmentCache.
type SegmentSlot struct{ last atomic.Pointer[cachedSegment] }

type cachedSegment struct {
	sum uint64     // of the text
	key SegmentKey // of the input the text was made from
	seg Segment
}

// SegmentKey names what a segment's text was made from, at two grains.
// Input sums exactly the fields the text is rendered from; Rows sums
// the whole rows those fields are in, which is much cheaper to have (a
// sum per row, made once for every family) but changes whenever any
// field of a row does. A caller asks by Rows first and works out Input
// only when that misses. Zero is "no such key".
type SegmentKey struct{ Input, Rows uint64 }

// matches reports whether k names the input of an entry keyed stored.
func (k SegmentKey) matches(stored SegmentKey) bool {
	return k.Rows != 0 && k.Rows == stored.Rows || k.Input != 0 && k.Input == stored.Input
}

// merged is stored with k's non-zero keys in place of its own.
func (k SegmentKey) merged(stored SegmentKey) SegmentKey {
	if k.Input != 0 {
		stored.Input = k.Input
	}
	if k.Rows != 0 {
		stored.Rows = k.Rows
	}
	return stored
}

// NewSegmentCache returns an empty cache.
func NewSegmentCache() *SegmentCache { return &SegmentCache{fams: map[string]*segFamily{}} }

// Rows returns the number of rows family's segments hold: measure's
// answer (at least 1) the first time it is asked, the same ever after.
// Segments cut at fixed row counts keep a change in one row from moving
// the text of every later segment.
func (c *SegmentCache) Rows(family string, measure func() int) int {
	c.mu.Lock()
	f := c.family(family)
	n := f.rows
	c.mu.Unlock()
	if n > 0 {
		return n
	}
	n = max(1, measure())
	c.mu.Lock()
	defer c.mu.Unlock()
	if f.rows == 0 {
		f.rows = n
	}
	return f.rows
}

// Slot returns the slot of family's k-th segment.
func (c *SegmentCache) Slot(family string, k int) *SegmentSlot {
	c.mu.Lock()
	defer c.mu.Unlock()
	f := c.family(family)
	for len(f.slots) <= k {
		f.slots = append(f.slots, &SegmentSlot{})
	}
	return f.slots[k]
}

func (c *SegmentCache) family(name string) *segFamily {
	f, ok := c.fams[name]
	if !ok {
		f = &segFamily{}
		c.fams[name] = f
	}
	return f
}

var cacheSeed = maphash.MakeSeed()

// Cached returns a finished Pending holding slot's segment when it was
// made from the input key names (either of its keys matching): the caller
// need not even make the text. A hit under a key the slot did not hold
// (Input matching, Rows new) adds it, so the next scrape hits by Rows.
func (d *Deflater) Cached(slot *SegmentSlot, key SegmentKey) (*Pending, bool) {
	c := slot.last.Load()
	if c == nil || !key.matches(c.key) {
		return nil, false
	}
	if m := key.merged(c.key); m != c.key {
		slot.last.Store(&cachedSegment{sum: c.sum, key: m, seg: c.seg})
	}
	return finished(c.seg, true), true
}

// DeflateCached is Deflate for a text that goes at slot's position, made
// from the input key names: when the slot's last segment was made from
// the same text, that segment is reused; otherwise the text is compressed.
// Either way the slot then holds the segment under key.
func (d *Deflater) DeflateCached(text []byte, slot *SegmentSlot, key SegmentKey) *Pending {
	p := d.take(text, false)
	p.slot, p.key = slot, key
	d.queue <- p
	return p
}

// Empty is DeflateCached for a text that came out empty (a family with no
// line for these rows): nothing to compress, but the slot holds the empty
// segment under key like any other, so the next scrape finds it by key
// and the slots keep one position per part.
func (d *Deflater) Empty(slot *SegmentSlot, key SegmentKey) *Pending {
	if c := slot.last.Load(); c == nil || c.key != key || c.seg.Size != 0 {
		slot.last.Store(&cachedSegment{key: key})
	}
	return finished(Segment{}, false)
}

// reuse answers p from its slot when the text is the one the slot's
// segment was made from, and reports whether it did; else it notes the
// text's sum for store.
func (p *Pending) reuse() bool {
	p.sum = maphash.Bytes(cacheSeed, p.text)
	c := p.slot.last.Load()
	if c == nil || c.sum != p.sum || c.seg.Size != len(p.text) {
		return false
	}
	p.seg = c.seg
	p.Reused = true
	if c.key != p.key {
		p.store() // the same text from another input: key it by this one
	}
	return true
}

// store keeps p's segment in its slot. The segment's bytes are never
// written to again, so the stream that made them and later scrapes share
// them.
func (p *Pending) store() {
	p.slot.last.Store(&cachedSegment{sum: p.sum, key: p.key, seg: p.seg})
}
