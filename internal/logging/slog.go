package logging

import (
	"context"
	"log/slog"

	"github.com/go-kit/log"
	"github.com/go-kit/log/level"
)

// Slog returns an *slog.Logger whose records are written through the go-kit
// logger l: the same sink, format and level filter as the rest of the
// program. Libraries that insist on slog (exporter-toolkit) get this one.
func Slog(l log.Logger) *slog.Logger {
	return slog.New(&slogHandler{logger: l})
}

// slogHandler adapts slog records to go-kit key/value calls. Level filtering
// is left to the go-kit level filter, so Enabled reports true for everything.
type slogHandler struct {
	logger log.Logger
	attrs  []any  // pre-rendered key/values from WithAttrs
	group  string // dotted group prefix from WithGroup
}

func (h *slogHandler) Enabled(context.Context, slog.Level) bool { return true }

func (h *slogHandler) Handle(_ context.Context, r slog.Record) error {
	kv := make([]any, 0, 2+len(h.attrs)+2*r.NumAttrs())
	kv = append(kv, "msg", r.Message)
	kv = append(kv, h.attrs...)
	r.Attrs(func(a slog.Attr) bool {
		kv = appendAttr(kv, h.group, a)
		return true
	})
	return log.WithPrefix(h.logger, level.Key(), goKitLevel(r.Level)).Log(kv...)
}

func (h *slogHandler) WithAttrs(as []slog.Attr) slog.Handler {
	n := *h
	n.attrs = append([]any(nil), h.attrs...)
	for _, a := range as {
		n.attrs = appendAttr(n.attrs, h.group, a)
	}
	return &n
}

func (h *slogHandler) WithGroup(name string) slog.Handler {
	if name == "" {
		return h
	}
	n := *h
	if n.group != "" {
		n.group += "."
	}
	n.group += name
	return &n
}

func appendAttr(kv []any, group string, a slog.Attr) []any {
	a.Value = a.Value.Resolve()
	if a.Equal(slog.Attr{}) {
		return kv
	}
	key := a.Key
	if group != "" {
		key = group + "." + key
	}
	if a.Value.Kind() == slog.KindGroup {
		for _, ga := range a.Value.Group() {
			kv = appendAttr(kv, key, ga)
		}
		return kv
	}
	return append(kv, key, a.Value.Any())
}

func goKitLevel(l slog.Level) level.Value {
	switch {
	case l >= slog.LevelError:
		return level.ErrorValue()
	case l >= slog.LevelWarn:
		return level.WarnValue()
	case l >= slog.LevelInfo:
		return level.InfoValue()
	default:
		return level.DebugValue()
	}
}
