package lab

import (
	"encoding/binary"
	"math"
)

// Dummy media for the SRS edge: FLV tags and MPEG-TS segments that
// players and probes accept (valid containers, filler payloads).

// flvWriter produces an FLV stream: start gives the file header, the
// metadata and the codec sequence headers, then each frame one video
// and one audio tag worth flvTick at the bitrate.
type flvWriter struct {
	bitrate int
	n       int // frames written
	buf     []byte
}

// flvTag appends one tag and its PreviousTagSize.
func flvTag(b []byte, typ byte, ts uint32, data []byte) []byte {
	b = append(b, typ, byte(len(data)>>16), byte(len(data)>>8), byte(len(data)),
		byte(ts>>16), byte(ts>>8), byte(ts), byte(ts>>24), 0, 0, 0)
	b = append(b, data...)
	return binary.BigEndian.AppendUint32(b, uint32(11+len(data)))
}

func amfString(b []byte, s string) []byte {
	b = binary.BigEndian.AppendUint16(b, uint16(len(s)))
	return append(b, s...)
}

// Dummy codec configuration: an AVC decoder configuration record
// (baseline, 320x240-ish parameter sets) and an AAC-LC 44.1 kHz stereo
// AudioSpecificConfig.
var (
	flvAVCConfig = []byte{0x01, 0x42, 0xc0, 0x1e, 0xff, 0xe1, 0x00, 0x09,
		0x67, 0x42, 0xc0, 0x1e, 0xd9, 0x01, 0x40, 0x7b, 0x20, 0x01, 0x00, 0x04, 0x68, 0xcb, 0x8c, 0xb2}
	flvAACConfig = []byte{0x12, 0x10}
)

func (f *flvWriter) start() []byte {
	b := []byte{'F', 'L', 'V', 1, 0x05, 0, 0, 0, 9, 0, 0, 0, 0}
	meta := []byte{0x02}
	meta = amfString(meta, "onMetaData")
	fields := []struct {
		k string
		v float64
	}{{"width", 320}, {"height", 240}, {"framerate", 25}, {"videocodecid", 7}, {"audiocodecid", 10},
		{"videodatarate", float64(f.bitrate-srsAudioShare) / 1000}, {"audiodatarate", srsAudioShare / 1000}}
	meta = append(meta, 0x08)
	meta = binary.BigEndian.AppendUint32(meta, uint32(len(fields)))
	for _, fl := range fields {
		meta = amfString(meta, fl.k)
		meta = append(meta, 0x00)
		meta = binary.BigEndian.AppendUint64(meta, math.Float64bits(fl.v))
	}
	meta = append(meta, 0, 0, 0x09)
	b = flvTag(b, 18, 0, meta)
	b = flvTag(b, 9, 0, append([]byte{0x17, 0, 0, 0, 0}, flvAVCConfig...))
	b = flvTag(b, 8, 0, append([]byte{0xaf, 0}, flvAACConfig...))
	return b
}

// frame returns the next video and audio tags (a key frame every 2 s).
func (f *flvWriter) frame() []byte {
	ts := uint32(f.n * int(flvTick.Milliseconds()))
	per := float64(f.bitrate) / 8 * flvTick.Seconds()
	audio := max(int(float64(srsAudioShare)/8*flvTick.Seconds()), 8)
	video := max(int(per)-audio-2*15, 16)
	b := f.buf[:0]
	v := make([]byte, 0, video)
	hdr, nal := byte(0x27), byte(0x41)
	if f.n%50 == 0 {
		hdr, nal = 0x17, 0x65
	}
	v = append(v, hdr, 1, 0, 0, 0)
	v = binary.BigEndian.AppendUint32(v, uint32(video-9))
	v = append(v, nal)
	for len(v) < video {
		v = append(v, 0xaa)
	}
	b = flvTag(b, 9, ts, v)
	a := make([]byte, audio)
	a[0], a[1] = 0xaf, 1
	b = flvTag(b, 8, ts, a)
	f.buf = b
	f.n++
	return b
}

const tsPacket = 188

// tsSegment returns segment n of a stream at bitrate: HLSFragment worth
// of 188-byte packets, a PAT and a PMT first (PID 0x1000 program, an
// H.264 stream on PID 0x100), then filler packets on PID 0x100.
func tsSegment(bitrate int, n int64) []byte {
	size := max(int(float64(bitrate)/8*HLSFragment.Seconds())/tsPacket, 3) * tsPacket
	b := make([]byte, 0, size)
	psi := func(pid uint16, section []byte) {
		p := append(b[len(b):], 0x47, 0x40|byte(pid>>8), byte(pid), 0x10, 0x00)
		p = append(p, section...)
		p = binary.BigEndian.AppendUint32(p, crc32MPEG(section))
		for len(p) < tsPacket {
			p = append(p, 0xff)
		}
		b = b[:len(b)+tsPacket]
	}
	psi(0, []byte{0x00, 0xb0, 0x0d, 0x00, 0x01, 0xc1, 0x00, 0x00, 0x00, 0x01, 0xf0, 0x00})
	psi(0x1000, []byte{0x02, 0xb0, 0x12, 0x00, 0x01, 0xc1, 0x00, 0x00, 0xe1, 0x00, 0xf0, 0x00, 0x1b, 0xe1, 0x00, 0xf0, 0x00})
	cc := byte(n) // continuity carries on across segments, roughly
	for first := true; len(b) < size; first = false {
		flags := byte(0x01)
		if first {
			flags = 0x41 // payload unit start
		}
		b = append(b, 0x47, flags, 0x00, 0x10|cc&0x0f)
		cc++
		for i := 4; i < tsPacket; i++ {
			b = append(b, 0xff)
		}
	}
	return b
}

// crc32MPEG is the CRC-32/MPEG-2 of PSI sections.
func crc32MPEG(b []byte) uint32 {
	crc := uint32(0xffffffff)
	for _, c := range b {
		crc ^= uint32(c) << 24
		for i := 0; i < 8; i++ {
			if crc&0x80000000 != 0 {
				crc = crc<<1 ^ 0x04c11db7
			} else {
				crc <<= 1
			}
		}
	}
	return crc
}
