package lab

import (
	"bytes"
	"encoding/binary"
	"net"
	"sync"

	"github.com/bluenviron/gortmplib/pkg/amf0"
)

// Node identification over RTMP. SRS answers connect with a _result
// whose info object carries a "data" object describing the server
// (srs_server, srs_version, srs_pid, srs_id, ...). A lab origin answers
// with such a data object too, holding srs_server ("SRS/<version>(lab)"),
// srs_version and lab_node, the node's name: a publisher behind HAProxy
// reads lab_node to tell which origin took it.
//
// gortmplib writes its own connect _result, so the origin rewrites it on
// the way out (connectData), and the lab's publisher finds lab_node in
// the bytes it reads during the connect (nodeScanner).

// rtmpNodeKey is the data object's key naming the lab node.
const rtmpNodeKey = "lab_node"

// rtmpCommandAMF0 is the RTMP message type of an AMF0 command.
const rtmpCommandAMF0 = 20

// withConnectData returns b with data added to the info object when b is
// a successful connect _result written as one chunk with a type 0
// header (gortmplib flushes each message in one write, and the chunk size
// it announced before is larger than the message); else b, false.
func withConnectData(b []byte, data amf0.Object) ([]byte, bool) {
	const hdr = 12 // basic header (1 byte) + type 0 message header (11 bytes)
	if len(b) < hdr || b[0]>>6 != 0 || b[0]&0x3f < 2 || b[7] != rtmpCommandAMF0 ||
		b[1] == 0xff && b[2] == 0xff && b[3] == 0xff {
		return b, false
	}
	n := int(b[4])<<16 | int(b[5])<<8 | int(b[6])
	if len(b) != hdr+n {
		return b, false
	}
	args, err := amf0.Unmarshal(b[hdr:])
	if err != nil || len(args) < 4 || args[0] != "_result" {
		return b, false
	}
	info, ok := args[3].(amf0.Object)
	if !ok {
		return b, false
	}
	if code, _ := info.GetString("code"); code != "NetConnection.Connect.Success" {
		return b, false
	}
	args[3] = append(info[:len(info):len(info)], amf0.ObjectEntry{Key: "data", Value: data})
	body, err := args.Marshal()
	if err != nil || len(body) >= 1<<16 {
		return b, false
	}
	out := append(make([]byte, 0, hdr+len(body)), b[:hdr]...)
	out[4], out[5], out[6] = byte(len(body)>>16), byte(len(body)>>8), byte(len(body))
	return append(out, body...), true
}

// nodeScanner is a client connection that looks for lab_node in the
// first bytes the server sends.
type nodeScanner struct {
	net.Conn
	mu   sync.Mutex
	buf  []byte
	node string
	done bool
}

// nodeScanLimit is how far into the connection lab_node is looked for.
const nodeScanLimit = 64 << 10

var rtmpNodePattern = append(binary.BigEndian.AppendUint16(nil, uint16(len(rtmpNodeKey))), append([]byte(rtmpNodeKey), 0x02)...)

func (s *nodeScanner) Read(p []byte) (int, error) {
	n, err := s.Conn.Read(p)
	if n > 0 {
		s.mu.Lock()
		if !s.done {
			s.buf = append(s.buf, p[:n]...)
			s.scan()
		}
		s.mu.Unlock()
	}
	return n, err
}

// scan looks for the key and a complete string value (s.mu held).
func (s *nodeScanner) scan() {
	i := bytes.Index(s.buf, rtmpNodePattern)
	if i < 0 {
		if len(s.buf) > nodeScanLimit {
			s.done, s.buf = true, nil
		}
		return
	}
	v := s.buf[i+len(rtmpNodePattern):]
	if len(v) < 2 {
		return
	}
	l := int(binary.BigEndian.Uint16(v))
	if len(v) < 2+l {
		return
	}
	s.node, s.done, s.buf = string(v[2:2+l]), true, nil
}

// Node is the lab_node the server sent, "" if none (yet).
func (s *nodeScanner) Node() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.node
}
