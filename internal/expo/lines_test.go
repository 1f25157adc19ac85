package expo

import (
	"bytes"
	stdflate "compress/flate"
	"fmt"
	"io"
	"math/bits"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/klauspost/compress/flate"
)

// exposition builds text shaped like the HAProxy server families: per
// family one line per server (or per server and state, or code), the
// server names growing in digits, values that differ from server to
// server.
func exposition(servers int, seed uint64) []byte {
	rng := rand.New(rand.NewPCG(seed, 1))
	var b bytes.Buffer
	states := []string{"HANA", "SOCKERR", "L4OK", "L4TOUT", "L4CON", "L6OK", "L6TOUT", "L6RSP", "L7TOUT", "L7RSP", "L7OK", "L7OKC", "L7STS", "PROCERR", "PROCTOUT", "PROCOK"}
	for _, fam := range []string{"haproxy_server_bytes_in_total", "haproxy_server_current_sessions", "haproxy_server_check_status", "haproxy_server_http_responses_total", "haproxy_server_response_time_average_seconds"} {
		fmt.Fprintf(&b, "# HELP %s Something about servers.\n# TYPE %s gauge\n", fam, fam)
		for s := range servers {
			px := "be_app"
			if s >= servers/2 {
				px = "be_static"
			}
			switch {
			case strings.HasSuffix(fam, "check_status"):
				cur := rng.IntN(len(states))
				for k, st := range states {
					v := 0
					if k == cur {
						v = 1
					}
					fmt.Fprintf(&b, "%s{proxy=%q,server=\"srv%d\",state=%q} %d\n", fam, px, s, st, v)
				}
			case strings.HasSuffix(fam, "http_responses_total"):
				for _, code := range []string{"1xx", "2xx", "3xx", "4xx", "5xx", "other"} {
					fmt.Fprintf(&b, "%s{code=%q,proxy=%q,server=\"srv%d\"} %d\n", fam, code, px, s, rng.IntN(1000)*rng.IntN(2))
				}
			case strings.HasSuffix(fam, "seconds"):
				fmt.Fprintf(&b, "%s{proxy=%q,server=\"srv%d\"} %g\n", fam, px, s, float64(rng.IntN(3000))/1000)
			default:
				fmt.Fprintf(&b, "%s{proxy=%q,server=\"srv%d\"} %d\n", fam, px, s, rng.Uint64N(1<<uint(rng.IntN(40))))
			}
		}
	}
	return b.Bytes()
}

// inflate decodes a segment (sync-flushed, not final) with the standard
// library's decoder and klauspost's, which must agree.
func inflate(t testing.TB, seg []byte) []byte {
	t.Helper()
	var outs [2][]byte
	for k, r := range []io.ReadCloser{
		stdflate.NewReader(io.MultiReader(bytes.NewReader(seg), bytes.NewReader(finalBlock))),
		flate.NewReader(io.MultiReader(bytes.NewReader(seg), bytes.NewReader(finalBlock))),
	} {
		got, err := io.ReadAll(r)
		if err != nil {
			t.Fatalf("decoder %d: %v", k, err)
		}
		outs[k] = got
	}
	if !bytes.Equal(outs[0], outs[1]) {
		t.Fatal("the two decoders disagree")
	}
	return outs[0]
}

