// Package logging builds the project's go-kit logger from the Prometheus-style
// --log.level and --log.format flags, and bridges *slog.Logger users
// (exporter-toolkit) onto the same logger so there is one stream and one format.
package logging

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/alecthomas/kingpin/v2"
	"github.com/go-kit/log"
	"github.com/go-kit/log/level"

	"github.com/lbpilot/lbpilot/internal/redact"
)

// Levels and formats accepted by the flags, in the order shown in --help.
var (
	Levels  = []string{"debug", "info", "warn", "error"}
	Formats = []string{"logfmt", "json"}
)

// Config holds the two logging flags.
type Config struct {
	Level  string
	Format string
}

// AddFlags registers --log.level and --log.format on a kingpin app or command.
func AddFlags(a interface {
	Flag(name, help string) *kingpin.FlagClause
}, c *Config) {
	a.Flag("log.level", "Only log messages with the given severity or above. One of: ["+strings.Join(Levels, ", ")+"]").
		Default("info").StringVar(&c.Level)
	a.Flag("log.format", "Output format of log messages. One of: ["+strings.Join(Formats, ", ")+"]").
		Default("logfmt").StringVar(&c.Format)
}

// New returns a logger writing to stderr.
func New(c Config) (log.Logger, error) { return NewWriter(os.Stderr, c) }

// NewWriter returns a leveled, timestamped logger writing to w.
func NewWriter(w io.Writer, c Config) (log.Logger, error) {
	var l log.Logger
	switch c.Format {
	case "", "logfmt":
		l = log.NewLogfmtLogger(log.NewSyncWriter(w))
	case "json":
		l = log.NewJSONLogger(log.NewSyncWriter(w))
	default:
		return nil, fmt.Errorf("invalid --log.format %q (want one of %s)", c.Format, strings.Join(Formats, ", "))
	}
	opt, err := levelOption(c.Level)
	if err != nil {
		return nil, err
	}
	// Every line passes the redaction of credentials in URLs: error
	// messages echo config values (see internal/redact).
	l = level.NewFilter(redact.Logger(l), opt)
	return log.With(l, "ts", log.TimestampFormat(time.Now, time.RFC3339Nano), "caller", caller), nil
}

// caller reports the first stack frame outside go-kit, log/slog and this
// package, so lines logged through the slog bridge name their real origin
// just like direct go-kit calls.
var caller log.Valuer = func() any {
	var pcs [16]uintptr
	n := runtime.Callers(3, pcs[:])
	frames := runtime.CallersFrames(pcs[:n])
	for {
		f, more := frames.Next()
		if !skipFrame(f.Function) {
			return filepath.Base(f.File) + ":" + strconv.Itoa(f.Line)
		}
		if !more {
			return "unknown"
		}
	}
}

func skipFrame(fn string) bool {
	return strings.HasPrefix(fn, "github.com/go-kit/log") ||
		strings.HasPrefix(fn, "log/slog.") ||
		strings.HasPrefix(fn, "github.com/lbpilot/lbpilot/internal/logging.(*slogHandler)")
}

func levelOption(s string) (level.Option, error) {
	switch s {
	case "debug":
		return level.AllowDebug(), nil
	case "", "info":
		return level.AllowInfo(), nil
	case "warn":
		return level.AllowWarn(), nil
	case "error":
		return level.AllowError(), nil
	}
	return nil, fmt.Errorf("invalid --log.level %q (want one of %s)", s, strings.Join(Levels, ", "))
}
