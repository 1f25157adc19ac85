package expo

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os/exec"
	"runtime"
	"strings"
	"testing"

	dto "github.com/prometheus/client_model/go"
)

func TestParallelGzipRoundTrip(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	var text bytes.Buffer
	for i := 0; text.Len() < 3<<20; i++ {
		fmt.Fprintf(&text, "haproxy_server_current_sessions{proxy=\"bk\",server=\"s%d\"} %d\n", i, rng.IntN(1000))
	}
	for _, tc := range []struct {
		name    string
		in      []byte
		workers int
		chunk   int
		writes  int
	}{
		{"empty", nil, 2, 1024, 1},
		{"smaller than a chunk", []byte("hello\n"), 2, 1024, 1},
		{"exact chunks", text.Bytes()[:4096], 2, 1024, 1},
		{"many chunks, odd writes", text.Bytes(), 3, 64 << 10, 7},
		{"one worker", text.Bytes(), 1, 256 << 10, 3},
		{"random bytes", func() []byte {
			b := make([]byte, 300000)
			for i := range b {
				b[i] = byte(rng.Uint32())
			}
			return b
		}(), 2, 65536, 5},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out bytes.Buffer
			z, err := NewParallelGzip(&out, 1, tc.workers, tc.chunk)
			if err != nil {
				t.Fatal(err)
			}
			in := tc.in
			step := max(1, len(in)/tc.writes+1)
			for len(in) > 0 {
				k := min(step, len(in))
				if _, err := z.Write(in[:k]); err != nil {
					t.Fatal(err)
				}
				in = in[k:]
			}
			if err := z.Close(); err != nil {
				t.Fatal(err)
			}
			zr, err := gzip.NewReader(&out)
			if err != nil {
				t.Fatal(err)
			}
			zr.Multistream(false) // must be ONE member
			got, err := io.ReadAll(zr)
			if err != nil {
				t.Fatalf("decompress: %v", err)
			}
			if !bytes.Equal(got, tc.in) {
				t.Fatalf("round trip changed %d bytes into %d", len(tc.in), len(got))
			}
			if rest, _ := io.ReadAll(&out); len(rest) != 0 {
				t.Fatalf("%d bytes after the gzip member", len(rest))
			}
		})
	}
}

// TestParallelGzipReadableByGzipTool checks interoperability with the
// system's gzip (zlib), which stops at the end of the first member.
func TestParallelGzipReadableByGzipTool(t *testing.T) {
	gz, err := exec.LookPath("gzip")
	if err != nil {
		t.Fatalf("gzip not installed: %v", err)
	}
	in := []byte(strings.Repeat("lbpilot_up{module=\"haproxy\"} 1\n", 50000))
	var out bytes.Buffer
	z, _ := NewParallelGzip(&out, 1, 2, 32<<10)
	_, _ = z.Write(in)
	_ = z.Close()
	cmd := exec.Command(gz, "-dc")
	cmd.Stdin = &out
	got, err := cmd.Output()
	if err != nil || !bytes.Equal(got, in) {
		t.Fatalf("gzip -dc: %v, %d bytes, want %d", err, len(got), len(in))
	}
}

type failWriter struct{ after int }

func (f *failWriter) Write(p []byte) (int, error) {
	if f.after -= len(p); f.after < 0 {
		return 0, errors.New("peer went away")
	}
	return len(p), nil
}

func TestParallelGzipReportsWriteErrors(t *testing.T) {
	z, _ := NewParallelGzip(&failWriter{after: 100}, 1, 2, 1024)
	_, _ = z.Write(bytes.Repeat([]byte("x"), 100000))
	if err := z.Close(); err == nil || !strings.Contains(err.Error(), "peer went away") {
		t.Fatalf("Close = %v", err)
	}
	if _, err := NewParallelGzip(io.Discard, 42, 1, 10); err == nil {
		t.Error("invalid level accepted")
	}
}

func TestAppendHelpers(t *testing.T) {
	for v, want := range map[float64]string{0: "0", -1: "-1", 1.5: "1.5", 0.001: "0.001", 1e20: "1e+20", math.NaN(): "NaN", math.Inf(1): "+Inf", math.Inf(-1): "-Inf"} {
		if got := string(AppendFloat(nil, v)); got != want {
			t.Errorf("AppendFloat(%v) = %q, want %q", v, got, want)
		}
	}
	if got := string(AppendLabels(nil, []string{"a", "b"}, []string{`x"y`, "l\\n\n"})); got != `a="x\"y",b="l\\n\n"` {
		t.Errorf("AppendLabels = %s", got)
	}
	var buf bytes.Buffer
	w := bufio.NewWriter(&buf)
	WriteHeader(w, Family{Name: "x_total", Help: "Line one\nback\\slash", Type: dto.MetricType_COUNTER})
	w.Flush()
	if buf.String() != "# HELP x_total Line one\\nback\\\\slash\n# TYPE x_total counter\n" {
		t.Errorf("header %q", buf.String())
	}
}

// TestParallelGzipConcurrentResponses runs many compressions at once, big
// and small, so recycled chunks and deflate writers are shared between
// them; every output must still decode to its own input.
func TestParallelGzipConcurrentResponses(t *testing.T) {
	errs := make(chan error, 16)
	for i := 0; i < 16; i++ {
		go func() {
			in := bytes.Repeat([]byte(fmt.Sprintf("series_%d{i=\"%d\"} %d\n", i, i, i)), 1+i*i*500)
			var out bytes.Buffer
			z, _ := NewParallelGzip(&out, 1, 2, 64<<10)
			for p := in; len(p) > 0; {
				k := min(len(p), 32<<10)
				_, _ = z.Write(p[:k])
				p = p[k:]
			}
			if err := z.Close(); err != nil {
				errs <- err
				return
			}
			zr, err := gzip.NewReader(&out)
			if err != nil {
				errs <- err
				return
			}
			got, err := io.ReadAll(zr)
			if err == nil && !bytes.Equal(got, in) {
				err = fmt.Errorf("response %d: %d bytes decoded, want %d", i, len(got), len(in))
			}
			errs <- err
		}()
	}
	for i := 0; i < 16; i++ {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
}

// TestParallelGzipReusesChunks: once the free lists are warm, a response
// of many chunks, written in the 32 KiB pieces an http.ResponseWriter's
// bufio hands on, allocates a small fraction of its size. Chunks grown by
// append fell out of the free lists' size classes and were allocated anew
// for every response: about twice the body in garbage.
func TestParallelGzipReusesChunks(t *testing.T) {
	const chunk = 512 << 10
	body := bytes.Repeat([]byte("haproxy_server_current_sessions{proxy=\"be\",server=\"s1\"} 12\n"), 8*chunk/60)
	respond := func() {
		z, err := NewParallelGzip(io.Discard, 1, 2, chunk)
		if err != nil {
			t.Fatal(err)
		}
		for p := body; len(p) > 0; {
			k := min(len(p), 32<<10)
			if _, err := z.Write(p[:k]); err != nil {
				t.Fatal(err)
			}
			p = p[k:]
		}
		if err := z.Close(); err != nil {
			t.Fatal(err)
		}
	}
	for range 3 {
		respond() // fill the free lists
	}
	const runs = 5
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for range runs {
		respond()
	}
	runtime.ReadMemStats(&after)
	perResponse := (after.TotalAlloc - before.TotalAlloc) / runs
	if perResponse > uint64(len(body))/8 {
		t.Errorf("a %d-byte response allocated %d bytes; chunks should come from the free lists", len(body), perResponse)
	}
}