func TestLineEncoderRoundTrip(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 7))
	random := make([]byte, 100<<10)
	for i := range random {
		random[i] = byte(rng.Uint32())
	}
	longLabel := strings.Repeat("x", 1000)
	var long strings.Builder
	for i := range 50 {
		fmt.Fprintf(&long, "m{l=%q,i=\"%d\"} 1\n", longLabel, i) // matches far over 258 bytes
	}
	cases := map[string][]byte{
		"empty":                 nil,
		"one newline":           []byte("\n"),
		"no newline":            []byte("haproxy_up 1"),
		"short lines":           []byte("a\nb\na\nb\nab\nab\nabc\n"),
		"one byte repeated":     bytes.Repeat([]byte{'a'}, 70000),
		"newlines only":         bytes.Repeat([]byte{'\n'}, 5000),
		"random bytes":          random,
		"long lines":            []byte(long.String()),
		"line beyond window":    []byte("a{} 1\n" + strings.Repeat("y", 40000) + "\na{} 2\na{} 3\n"),
		"exposition":            exposition(300, 1),
		"exposition, one block": exposition(3, 2),
		// Far over blockTokens tokens: several blocks in one segment.
		"exposition, large": exposition(5000, 3),
		// Lines of one length with more than a few bytes differing.
		"same length, differing": []byte(strings.Repeat("m{s=\"abcd\"} 1234\nm{s=\"wxyz\"} 9876\n", 300)),
		"carriage returns":       []byte(strings.Repeat("m{s=\"a\"} 1\r\n", 300)),
	}
	var e LineEncoder
	for name, text := range cases {
		t.Run(name, func(t *testing.T) {
			seg := e.Encode(nil, text)
			if got := inflate(t, seg); !bytes.Equal(got, text) {
				t.Fatalf("round trip: %d bytes back, want %d", len(got), len(text))
			}
			// A sync flush ends every segment, so segments concatenate.
			if !bytes.HasSuffix(seg, []byte{0, 0, 0xff, 0xff}) {
				t.Fatalf("segment does not end in a sync flush: % x", seg[max(0, len(seg)-6):])
			}
		})
	}
}

// Segments encoded one after another (the encoder reused) form one
// stream, as the Deflater's workers produce them.
func TestLineEncoderSegmentsConcatenate(t *testing.T) {
	text := exposition(400, 4)
	var e LineEncoder
	var stream, want []byte
	for p := text; len(p) > 0; {
		n := min(len(p), 20<<10)
		stream = append(stream, e.Encode(nil, p[:n])...)
		want = append(want, p[:n]...)
		p = p[n:]
	}
	if got := inflate(t, stream); !bytes.Equal(got, want) {
		t.Fatalf("%d bytes back, want %d", len(got), len(want))
	}
}

// The encoder is there to be faster than flate.BestSpeed on exposition
// text without costing size: it must not be larger.
func TestLineEncoderNoLargerThanBestSpeed(t *testing.T) {
	text := exposition(2000, 5)
	var e LineEncoder
	var ours, theirs int
	var buf bytes.Buffer
	fw, _ := flate.NewWriter(&buf, flate.BestSpeed)
	for p := text; len(p) > 0; {
		n := min(len(p), 60<<10)
		if k := bytes.LastIndexByte(p[:n], '\n'); k >= 0 && n < len(p) {
			n = k + 1
		}
		ours += len(e.Encode(nil, p[:n]))
		buf.Reset()
		fw.Reset(&buf)
		_, _ = fw.Write(p[:n])
		_ = fw.Flush()
		theirs += buf.Len()
		p = p[n:]
	}
	t.Logf("%d bytes of text: %d deflated here, %d by flate.BestSpeed (%.3f)", len(text), ours, theirs, float64(ours)/float64(theirs))
	if ours > theirs {
		t.Fatalf("%d bytes, flate.BestSpeed %d", ours, theirs)
	}
}

func TestHuffmanLengths(t *testing.T) {
	fib := make([]int32, 30) // Fibonacci weights: an unlimited tree is 29 deep
	fib[0], fib[1] = 1, 1
	for i := 2; i < len(fib); i++ {
		fib[i] = fib[i-1] + fib[i-2]
	}
	skewed19 := make([]int32, 19)
	for i := range skewed19 {
		skewed19[i] = 1 << i
	}
	cases := []struct {
		name  string
		freq  []int32
		limit int
		deep  bool // the unlimited tree is deeper than limit
	}{
		{"two symbols", []int32{0, 5, 0, 9}, 15, false},
		{"equal", []int32{3, 3, 3, 3, 3, 3, 3, 3}, 15, false},
		{"uneven", []int32{1, 1, 2, 3, 5, 100, 0, 7}, 15, false},
		{"fibonacci, limit 15", fib, 15, true},
		{"powers of two, limit 7", skewed19, 7, true},
		{"fibonacci, limit 7", fib[:19], 7, true},
	}
	var h huffScratch
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			lens := make([]uint8, len(c.freq))
			h.lengths(c.freq, lens, c.limit)
			var kraft uint64
			deepest := 0
			for s, l := range lens {
				switch {
				case c.freq[s] == 0 && l != 0:
					t.Fatalf("unused symbol %d has length %d", s, l)
				case c.freq[s] > 0 && (l == 0 || int(l) > c.limit):
					t.Fatalf("symbol %d: length %d, limit %d", s, l, c.limit)
				}
				if l > 0 {
					kraft += 1 << (c.limit - int(l))
					deepest = max(deepest, int(l))
				}
			}
			if kraft != 1<<c.limit {
				t.Fatalf("Kraft sum %d/%d: the code is not complete (lengths %v)", kraft, uint64(1)<<c.limit, lens)
			}
			if c.deep && deepest != c.limit {
				t.Fatalf("deepest code %d bits, want the limit %d (lengths %v)", deepest, c.limit, lens)
			}
			// Codes assigned from the lengths are a prefix code.
			codes16 := make([]uint16, len(lens))
			codes(lens, codes16)
			for a := range lens {
				for b := range lens {
					if a == b || lens[a] == 0 || lens[b] == 0 || lens[a] > lens[b] {
						continue
					}
					// codes are bit-reversed: a prefix of b's code is a
					// suffix of its low bits.
					if codes16[b]&(1<<lens[a]-1) == codes16[a] {
						t.Fatalf("code of %d (%0*b) is a prefix of %d's (%0*b)", a, lens[a], bits.Reverse16(codes16[a])>>(16-lens[a]), b, lens[b], bits.Reverse16(codes16[b])>>(16-lens[b]))
					}
				}
			}
		})
	}
}

