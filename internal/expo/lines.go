package expo

import (
	"bytes"
	"encoding/binary"
	"math/bits"
	"slices"
)

// LineEncoder deflates exposition text (RFC 1951, dynamic Huffman blocks)
// by what the text is: lines that repeat the line before them except for
// a few bytes (a server's name, a value, a state). Each line is compared
// with the previous one at the same offset, and at the offset that lines
// up their ends; equal runs become back-references, the rest literals, with
// a small hash table for what neither finds (the same state string one
// server further up). A general-purpose LZ77 matcher finds the same
// references by hashing every position; here most positions are never
// looked up, which is where the time goes (see BENCHMARKS.md, "A deflate
// encoder for exposition text").
//
// The output is a run of non-final blocks ending in a sync flush, like a
// flate.Writer's after Flush: Segments written one after another form one
// deflate stream. A LineEncoder is not safe for concurrent use; keep one
// per goroutine.
type LineEncoder struct {
	src   []byte
	toks  []uint32 // literal: the byte; match: see matchToken
	lfreq [numLit]int32
	dfreq [numDist]int32
	// The pending match: contiguous runs at one distance merge into it
	// (a line's tail and the next line's head are one reference when the
	// lines are as long as each other).
	pdist, plen, pend int
	table             [1 << hashBits]int32 // position+1 of the last literal run start with these 4 bytes
	out               []byte
	acc               uint64
	nacc              uint
	hs                huffScratch
	buf               []byte // a Deflater worker's output, reused
}

const (
	numLit      = 286
	numDist     = 30
	window      = 32 << 10
	maxMatch    = 258
	minMatch    = 4
	hashBits    = 12
	blockTokens = 16 << 10
	matchFlag   = 1 << 31
)

// Encode appends src, deflated, to dst and returns it.
func (e *LineEncoder) Encode(dst, src []byte) []byte {
	e.out, e.acc, e.nacc = dst, 0, 0
	e.src = src
	e.toks = e.toks[:0]
	e.plen = 0
	clear(e.table[:])
	n := len(src)
	// The fast path: runs at distance d across line ends, with a byte or
	// two that differ (a digit of a server name or a value) as literals
	// between them. d starts as a line's length; where lines come in
	// groups (a server's states) it becomes the group's length. Anything
	// else (a line of another length, more bytes differing) goes to
	// rest, which works out the line's neighbours and finishes the line.
	i, d := e.rest(0, 0)
	for i < n {
		if len(e.toks) >= blockTokens {
			e.flushMatch()
			e.writeBlock()
		}
		if d <= 0 || d > window || i < d {
			i, d = e.rest(i, 0)
			continue
		}
		if r := runLen(src, i-d, i, n); r >= minMatch || (r > 0 && e.plen > 0 && e.pdist == d && e.pend == i) {
			e.match(i, d, r)
			if i += r; i >= n {
				break
			}
		}
		k := 0
		for k < 3 && i+k < n && src[i+k] != src[i+k-d] && src[i+k] != '\n' && src[i+k-d] != '\n' {
			k++
		}
		if k > 0 && k < 3 && i+k+1 < n && src[i+k] == src[i+k-d] && src[i+k+1] == src[i+k+1-d] {
			e.flushMatch()
			for _, c := range src[i : i+k] {
				e.toks = append(e.toks, uint32(c))
				e.lfreq[c]++
			}
			i += k
			continue
		}
		i, d = e.rest(i, d)
	}
	e.flushMatch()
	if len(e.toks) > 0 {
		e.writeBlock()
	}
	// Sync flush: an empty stored block, byte-aligned.
	e.bits(0, 3)
	e.align()
	e.out = append(e.out, 0, 0, 0xff, 0xff)
	e.src = nil
	return e.out
}

