package hls

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// Limits of what Parse accepts: a live playlist lists a handful of
// segments; these bound a hostile one.
const (
	MaxPlaylistBytes = 1 << 20
	maxEntries       = 20000
	maxLine          = 8 << 10
)

// Playlist is what the probe needs of an HLS playlist (RFC 8216): a
// master playlist's variants, or a media playlist's segments.
type Playlist struct {
	// Master is set for a master playlist; Variants are its URIs.
	Master   bool
	Variants []string

	TargetDuration time.Duration
	MediaSequence  int64
	Segments       []Segment
	EndList        bool
}

// Segment is one media segment.
type Segment struct {
	URI      string
	Duration time.Duration
	// ProgramDateTime is the segment's EXT-X-PROGRAM-DATE-TIME, zero
	// when the playlist gives none.
	ProgramDateTime time.Time
}

// ErrNotPlaylist is returned for a body that is not an M3U8 playlist.
var ErrNotPlaylist = errors.New("not an HLS playlist")

// Parse reads a playlist. Unknown tags are ignored, as players do;
// malformed values of the tags the probe uses are errors.
func Parse(b []byte) (*Playlist, error) {
	if len(b) > MaxPlaylistBytes {
		return nil, fmt.Errorf("playlist of %d bytes (more than %d)", len(b), MaxPlaylistBytes)
	}
	b = bytes.TrimPrefix(b, []byte("\xef\xbb\xbf"))
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 0, 1024), maxLine)
	p := &Playlist{}
	first := true
	haveTarget := false
	var pending *Segment // after EXTINF, waiting for its URI
	var pdt time.Time
	variantNext := false
	n := 0
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" {
			continue
		}
		n++
		if first {
			if line != "#EXTM3U" {
				return nil, fmt.Errorf("%w: first line %q", ErrNotPlaylist, shorten(line))
			}
			first = false
			continue
		}
		if n > maxEntries {
			return nil, fmt.Errorf("playlist of more than %d lines", maxEntries)
		}
		if !strings.HasPrefix(line, "#") {
			switch {
			case variantNext:
				p.Variants = append(p.Variants, line)
				variantNext = false
			case pending != nil:
				pending.URI = line
				p.Segments = append(p.Segments, *pending)
				pending = nil
				pdt = time.Time{}
			default:
				return nil, fmt.Errorf("URI %q without #EXTINF or #EXT-X-STREAM-INF", shorten(line))
			}
			continue
		}
		tag, val, _ := strings.Cut(line, ":")
		switch tag {
		case "#EXT-X-TARGETDURATION":
			d, err := strconv.ParseUint(val, 10, 32)
			if err != nil || d > 86400 {
				return nil, fmt.Errorf("bad #EXT-X-TARGETDURATION %q", shorten(val))
			}
			p.TargetDuration, haveTarget = time.Duration(d)*time.Second, true
		case "#EXT-X-MEDIA-SEQUENCE":
			s, err := strconv.ParseInt(val, 10, 64)
			if err != nil || s < 0 {
				return nil, fmt.Errorf("bad #EXT-X-MEDIA-SEQUENCE %q", shorten(val))
			}
			p.MediaSequence = s
		case "#EXTINF":
			ds, _, _ := strings.Cut(val, ",")
			d, err := strconv.ParseFloat(strings.TrimSpace(ds), 64)
			if err != nil || d < 0 || d > 86400 || math.IsNaN(d) {
				return nil, fmt.Errorf("bad #EXTINF %q", shorten(val))
			}
			if pending != nil {
				return nil, errors.New("#EXTINF without a URI before the next #EXTINF")
			}
			pending = &Segment{Duration: time.Duration(d * float64(time.Second)), ProgramDateTime: pdt}
		case "#EXT-X-PROGRAM-DATE-TIME":
			t, err := time.Parse(time.RFC3339Nano, val)
			if err != nil {
				if t, err = time.Parse("2006-01-02T15:04:05.999999999Z0700", val); err != nil {
					return nil, fmt.Errorf("bad #EXT-X-PROGRAM-DATE-TIME %q", shorten(val))
				}
			}
			pdt = t
			if pending != nil {
				pending.ProgramDateTime = t
			}
		case "#EXT-X-STREAM-INF":
			p.Master, variantNext = true, true
		case "#EXT-X-ENDLIST":
			p.EndList = true
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("reading playlist: %w", err)
	}
	if first {
		return nil, fmt.Errorf("%w: empty", ErrNotPlaylist)
	}
	if p.Master {
		if len(p.Segments) > 0 {
			return nil, errors.New("playlist has both variants and segments")
		}
		if len(p.Variants) == 0 {
			return nil, errors.New("master playlist without a variant URI")
		}
		return p, nil
	}
	if !haveTarget {
		return nil, errors.New("media playlist without #EXT-X-TARGETDURATION")
	}
	return p, nil
}

func shorten(s string) string {
	if len(s) > 60 {
		return s[:60] + "…"
	}
	return s
}
