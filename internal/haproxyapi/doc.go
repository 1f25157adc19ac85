// Package haproxyapi is lbpilot's client for HAProxy's runtime (stats) socket.
//
// It speaks the non-interactive CLI over a unix or TCP socket using only the
// standard library: one command line per connection, several commands joined
// with ';' (at most MaxBatch per line), output read to EOF and split on the
// empty line HAProxy writes after every command's output. Errors are told
// apart from success with `set severity-output number` ("[3]: " prefixes)
// where HAProxy has it (1.9+), and by the exact rule "these commands print
// nothing on success" on HAProxy 1.8.
//
// Every backend or server name placed into a command passes ValidName first
// ([A-Za-z0-9_.:-]+ or #<id>), so no ';', newline or space from an alert label,
// config value or request can reach the socket.
//
// The parsers (ParseStat, ParseServersState, ParseInfo, ParseStatus) are pure
// functions over the raw bytes, shared by the HAProxy collector, the
// rebalancer and the tests.
package haproxyapi
