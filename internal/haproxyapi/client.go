package haproxyapi

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"sync/atomic"
	"time"
)

const (
	// MaxBatch is the number of commands joined with ';' on one line (one
	// connection). HAProxy accepts more, but ~100 keeps each reply small
	// and measured fastest (14 ms for 1,000 changes on a 10k backend).
	MaxBatch = 100
	// DefaultTimeout applies when the context has no earlier deadline.
	DefaultTimeout = 5 * time.Second
	// DefaultMaxResponse bounds what one command line may return; `show
	// stat` of 10,000 servers is 2.3 MB.
	DefaultMaxResponse = 256 << 20
)

// Client talks to one HAProxy runtime socket. It is safe for concurrent use:
// every call opens its own connection, as HAProxy's non-interactive CLI
// expects.
type Client struct {
	addr        Address
	timeout     time.Duration
	maxResponse int64
	dialer      net.Dialer
	// severity caches whether HAProxy knows `set severity-output`:
	// 0 not yet known, 1 yes (1.9+), 2 no (1.8).
	severity atomic.Int32
	process  Process // master CLI prefix; zero for a worker's own socket
}

// Option configures a Client.
type Option func(*Client)

// WithTimeout sets the per-call timeout used when the context has no
// earlier deadline.
func WithTimeout(d time.Duration) Option { return func(c *Client) { c.timeout = d } }

// WithMaxResponse bounds the bytes read for one command line.
func WithMaxResponse(n int64) Option { return func(c *Client) { c.maxResponse = n } }

// New returns a client for the socket at address (see ParseAddress).
func New(address string, opts ...Option) (*Client, error) {
	a, err := ParseAddress(address)
	if err != nil {
		return nil, err
	}
	c := &Client{addr: a, timeout: DefaultTimeout, maxResponse: DefaultMaxResponse}
	for _, o := range opts {
		o(c)
	}
	return c, nil
}

// Address returns the socket address.
func (c *Client) Address() Address { return c.addr }

// ConnError wraps a transport failure (dial, write, read, timeout) so
// callers can tell "HAProxy unreachable" from "HAProxy said no".
type ConnError struct {
	Addr string
	Op   string
	Err  error
}

func (e *ConnError) Error() string { return fmt.Sprintf("HAProxy %s %s: %v", e.Addr, e.Op, e.Err) }
func (e *ConnError) Unwrap() error { return e.Err }

// ErrResponseTooLarge is an answer cut off at the client's maximum
// response size; nothing of it is used.
var ErrResponseTooLarge = errors.New("response too large")

// IsConnError reports whether err is (or wraps) a transport failure.
func IsConnError(err error) bool {
	var ce *ConnError
	return errors.As(err, &ce)
}

// exec sends one line and returns everything HAProxy wrote until EOF.
func (c *Client) exec(ctx context.Context, line string) ([]byte, error) {
	return c.execStream(ctx, line, nil)
}

// execStream is exec that calls onData with the bytes received so far
// after every read, so a parser can work while HAProxy is still writing.
func (c *Client) execStream(ctx context.Context, line string, onData func([]byte)) ([]byte, error) {
	return c.execStreamSized(ctx, line, 64<<10, onData)
}

func (c *Client) execStreamSized(ctx context.Context, line string, sizeHint int, onData func([]byte)) ([]byte, error) {
	if strings.ContainsAny(line, "\n\r") {
		// Unreachable through the constructors; a last guard.
		return nil, fmt.Errorf("refusing to send a command containing a line break")
	}
	line = c.prefixed(line)
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	conn, err := c.dialer.DialContext(ctx, c.addr.Network, c.addr.Addr)
	if err != nil {
		return nil, &ConnError{Addr: c.addr.String(), Op: "dial", Err: err}
	}
	defer conn.Close()
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	}
	// Cancelling the context unblocks a pending read or write at once.
	stop := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()

	if _, err := io.WriteString(conn, line+"\n"); err != nil {
		return nil, &ConnError{Addr: c.addr.String(), Op: "write", Err: ctxErr(ctx, err)}
	}
	buf := make([]byte, 0, min(max(sizeHint, 4<<10), int(min(c.maxResponse, 1<<30))+1))
	for {
		if len(buf) == cap(buf) {
			// Double: append's 1.25× growth would copy a 2 MB dump ~20 times.
			nb := make([]byte, len(buf), 2*cap(buf))
			copy(nb, buf)
			buf = nb
		}
		n, err := conn.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if int64(len(buf)) > c.maxResponse {
			return nil, &ConnError{Addr: c.addr.String(), Op: "read", Err: fmt.Errorf("%w: larger than %d bytes", ErrResponseTooLarge, c.maxResponse)}
		}
		if n > 0 && onData != nil {
			onData(buf)
		}
		if errors.Is(err, io.EOF) {
			return buf, nil
		}
		if err != nil {
			return buf, &ConnError{Addr: c.addr.String(), Op: "read", Err: ctxErr(ctx, err)}
		}
	}
}