// rest tokenizes from i to the end of its line with three candidate
// distances: rep (the fast path's), the previous line's start, and the
// one lining up both lines' ends. It returns where the next line starts
// and the distance to go on with: the one this line ended in, or else
// this line's length.
func (e *LineEncoder) rest(i, rep int) (next, d int) {
	src := e.src
	s := lastNewline(src, i) + 1
	end := len(src)
	if nl := bytes.IndexByte(src[i:], '\n'); nl >= 0 {
		end = i + nl + 1
	}
	var c [3]int
	if rep <= window {
		c[0] = rep
	}
	if s > 0 {
		ps := lastNewline(src, s-1) + 1
		if d1 := s - ps; d1 <= window && d1 != c[0] {
			c[1] = d1
		}
		// The same offset from the previous line's end is this
		// line's length away.
		if l := end - s; l <= window && l != s-ps && l != c[0] {
			c[2] = l
		}
	}
	e.line(i, end, &c)
	if e.plen > 0 && e.pend == end {
		return end, e.pdist
	}
	return end, end - s
}

// lastNewline returns the index of the last '\n' in src[:i], or -1,
// eight bytes at a time (lines are short, but the byte loop of
// bytes.LastIndexByte showed in profiles).
func lastNewline(src []byte, i int) int {
	const lo7, hi = 0x7f7f7f7f7f7f7f7f, 0x8080808080808080
	for i >= 8 {
		v := binary.LittleEndian.Uint64(src[i-8:]) ^ 0x0a0a0a0a0a0a0a0a
		// A byte's high bit is set where v's byte is zero, exactly.
		if t := ^((v&lo7 + lo7) | v | lo7); t != 0 {
			return i - 8 + (63-bits.LeadingZeros64(t))>>3
		}
		i -= 8
	}
	for i--; i >= 0; i-- {
		if src[i] == '\n' {
			return i
		}
	}
	return -1
}

// line tokenizes src[i:end] with candidate distances c (0: none)
// before the hash table.
func (e *LineEncoder) line(i, end int, c *[3]int) {
	src := e.src
	for i < end {
		taken := false
		for _, d := range c {
			if d > 0 && i >= d {
				if r := runLen(src, i-d, i, end); e.take(i, d, r, end) {
					i += r
					taken = true
					break
				}
			}
		}
		if taken {
			continue
		}
		if end-i >= minMatch {
			v := binary.LittleEndian.Uint32(src[i:])
			h := (v * 0x9E3779B1) >> (32 - hashBits)
			p := int(e.table[h]) - 1
			e.table[h] = int32(i + 1)
			if p >= 0 && i-p <= window && binary.LittleEndian.Uint32(src[p:]) == v {
				r := runLen(src, p, i, end)
				e.match(i, i-p, r)
				i += r
				continue
			}
		}
		e.flushMatch()
		e.toks = append(e.toks, uint32(src[i]))
		e.lfreq[src[i]]++
		i++
	}
}

// take adds a run of r equal bytes at distance d from position i when it
// is worth a reference: long enough, continuing the pending match, or
// reaching the end of the line (where the next line's head may continue
// it). It reports whether it did.
func (e *LineEncoder) take(i, d, r, end int) bool {
	if r == 0 {
		return false
	}
	if r >= minMatch || (e.plen > 0 && e.pdist == d && e.pend == i) || i+r == end {
		e.match(i, d, r)
		return true
	}
	return false
}

// match adds r bytes at position i copied from distance d.
func (e *LineEncoder) match(i, d, r int) {
	if e.plen > 0 && e.pdist == d && e.pend == i {
		e.plen += r
		e.pend += r
		return
	}
	e.flushMatch()
	e.pdist, e.plen, e.pend = d, r, i+r
}

// flushMatch turns the pending match into tokens: references of at most
// 258 bytes, or literals when it is too short to pay for one.
func (e *LineEncoder) flushMatch() {
	n := e.plen
	if n == 0 {
		return
	}
	e.plen = 0
	if n < minMatch {
		for _, c := range e.src[e.pend-n : e.pend] {
			e.toks = append(e.toks, uint32(c))
			e.lfreq[c]++
		}
		return
	}
	dc := distCode(e.pdist - 1)
	dx := uint32(e.pdist-1-int(distBase[dc]-1)) << 10
	for n > 0 {
		l := min(n, maxMatch)
		if r := n - l; r > 0 && r < 3 {
			l = n - 3 // leave at least 3 for the last reference
		}
		n -= l
		lc := lengthCode[l-3]
		e.toks = append(e.toks, matchFlag|dx|uint32(l-int(lengthBase[lc]))<<5|uint32(dc)<<23|uint32(lc))
		e.lfreq[257+int(lc)]++
		e.dfreq[dc]++
	}
}

