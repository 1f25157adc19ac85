package hls

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestParse(t *testing.T) {
	p, err := Parse([]byte("\xef\xbb\xbf#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-MEDIA-SEQUENCE:42\n#EXT-X-TARGETDURATION:2\n" +
		"#EXTINF:2.000,\na-42.ts?x=1\n#EXT-X-PROGRAM-DATE-TIME:2026-12-02T10:00:00.5Z\n#EXTINF:1.5,title\n\n a-43.ts \n#EXT-X-ENDLIST\n"))
	if err != nil {
		t.Fatal(err)
	}
	if p.Master || p.MediaSequence != 42 || p.TargetDuration != 2*time.Second || !p.EndList || len(p.Segments) != 2 {
		t.Fatalf("%+v", p)
	}
	s := p.Segments[1]
	if s.URI != "a-43.ts" || s.Duration != 1500*time.Millisecond || !s.ProgramDateTime.Equal(time.Date(2026, 12, 2, 10, 0, 0, 5e8, time.UTC)) {
		t.Errorf("segment %+v", s)
	}
	if !p.Segments[0].ProgramDateTime.IsZero() {
		t.Errorf("first segment has a date: %+v", p.Segments[0])
	}
	m, err := Parse([]byte("#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=1\nlow.m3u8\n#EXT-X-STREAM-INF:BANDWIDTH=2\nhigh.m3u8\n"))
	if err != nil || !m.Master || strings.Join(m.Variants, ",") != "low.m3u8,high.m3u8" {
		t.Errorf("master %+v %v", m, err)
	}
	for _, tt := range []struct{ name, in, want string }{
		{"empty", "", "empty"},
		{"html", "<html>", "not an HLS playlist"},
		{"no target duration", "#EXTM3U\n#EXTINF:1,\na.ts\n", "TARGETDURATION"},
		{"bad target duration", "#EXTM3U\n#EXT-X-TARGETDURATION:x\n", "TARGETDURATION"},
		{"negative sequence", "#EXTM3U\n#EXT-X-TARGETDURATION:1\n#EXT-X-MEDIA-SEQUENCE:-1\n", "MEDIA-SEQUENCE"},
		{"bad extinf", "#EXTM3U\n#EXT-X-TARGETDURATION:1\n#EXTINF:NaN,\na.ts\n", "EXTINF"},
		{"two extinf", "#EXTM3U\n#EXT-X-TARGETDURATION:1\n#EXTINF:1,\n#EXTINF:1,\na.ts\n", "without a URI"},
		{"stray URI", "#EXTM3U\n#EXT-X-TARGETDURATION:1\na.ts\n", "without #EXTINF"},
		{"bad date", "#EXTM3U\n#EXT-X-TARGETDURATION:1\n#EXT-X-PROGRAM-DATE-TIME:yesterday\n", "PROGRAM-DATE-TIME"},
		{"master without URI", "#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=1\n", "without a variant"},
		{"mixed", "#EXTM3U\n#EXT-X-STREAM-INF:B=1\nv.m3u8\n#EXTINF:1,\na.ts\n", "both"},
		{"long line", "#EXTM3U\n" + strings.Repeat("x", 9000) + "\n", "reading playlist"},
		{"huge", "#EXTM3U\n" + strings.Repeat("#\n", MaxPlaylistBytes), "more than"},
	} {
		if _, err := Parse([]byte(tt.in)); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: %v, want %q", tt.name, err, tt.want)
		}
	}
	if _, err := Parse([]byte("nope")); !errors.Is(err, ErrNotPlaylist) {
		t.Errorf("not a playlist: %v", err)
	}
}

// FuzzPlaylist: any input parses or fails with an error, never panics,
// and what parses is consistent.
func FuzzPlaylist(f *testing.F) {
	f.Add([]byte("#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXT-X-MEDIA-SEQUENCE:1\n#EXTINF:2.0,\na-1.ts\n"))
	f.Add([]byte("#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=1\nv.m3u8\n"))
	f.Add([]byte("#EXTM3U\n#EXT-X-PROGRAM-DATE-TIME:2026-12-02T10:00:00Z\n#EXTINF:1,\na.ts\n#EXT-X-ENDLIST\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := Parse(b)
		if err != nil {
			if p != nil {
				t.Fatal("a playlist with an error")
			}
			return
		}
		if p.Master != (len(p.Variants) > 0) || (p.Master && len(p.Segments) > 0) {
			t.Fatalf("inconsistent: %+v", p)
		}
		for _, s := range p.Segments {
			if s.URI == "" || s.Duration < 0 || strings.HasPrefix(s.URI, "#") {
				t.Fatalf("bad segment %+v", s)
			}
		}
		if p.MediaSequence < 0 || p.TargetDuration < 0 {
			t.Fatalf("negative values: %+v", p)
		}
	})
}