// ctxErr prefers the context's reason over the deadline error it caused.
func ctxErr(ctx context.Context, err error) error {
	if ce := ctx.Err(); ce != nil {
		return fmt.Errorf("%w (%v)", ce, err)
	}
	if errors.Is(err, os.ErrDeadlineExceeded) {
		// The socket deadline is the context's; report it as such.
		return fmt.Errorf("%w (%v)", context.DeadlineExceeded, err)
	}
	return err
}

// Raw runs one read-only command built by this package and returns its
// output. It is used by the Show* helpers.
func (c *Client) raw(ctx context.Context, cmd Command) ([]byte, error) {
	out, err := c.exec(ctx, cmd.line)
	if err != nil {
		return nil, err
	}
	return out, nil
}

// Result is the outcome of one command of a batch.
type Result struct {
	Command Command
	Output  string // data printed by the command (get weight), without terminator
	Err     error  // *CommandError, ErrNoResponse or a *ConnError
}

// Results is the outcome of a batch, in command order.
type Results []Result

// Err joins every per-command error, or returns nil when all succeeded.
func (rs Results) Err() error {
	var errs []error
	for _, r := range rs {
		if r.Err != nil {
			errs = append(errs, r.Err)
		}
	}
	return errors.Join(errs...)
}

// Apply sends commands in batches of MaxBatch per connection and reports each
// command's result. The returned error is non-nil only for a transport
// failure; in that case the commands of the failed batch carry it (or
// ErrNoResponse), and later batches are not sent. Commands are applied in
// order; HAProxy runs the rest of a line after one command fails.
func (c *Client) Apply(ctx context.Context, cmds []Command) (Results, error) {
	results := make(Results, len(cmds))
	for i, cmd := range cmds {
		results[i].Command = cmd
		if cmd.line == "" {
			return results, fmt.Errorf("command %d: empty command (build commands with the package constructors)", i)
		}
	}
	for start := 0; start < len(cmds); start += MaxBatch {
		end := min(start+MaxBatch, len(cmds))
		if err := c.applyBatch(ctx, results[start:end]); err != nil {
			for i := end; i < len(cmds); i++ {
				results[i].Err = fmt.Errorf("not sent: %w", err)
			}
			return results, err
		}
	}
	return results, nil
}

func (c *Client) applyBatch(ctx context.Context, rs []Result) error {
	useSev := c.severity.Load() != 2
	var b strings.Builder
	if useSev {
		b.WriteString("set severity-output number")
	}
	for i, r := range rs {
		if i > 0 || useSev {
			b.WriteByte(';')
		}
		b.WriteString(r.Command.line)
	}
	out, err := c.exec(ctx, b.String())
	chunks := splitResponses(out)
	if useSev && len(chunks) > 0 {
		switch {
		case chunks[0] == "":
			c.severity.Store(1)
		case strings.HasPrefix(chunks[0], "Unknown command"):
			c.severity.Store(2) // HAProxy 1.8: exact-string classification from now on
		}
		chunks = chunks[1:]
	}
	for i := range rs {
		if i >= len(chunks) {
			rs[i].Err = ErrNoResponse
			if err != nil {
				rs[i].Err = err
			}
			continue
		}
		rs[i].Output, rs[i].Err = classify(rs[i].Command.line, chunks[i], isSilent(rs[i].Command.line))
	}
	return err
}

