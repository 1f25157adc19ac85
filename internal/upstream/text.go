package upstream

import (
	"fmt"
	"sort"
	"strings"
	"unicode/utf8"

	"github.com/lbpilot/lbpilot/internal/redact"
)

// RedactURL returns u with any password replaced by "xxxxx", for logs and
// error messages, also when u does not parse (see internal/redact).
func RedactURL(u string) string { return redact.URL(u) }

// HTTPError is an upstream HTTP answer that is not a success. Body is a
// short, single-line excerpt for the log.
type HTTPError struct {
	URL    string
	Status int
	Body   string
}

func (e *HTTPError) Error() string {
	msg := fmt.Sprintf("GET %s: HTTP %d", RedactURL(e.URL), e.Status)
	if e.Body != "" {
		msg += ": " + e.Body
	}
	return msg
}

// Excerpt shortens an upstream body for an error message: one line, at most
// n bytes, control characters removed, valid UTF-8.
func Excerpt(b []byte, n int) string { return Shorten(string(b), n) }

// Shorten is Excerpt for a string.
func Shorten(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > n {
		s = s[:n] + "…"
	}
	return ValidUTF8(strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return -1
		}
		return r
	}, s))
}

// ValidUTF8 makes s usable as a label value (Prometheus requires UTF-8).
func ValidUTF8(s string) string {
	if utf8.ValidString(s) {
		return s
	}
	return strings.ToValidUTF8(s, "\uFFFD")
}

// JSONType names the JSON type of a value decoded into any, for error
// messages about payloads of the wrong shape.
func JSONType(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case map[string]any:
		return "object"
	case []any:
		return "array"
	case string:
		return "string"
	case bool:
		return "boolean"
	}
	return "number"
}

// SortedKeys returns a decoded JSON object's keys in order, so errors and
// outputs are deterministic.
func SortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
