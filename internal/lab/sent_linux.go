package lab

import (
	"net"

	"golang.org/x/sys/unix"
)

// tcpBytesSent reads how many bytes the peer has acknowledged on c (the
// kernel's tcpi_bytes_acked): what a client sent, without wrapping its
// writes.
func tcpBytesSent(c *net.TCPConn) (int64, bool) {
	raw, err := c.SyscallConn()
	if err != nil {
		return 0, false
	}
	var n int64
	var gerr error
	if err := raw.Control(func(fd uintptr) {
		var info *unix.TCPInfo
		if info, gerr = unix.GetsockoptTCPInfo(int(fd), unix.IPPROTO_TCP, unix.TCP_INFO); gerr == nil {
			n = int64(info.Bytes_acked)
		}
	}); err != nil || gerr != nil {
		return 0, false
	}
	return n, true
}
