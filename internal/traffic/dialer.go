package traffic

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Dialer opens sessions of one protocol. Open returns once the session
// is established (a publisher publishing, a player receiving, an MQTT
// client connected and subscribed) or failed to be; an error means the
// session was refused at open and should say why (see WithReason).
//
// ctx governs the whole session, not only the opening: when it ends the
// session must end too and Wait return.
type Dialer interface {
	Open(ctx context.Context, target, kind string, p SessionParams) (Session, error)
}

// DialerFunc adapts a function to Dialer.
type DialerFunc func(ctx context.Context, target, kind string, p SessionParams) (Session, error)

// Open calls f.
func (f DialerFunc) Open(ctx context.Context, target, kind string, p SessionParams) (Session, error) {
	return f(ctx, target, kind, p)
}

// Session is one open client session.
type Session interface {
	// Wait blocks until the session is over: the server or the proxy
	// cut it, Close was called, or the Open context ended. The engine
	// calls it once. Its error says why the session ended (nil for a
	// clean close by the server; WithReason names a cause); after Close
	// or the context's end what it returns is ignored.
	Wait() error
	// Close ends the session from the client's side; Wait then returns
	// promptly. It may be called more than once.
	Close() error
	// Node names the backend node that serves the session, if the
	// protocol can tell (a header, a greeting), "" otherwise.
	Node() string
	// Bytes are the bytes received and sent so far; safe to call at any
	// time, from any goroutine.
	Bytes() (in, out int64)
}

// SessionParams is what a dialer learns about the session to open.
type SessionParams struct {
	// ID numbers sessions across the run, from 1, in arrival order.
	ID uint64
	// Stream is the stream (or topic) name: stream1 .. streamN by ID,
	// N being the protocol's streams in the plan.
	Stream string
	// Lifetime is how long the plan keeps the session open.
	Lifetime time.Duration
	// OpenTimeout bounds the opening; a dialer applies it itself.
	OpenTimeout time.Duration
	// Options are the protocol's options from the plan.
	Options map[string]string
}

// Registry maps protocol names to their dialers and session kinds.
type Registry struct {
	mu sync.RWMutex
	m  map[string]registered
}

type registered struct {
	d     Dialer
	kinds []string
}

// NewRegistry returns an empty registry.
func NewRegistry() *Registry { return &Registry{m: map[string]registered{}} }

// DefaultRegistry returns a registry holding the built-in protocols
// ("tcp").
func DefaultRegistry() *Registry {
	r := NewRegistry()
	if err := r.Register("tcp", TCPDialer{}, TCPKinds...); err != nil {
		panic(err)
	}
	return r
}

// Register adds a protocol (e.g. "wcs", "rtmp", "flv", "hls", "mqtt")
// with the session kinds a plan's mix may name (e.g. "publish", "play").
func (r *Registry) Register(name string, d Dialer, kinds ...string) error {
	if !validName(name) {
		return fmt.Errorf("protocol name %q: want [a-z0-9_-]+", name)
	}
	if d == nil {
		return fmt.Errorf("protocol %s: nil dialer", name)
	}
	if len(kinds) == 0 {
		return fmt.Errorf("protocol %s: no session kinds", name)
	}
	for _, k := range kinds {
		if !validName(k) {
			return fmt.Errorf("protocol %s: kind %q: want [a-z0-9_-]+", name, k)
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.m[name]; ok {
		return fmt.Errorf("protocol %s registered twice", name)
	}
	r.m[name] = registered{d: d, kinds: append([]string(nil), kinds...)}
	return nil
}

// Names lists the registered protocols, sorted.
func (r *Registry) Names() []string {
	r.mu.RLock()
	defer r.mu.RUnlock()
	names := make([]string, 0, len(r.m))
	for n := range r.m {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Kinds returns a protocol's session kinds.
func (r *Registry) Kinds(name string) ([]string, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	e, ok := r.m[name]
	return e.kinds, ok
}

func (r *Registry) dialer(name string) Dialer {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.m[name].d
}

func validName(s string) bool {
	if s == "" || len(s) > 40 {
		return false
	}
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// reasonError carries a short cause for metrics and the summary.
type reasonError struct {
	reason string
	err    error
}

func (e *reasonError) Error() string {
	if e.err == nil {
		return e.reason
	}
	return e.reason + ": " + e.err.Error()
}

func (e *reasonError) Unwrap() error { return e.err }

// WithReason wraps err with a short cause ([a-z0-9_], e.g. "http_503",
// "refused_by_node", "closed_by_peer") that the engine uses as the
// reason or cause label; other characters become '_'.
func WithReason(reason string, err error) error {
	return &reasonError{reason: sanitizeReason(reason), err: err}
}

// Reason is the short cause of a session's failure or cut: the one given
// by WithReason, else one read from the error (timeout,
// connection_refused, connection_reset, broken_pipe, eof, canceled),
// else "error". A nil error, a clean close by the server, is "closed".
func Reason(err error) string {
	if err == nil {
		return "closed"
	}
	var re *reasonError
	if errors.As(err, &re) {
		return re.reason
	}
	var ne net.Error
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return "timeout"
	case errors.Is(err, context.Canceled):
		return "canceled"
	case errors.Is(err, syscall.ECONNREFUSED):
		return "connection_refused"
	case errors.Is(err, syscall.ECONNRESET):
		return "connection_reset"
	case errors.Is(err, syscall.EPIPE):
		return "broken_pipe"
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "eof"
	case errors.As(err, &ne) && ne.Timeout():
		return "timeout"
	}
	return "error"
}

func sanitizeReason(s string) string {
	s = strings.ToLower(s)
	if len(s) > 40 {
		s = s[:40]
	}
	b := []byte(s)
	for i, c := range b {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_') {
			b[i] = '_'
		}
	}
	if len(b) == 0 {
		return "error"
	}
	return string(b)
}