// An unlimited Huffman tree is optimal: where no code is too long, the
// lengths cost what a reference construction costs.
func TestHuffmanLengthsOptimal(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 3))
	var h huffScratch
	for round := range 200 {
		freq := make([]int32, 2+rng.IntN(60))
		for i := range freq {
			if rng.IntN(4) > 0 {
				freq[i] = int32(1 + rng.IntN(1000))
			}
		}
		freq[0], freq[1] = max(freq[0], 1), max(freq[1], 1)
		lens := make([]uint8, len(freq))
		h.lengths(freq, lens, 15)
		var got, want int64
		for s, f := range freq {
			got += int64(f) * int64(lens[s])
		}
		// Reference: the cost of a Huffman code is the sum of the
		// weights of the merged nodes.
		ws := []int64{}
		for _, f := range freq {
			if f > 0 {
				ws = append(ws, int64(f))
			}
		}
		for len(ws) > 1 {
			a, b := 0, 1
			if ws[b] < ws[a] {
				a, b = b, a
			}
			for i := 2; i < len(ws); i++ {
				if ws[i] < ws[a] {
					a, b = i, a
				} else if ws[i] < ws[b] {
					b = i
				}
			}
			m := ws[a] + ws[b]
			want += m
			ws[a] = m
			ws = append(ws[:b], ws[b+1:]...)
		}
		if got != want {
			t.Fatalf("round %d: cost %d, optimal %d (freq %v, lens %v)", round, got, want, freq, lens)
		}
	}
}

func TestLengthAndDistanceTables(t *testing.T) {
	for l := 3; l <= 258; l++ {
		c := lengthCode[l-3]
		if l < int(lengthBase[c]) || l-int(lengthBase[c]) >= 1<<lengthExtra[c] && l != 258 {
			t.Fatalf("length %d: code %d (base %d, %d extra bits)", l, 257+int(c), lengthBase[c], lengthExtra[c])
		}
	}
	if lengthCode[258-3] != 28 {
		t.Fatal("258 must be code 285")
	}
	for d := 1; d <= window; d++ {
		c := distCode(d - 1)
		if d < int(distBase[c]) || d-int(distBase[c]) >= 1<<distExtra[c] {
			t.Fatalf("distance %d: code %d (base %d, %d extra bits)", d, c, distBase[c], distExtra[c])
		}
	}
}

func FuzzLineEncoder(f *testing.F) {
	f.Add([]byte("haproxy_server_status{proxy=\"a\",server=\"b\",state=\"UP\"} 1\nhaproxy_server_status{proxy=\"a\",server=\"b\",state=\"DOWN\"} 0\n"))
	f.Add(exposition(4, 9))
	f.Add([]byte("\n\n\nabc\nabd\nabcabc\n"))
	var e LineEncoder
	f.Fuzz(func(t *testing.T, text []byte) {
		if got := inflate(t, e.Encode(nil, text)); !bytes.Equal(got, text) {
			t.Fatalf("round trip: %q, want %q", got, text)
		}
	})
}