// isSilent reports whether a command prints nothing on success.
func isSilent(line string) bool {
	return !strings.HasPrefix(line, "get ") && !strings.HasPrefix(line, "show ")
}

// StatFilter selects rows of `show stat`: a proxy (name, #iid-less numeric id
// or "-1" for all), a type bitmask (1 frontends, 2 backends, 4 servers) and
// a server id (-1 all). The zero value selects everything.
type StatFilter struct {
	Proxy    string
	Types    int
	ServerID int
}

func (f StatFilter) command() (Command, error) {
	if f == (StatFilter{}) {
		return showCommand("show stat"), nil
	}
	px := f.Proxy
	if px == "" {
		px = "-1"
	} else if px != "-1" && !ValidName(px) {
		return Command{}, CheckName("proxy", px)
	}
	types := f.Types
	if types == 0 {
		types = -1
	}
	sid := f.ServerID
	if sid == 0 {
		sid = -1
	}
	return showCommand(fmt.Sprintf("show stat %s %d %d", px, types, sid)), nil
}

// ShowStatRaw returns the raw CSV of `show stat` (optionally filtered).
func (c *Client) ShowStatRaw(ctx context.Context, f StatFilter) ([]byte, error) {
	cmd, err := f.command()
	if err != nil {
		return nil, err
	}
	return c.raw(ctx, cmd)
}

// ShowStat runs `show stat` and parses the CSV by header name, line by
// line as it arrives (on 10,000 servers HAProxy needs ~40 ms to dump it).
func (c *Client) ShowStat(ctx context.Context, f StatFilter) (*Stat, error) {
	return c.ShowStatColumns(ctx, f, StatOptions{})
}

// StatOptions tune ShowStatColumns for large outputs.
type StatOptions struct {
	// Columns to keep (see ParseStatColumns); nil keeps all.
	Columns []string
	// SizeHint and RowsHint, typically the previous dump's Size and
	// Rows, size the buffers up front so a large dump is not copied
	// while it grows.
	SizeHint, RowsHint int
	// OnRows, when set, is called with the rows [from, to) as soon as
	// they are parsed, while HAProxy is still dumping the rest, so a
	// caller can render them without waiting for the whole answer. The
	// Stat it gets is valid only during the call (the input may move
	// later); fields are read as usual. An answer that fails later
	// still fails: what OnRows saw of it is the caller's to discard.
	OnRows func(st *Stat, from, to int)
}

// ShowStatColumns is ShowStat keeping only some columns (a 10,000-server
// dump has 129 columns, a collector needs about 60) with buffers sized
// from the previous dump.
func (c *Client) ShowStatColumns(ctx context.Context, f StatFilter, o StatOptions) (*Stat, error) {
	cmd, err := f.command()
	if err != nil {
		return nil, err
	}
	p := &statParser{keep: o.Columns, rowsHint: o.RowsHint}
	size := 64 << 10
	if o.SizeHint > 0 {
		size = o.SizeHint + o.SizeHint/8 + 4096
	}
	advance := func(b []byte, final bool) error {
		from := p.s.rows
		err := p.advance(b, final)
		if o.OnRows != nil && p.s.rows > from {
			o.OnRows(p.stat(b), from, p.s.rows)
		}
		return err
	}
	out, err := c.execStreamSized(ctx, cmd.line, size, func(b []byte) { _ = advance(b, false) })
	if err != nil {
		return nil, err
	}
	if err := advance(out, true); err != nil {
		return nil, err
	}
	return p.stat(out), nil
}

// ShowInfo runs `show info`.
func (c *Client) ShowInfo(ctx context.Context) (Info, error) {
	out, err := c.raw(ctx, showCommand("show info"))
	if err != nil {
		return nil, err
	}
	return ParseInfo(out)
}

// ShowServersState runs `show servers state [<backend>]`.
func (c *Client) ShowServersState(ctx context.Context, backend string) (*ServersState, error) {
	cmd := showCommand("show servers state")
	if backend != "" {
		if err := CheckName("backend", backend); err != nil {
			return nil, err
		}
		cmd = showCommand("show servers state " + backend)
	}
	out, err := c.raw(ctx, cmd)
	if err != nil {
		return nil, err
	}
	return ParseServersState(out)
}