// A match token holds its codes, so that writing it looks nothing up
// twice: bit 31 set, the distance code at 23–27, the distance's extra
// bits at 10–22, the length's extra bits at 5–9, the length code less
// 257 at 0–4.
func matchToken(t uint32) (lc, lx, dc, dx uint32) {
	return t & 31, t >> 5 & 31, t >> 23 & 31, t >> 10 & 0x1fff
}

// runLen counts the equal bytes of src[a:] and src[b:end], a < b, eight
// at a time (this loop is where the encoder spends most of its time).
func runLen(src []byte, a, b, end int) int {
	y := src[b:end]
	x := src[a:]
	n := 0
	for len(y) >= 16 && len(x) >= 16 {
		u := binary.LittleEndian.Uint64(x) ^ binary.LittleEndian.Uint64(y)
		if u != 0 {
			return n + bits.TrailingZeros64(u)>>3
		}
		u = binary.LittleEndian.Uint64(x[8:]) ^ binary.LittleEndian.Uint64(y[8:])
		if u != 0 {
			return n + 8 + bits.TrailingZeros64(u)>>3
		}
		x, y = x[16:], y[16:]
		n += 16
	}
	for k := range y {
		if k >= len(x) || x[k] != y[k] {
			return n + k
		}
	}
	return n + len(y)
}

// writeBlock writes the tokens as one dynamic Huffman block.
func (e *LineEncoder) writeBlock() {
	e.lfreq[256]++ // end of block
	// Every decoder accepts codes of two or more symbols; a block with no
	// reference, or with one distance only, gets a spare one.
	for s := 0; nonzero(e.dfreq[:]) < 2; s++ {
		e.dfreq[s] = max(e.dfreq[s], 1)
	}
	for s := 0; nonzero(e.lfreq[:]) < 2; s++ {
		e.lfreq[s] = max(e.lfreq[s], 1)
	}
	var llen [numLit]uint8
	var dlen [numDist]uint8
	e.hs.lengths(e.lfreq[:], llen[:], 15)
	e.hs.lengths(e.dfreq[:], dlen[:], 15)
	var lcode [numLit]uint16
	var dcode [numDist]uint16
	codes(llen[:], lcode[:])
	codes(dlen[:], dcode[:])

	hlit := numLit
	for hlit > 257 && llen[hlit-1] == 0 {
		hlit--
	}
	hdist := numDist
	for hdist > 1 && dlen[hdist-1] == 0 {
		hdist--
	}
	// The code lengths, run-length coded (16: repeat the previous 3–6
	// times, 17: 3–10 zeros, 18: 11–138 zeros).
	all := append(e.hs.all[:0], llen[:hlit]...)
	all = append(all, dlen[:hdist]...)
	rle := e.hs.rle[:0]
	var cfreq [19]int32
	for i := 0; i < len(all); {
		v, n := all[i], 1
		for i+n < len(all) && all[i+n] == v {
			n++
		}
		i += n
		if v == 0 {
			for n >= 11 {
				k := min(n, 138)
				rle = append(rle, 18|uint16(k-11)<<8)
				cfreq[18]++
				n -= k
			}
			if n >= 3 {
				rle = append(rle, 17|uint16(n-3)<<8)
				cfreq[17]++
				n = 0
			}
		} else {
			rle = append(rle, uint16(v))
			cfreq[v]++
			n--
			for n >= 3 {
				k := min(n, 6)
				rle = append(rle, 16|uint16(k-3)<<8)
				cfreq[16]++
				n -= k
			}
		}
		for ; n > 0; n-- {
			rle = append(rle, uint16(v))
			cfreq[v]++
		}
	}
	e.hs.rle, e.hs.all = rle, all
	for s := 0; nonzero(cfreq[:]) < 2; s++ {
		cfreq[s] = max(cfreq[s], 1)
	}
	var clen [19]uint8
	var ccode [19]uint16
	e.hs.lengths(cfreq[:], clen[:], 7)
	codes(clen[:], ccode[:])
	hclen := 19
	for hclen > 4 && clen[clenOrder[hclen-1]] == 0 {
		hclen--
	}

	e.bits(2<<1, 3) // not final, dynamic Huffman
	e.bits(uint64(hlit-257), 5)
	e.bits(uint64(hdist-1), 5)
	e.bits(uint64(hclen-4), 4)
	for _, s := range clenOrder[:hclen] {
		e.bits(uint64(clen[s]), 3)
	}
	for _, t := range rle {
		s := t & 0xff
		e.bits(uint64(ccode[s]), uint(clen[s]))
		switch s {
		case 16:
			e.bits(uint64(t>>8), 2)
		case 17:
			e.bits(uint64(t>>8), 3)
		case 18:
			e.bits(uint64(t>>8), 7)
		}
	}
	// The token loop keeps the bit buffer in locals: the hot part of a
	// block.
	out, acc, nacc := e.out, e.acc, e.nacc
	for _, t := range e.toks {
		if t&matchFlag == 0 {
			acc |= uint64(lcode[t&0xff]) << nacc
			nacc += uint(llen[t&0xff])
		} else {
			lc, lx, dc, dx := matchToken(t)
			ls := 257 + lc
			acc |= (uint64(lcode[ls]) | uint64(lx)<<llen[ls]) << nacc
			nacc += uint(llen[ls]) + uint(lengthExtra[lc])
			if nacc >= 32 {
				out = binary.LittleEndian.AppendUint32(out, uint32(acc))
				acc >>= 32
				nacc -= 32
			}
			acc |= (uint64(dcode[dc]) | uint64(dx)<<dlen[dc]) << nacc
			nacc += uint(dlen[dc]) + uint(distExtra[dc])
		}
		if nacc >= 32 {
			out = binary.LittleEndian.AppendUint32(out, uint32(acc))
			acc >>= 32
			nacc -= 32
		}
	}
	e.out, e.acc, e.nacc = out, acc, nacc
	e.bits(uint64(lcode[256]), uint(llen[256]))
	e.toks = e.toks[:0]
	clear(e.lfreq[:])
	clear(e.dfreq[:])
}

