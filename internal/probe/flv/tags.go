package flv

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// FLV tag types (the low five bits of a tag's first byte).
const (
	TagAudio  = 8
	TagVideo  = 9
	TagScript = 18
)

// MaxTagSize bounds one tag's data: a larger size is garbage, not a
// frame (FLV's field allows 16 MiB; real key frames are far smaller).
const MaxTagSize = 8 << 20

// Header is the FLV file header.
type Header struct {
	Version      byte
	Audio, Video bool // what the header announces
}

// ErrNotFLV is returned for a stream that does not start with an FLV header.
var ErrNotFLV = errors.New("not an FLV stream")

// ReadHeader reads the 9-byte FLV header, any extra header bytes its
// offset announces, and PreviousTagSize0.
func ReadHeader(r *bufio.Reader) (Header, error) {
	var b [9]byte
	if _, err := io.ReadFull(r, b[:]); err != nil {
		return Header{}, fmt.Errorf("FLV header: %w", err)
	}
	if b[0] != 'F' || b[1] != 'L' || b[2] != 'V' {
		return Header{}, fmt.Errorf("%w: starts with %q", ErrNotFLV, b[:3])
	}
	off := binary.BigEndian.Uint32(b[5:9])
	if off < 9 || off > 1024 {
		return Header{}, fmt.Errorf("%w: header size %d", ErrNotFLV, off)
	}
	if _, err := r.Discard(int(off - 9)); err != nil {
		return Header{}, fmt.Errorf("FLV header: %w", err)
	}
	var prev [4]byte
	if _, err := io.ReadFull(r, prev[:]); err != nil {
		return Header{}, fmt.Errorf("FLV header: %w", err)
	}
	if binary.BigEndian.Uint32(prev[:]) != 0 {
		return Header{}, fmt.Errorf("%w: PreviousTagSize0 is %d, want 0", ErrNotFLV, binary.BigEndian.Uint32(prev[:]))
	}
	return Header{Version: b[3], Audio: b[4]&0x04 != 0, Video: b[4]&0x01 != 0}, nil
}

// Tag is one tag's header; its data is skipped.
type Tag struct {
	Type      byte
	Size      uint32 // data bytes
	Timestamp uint32 // milliseconds (with the extended byte)
}

// Wire is the tag's size on the wire: header, data and PreviousTagSize.
func (t Tag) Wire() int { return 11 + int(t.Size) + 4 }

// NextTag reads one tag: its 11-byte header, its data (discarded) and
// the PreviousTagSize after it, which must match.
func NextTag(r *bufio.Reader) (Tag, error) {
	var h [11]byte
	if _, err := io.ReadFull(r, h[:]); err != nil {
		return Tag{}, err
	}
	t := Tag{
		Type:      h[0] & 0x1f,
		Size:      uint32(h[1])<<16 | uint32(h[2])<<8 | uint32(h[3]),
		Timestamp: uint32(h[7])<<24 | uint32(h[4])<<16 | uint32(h[5])<<8 | uint32(h[6]),
	}
	switch t.Type {
	case TagAudio, TagVideo, TagScript:
	default:
		return t, fmt.Errorf("FLV tag of unknown type %d", t.Type)
	}
	if t.Size > MaxTagSize {
		return t, fmt.Errorf("FLV tag of %d bytes (more than %d)", t.Size, MaxTagSize)
	}
	if _, err := r.Discard(int(t.Size)); err != nil {
		return t, unexpected(err)
	}
	var prev [4]byte
	if _, err := io.ReadFull(r, prev[:]); err != nil {
		return t, unexpected(err)
	}
	if p := binary.BigEndian.Uint32(prev[:]); p != 11+t.Size {
		return t, fmt.Errorf("FLV PreviousTagSize %d after a tag of %d bytes (want %d)", p, t.Size, 11+t.Size)
	}
	return t, nil
}

// unexpected turns an EOF inside a tag into io.ErrUnexpectedEOF.
func unexpected(err error) error {
	if errors.Is(err, io.EOF) {
		return io.ErrUnexpectedEOF
	}
	return err
}