// bits writes the n low bits of v (n ≤ 32), least significant first.
func (e *LineEncoder) bits(v uint64, n uint) {
	e.acc |= v << e.nacc
	e.nacc += n
	if e.nacc >= 32 {
		e.out = binary.LittleEndian.AppendUint32(e.out, uint32(e.acc))
		e.acc >>= 32
		e.nacc -= 32
	}
}

// align writes the bits held, padded to a byte.
func (e *LineEncoder) align() {
	for e.nacc > 0 {
		e.out = append(e.out, byte(e.acc))
		e.acc >>= 8
		e.nacc -= min(e.nacc, 8)
	}
	e.acc = 0
}

func nonzero(f []int32) int {
	n := 0
	for _, v := range f {
		if v != 0 {
			n++
		}
	}
	return n
}

// huffScratch is the working memory of code-length construction.
type huffScratch struct {
	syms   []int
	weight []int64
	parent []int
	rle    []uint16
	all    []uint8
}

// lengths sets the Huffman code length of every symbol of freq (0 for
// unused ones), at most limit bits, the code complete (the Kraft sum
// exactly 1, which decoders check). freq must have two or more nonzero
// entries.
func (h *huffScratch) lengths(freq []int32, lens []uint8, limit int) {
	syms := h.syms[:0]
	for s, f := range freq {
		lens[s] = 0
		if f > 0 {
			syms = append(syms, s)
		}
	}
	slices.SortFunc(syms, func(a, b int) int {
		if freq[a] != freq[b] {
			return int(freq[a] - freq[b])
		}
		return a - b
	})
	h.syms = syms
	n := len(syms)
	// Two queues: the leaves in order of weight, and the inner nodes,
	// made in order of weight.
	h.weight = slices.Grow(h.weight[:0], 2*n)[:2*n-1]
	h.parent = slices.Grow(h.parent[:0], 2*n)[:2*n-1]
	w, parent := h.weight, h.parent
	for i, s := range syms {
		w[i] = int64(freq[s])
	}
	leaf, inner := 0, n
	pick := func(k int) int {
		if leaf < n && (inner >= k || w[leaf] <= w[inner]) {
			leaf++
			return leaf - 1
		}
		inner++
		return inner - 1
	}
	for k := n; k < 2*n-1; k++ {
		a := pick(k)
		b := pick(k)
		w[k] = w[a] + w[b]
		parent[a], parent[b] = k, k
	}
	// Depths, root first (a parent always comes after its children); the
	// weights are no longer needed, so they hold the depths.
	w[2*n-2] = 0
	over := false
	for k := 2*n - 3; k >= 0; k-- {
		w[k] = w[parent[k]] + 1
		if k < n && w[k] > int64(limit) {
			over = true
		}
	}
	for i, s := range syms {
		lens[s] = uint8(w[i])
	}
	if !over {
		return
	}
	// Too deep: clamp, then lengthen the deepest codes below the limit
	// until the Kraft sum fits, then shorten the most frequent codes to
	// fill what lengthening left (greedy fills it exactly: every
	// contribution is a power of two).
	capacity := int64(1) << limit
	var kraft int64
	for _, s := range syms {
		lens[s] = min(lens[s], uint8(limit))
		kraft += int64(1) << (limit - int(lens[s]))
	}
	for kraft > capacity {
		best := -1
		for _, s := range syms { // least frequent first
			if int(lens[s]) < limit && (best < 0 || lens[s] > lens[best]) {
				best = s
			}
		}
		kraft -= int64(1) << (limit - int(lens[best]) - 1)
		lens[best]++
	}
	for i := n - 1; i >= 0 && kraft < capacity; i-- { // most frequent first
		s := syms[i]
		for lens[s] > 1 && kraft+int64(1)<<(limit-int(lens[s])) <= capacity {
			kraft += int64(1) << (limit - int(lens[s]))
			lens[s]--
		}
	}
}

// codes assigns canonical codes to lengths, bit-reversed for writing
// least significant bit first.
func codes(lens []uint8, out []uint16) {
	var count [16]uint16
	for _, l := range lens {
		count[l]++
	}
	count[0] = 0
	var next [16]uint16
	code := uint16(0)
	for l := 1; l < 16; l++ {
		code = (code + count[l-1]) << 1
		next[l] = code
	}
	for s, l := range lens {
		if l == 0 {
			continue
		}
		out[s] = bits.Reverse16(next[l]) >> (16 - l)
		next[l]++
	}
}

// clenOrder is the order code-length code lengths are written in.
var clenOrder = [19]int{16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15}

var (
	lengthBase  = [29]uint16{3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 15, 17, 19, 23, 27, 31, 35, 43, 51, 59, 67, 83, 99, 115, 131, 163, 195, 227, 258}
	lengthExtra = [29]uint8{0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0}
	distBase    = [30]uint16{1, 2, 3, 4, 5, 7, 9, 13, 17, 25, 33, 49, 65, 97, 129, 193, 257, 385, 513, 769, 1025, 1537, 2049, 3073, 4097, 6145, 8193, 12289, 16385, 24577}
	distExtra   = [30]uint8{0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13}
	// lengthCode[len-3] is the length's code, less 257.
	lengthCode = func() (t [256]uint8) {
		for c := range 28 {
			for l := int(lengthBase[c]); l < int(lengthBase[c])+1<<lengthExtra[c] && l <= 258; l++ {
				t[l-3] = uint8(c)
			}
		}
		t[258-3] = 28
		return t
	}()
	// distTable: distance-1 below 256, then (distance-1)>>7 from 256.
	distTable = func() (t [512]uint8) {
		for c := range 30 {
			for d := int(distBase[c]) - 1; d < int(distBase[c])-1+1<<distExtra[c]; d++ {
				if d < 256 {
					t[d] = uint8(c)
				} else {
					t[256+d>>7] = uint8(c)
				}
			}
		}
		return t
	}()
)

// distCode returns the code of a distance less 1.
func distCode(d int) int {
	if d < 256 {
		return int(distTable[d])
	}
	return int(distTable[256+d>>7])
}
