package wcsapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"

	"github.com/lbpilot/lbpilot/internal/upstream"
)

// ParseError is a statistics page that could not be read. It names the
// first problem (with its line or group) and how many more there were, so
// one log line says what is wrong.
type ParseError struct {
	Format   string   // "text" or "JSON"
	Problems []string // the first few problems, in page order
	More     int      // problems found beyond Problems
}

func (e *ParseError) Error() string {
	msg := "WCS statistics page (" + e.Format + "): " + e.Problems[0]
	if n := len(e.Problems) - 1 + e.More; n == 1 {
		msg += " (and 1 more problem)"
	} else if n > 1 {
		msg += fmt.Sprintf(" (and %d more problems)", n)
	}
	return msg
}

// maxProblems bounds what a ParseError keeps (the count stays exact).
const maxProblems = 20

type problems struct {
	list  []string
	extra int
}

func (p *problems) add(format string, args ...any) {
	if len(p.list) >= maxProblems {
		p.extra++
		return
	}
	p.list = append(p.list, fmt.Sprintf(format, args...))
}

func (p *problems) err(format string) error {
	if len(p.list) == 0 {
		return nil
	}
	return &ParseError{Format: format, Problems: p.list, More: p.extra}
}

// Parse reads a statistics page in either form: JSON when the body starts
// with '{', '[' or '"', the key=value text otherwise.
func Parse(body []byte) (*Stats, error) {
	b := bytes.TrimLeft(bytes.TrimPrefix(body, []byte("\xef\xbb\xbf")), " \t\r\n")
	if len(b) > 0 && (b[0] == '{' || b[0] == '[' || b[0] == '"') {
		return ParseJSON(body)
	}
	return ParseText(body)
}

func newStats() *Stats {
	return &Stats{Values: map[string]float64{}, Text: map[string]string{}}
}

// ParseText reads the text form: `-----Section-----` header lines, then
// key=value lines. Blank lines, CRLF and duplicate keys (the last one
// wins) are tolerated; a line without '=', an empty key, or a documented
// counter whose value is not a non-negative number makes the page
// unreadable, because a page that garbled cannot be trusted for the rest.
func ParseText(body []byte) (*Stats, error) {
	body = bytes.TrimPrefix(body, []byte("\xef\xbb\xbf"))
	if err := checkNotEmptyOrHTML(body); err != nil {
		return nil, err
	}
	s := newStats()
	var p problems
	lines := bytes.Split(body, []byte{'\n'})
	pairs := 0
	for i, raw := range lines {
		line := strings.TrimSpace(string(raw))
		if line == "" || line[0] == '-' {
			continue // blank, or a section header such as -----Stream Stats-----
		}
		where := fmt.Sprintf("line %d", i+1)
		key, val, ok := strings.Cut(line, "=")
		if !ok {
			hint := ""
			if i == len(lines)-1 {
				hint = " (body truncated?)"
			}
			p.add("%s: no '=' in %q%s", where, upstream.Shorten(line, 60), hint)
			continue
		}
		key, val = strings.TrimSpace(key), strings.TrimSpace(val)
		if key == "" {
			p.add("%s: empty key in %q", where, upstream.Shorten(line, 60))
			continue
		}
		pairs++
		s.set(key, val, where, &p)
	}
	if err := p.err("text"); err != nil {
		return nil, err
	}
	if pairs == 0 {
		return nil, &ParseError{Format: "text", Problems: []string{"no key=value lines: " + upstream.Excerpt(body, 80)}}
	}
	if err := s.checkKnown("text", body); err != nil {
		return nil, err
	}
	return s, nil
}

// ParseJSON reads the `&format=json` form: an object keyed by group
// (connections_stats or connection_stats, streams_stats, core_stats, ...),
// each an object of keys. Groups are flattened, so their names do not
// matter; numbers may be JSON numbers or strings.
func ParseJSON(body []byte) (*Stats, error) {
	body = bytes.TrimPrefix(body, []byte("\xef\xbb\xbf"))
	if err := checkNotEmptyOrHTML(body); err != nil {
		return nil, err
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var top any
	if err := dec.Decode(&top); err != nil {
		hint := ""
		if errors.Is(err, io.ErrUnexpectedEOF) {
			hint = " (body truncated?)"
		}
		return nil, &ParseError{Format: "JSON", Problems: []string{"invalid JSON: " + err.Error() + hint}}
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, &ParseError{Format: "JSON", Problems: []string{"trailing data after the JSON object"}}
	}
	obj, ok := top.(map[string]any)
	if !ok {
		return nil, &ParseError{Format: "JSON", Problems: []string{fmt.Sprintf("top level is %s, want an object keyed by group (connections_stats, streams_stats, ...)", upstream.JSONType(top))}}
	}
	s := newStats()
	var p problems
	for _, group := range upstream.SortedKeys(obj) {
		switch g := obj[group].(type) {
		case map[string]any:
			for _, key := range upstream.SortedKeys(g) {
				s.setJSON(group, key, g[key], &p)
			}
		default:
			s.setJSON("", group, g, &p) // a key outside any group
		}
	}
	if err := p.err("JSON"); err != nil {
		return nil, err
	}
	if err := s.checkKnown("JSON", body); err != nil {
		return nil, err
	}
	return s, nil
}

func (s *Stats) setJSON(group, key string, v any, p *problems) {
	where := key
	if group != "" {
		where = group + "." + key
	}
	if key == "transcoding_video_full_info" {
		s.Distributors = parseTranscoding(where, v, p)
		return
	}
	kind, known := kindOf(key)
	switch x := v.(type) {
	case nil:
		return // absent
	case json.Number:
		s.set(key, x.String(), where, p)
	case string:
		s.set(key, x, where, p)
	case bool:
		if known {
			p.add("%s: %v is not a number", where, x)
			return
		}
		s.setText(key, strconv.FormatBool(x))
	default:
		if known {
			p.add("%s: is a JSON %s, want a %s", where, upstream.JSONType(v), map[bool]string{true: "string", false: "number"}[kind == list])
		}
		// Unknown nested structures are not statistics lbpilot reads.
	}
}

// parseTranscoding reads {"<stream>": {"distributors": N}, ...}.
func parseTranscoding(where string, v any, p *problems) []StreamCount {
	m, ok := v.(map[string]any)
	if !ok {
		p.add("%s: is a JSON %s, want an object keyed by stream", where, upstream.JSONType(v))
		return nil
	}
	var out []StreamCount
	for _, name := range upstream.SortedKeys(m) {
		info, ok := m[name].(map[string]any)
		if !ok {
			p.add("%s.%s: is a JSON %s, want an object", where, name, upstream.JSONType(m[name]))
			continue
		}
		d, ok := info["distributors"]
		if !ok {
			continue
		}
		var raw string
		switch x := d.(type) {
		case json.Number:
			raw = x.String()
		case string:
			raw = x
		}
		n, err := parseNumber(raw)
		if err != nil || n < 0 {
			p.add("%s.%s.distributors: %q is not a non-negative number", where, name, upstream.Shorten(raw, 60))
			continue
		}
		out = append(out, StreamCount{Stream: upstream.ValidUTF8(name), Count: n})
	}
	return out
}

// set records one key, checking documented keys.
func (s *Stats) set(key, raw, where string, p *problems) {
	kind, known := kindOf(key)
	if !known {
		if v, err := parseNumber(raw); err == nil {
			s.setValue(key, v)
		} else {
			s.setText(key, raw)
		}
		return
	}
	switch kind {
	case list:
		entries, err := parseList(raw)
		if err != nil {
			p.add("%s: %s: %v", where, key, err)
			return
		}
		if key == "streams_viewers" {
			s.Viewers = entries
		}
		s.setText(key, raw)
		return
	}
	if raw == "" {
		// An empty value is an unset statistic (e.g. bandwidth with the
		// check disabled): absent rather than zero or an error.
		delete(s.Values, key)
		return
	}
	v, err := parseNumber(raw)
	if err != nil {
		p.add("%s: %s=%q is not a number", where, key, upstream.Shorten(raw, 60))
		return
	}
	if v < 0 {
		if kind == jmxLoad {
			// JMX reports a negative load when it is not available.
			delete(s.Values, key)
			return
		}
		p.add("%s: %s=%s is negative", where, key, raw)
		return
	}
	s.setValue(key, v)
}

func (s *Stats) setValue(key string, v float64) {
	delete(s.Text, key)
	s.Values[key] = v
}

func (s *Stats) setText(key, v string) {
	delete(s.Values, key)
	s.Text[key] = v
}

// checkKnown rejects a page with none of the documented keys: valid
// key=value text or JSON from something that is not WCS's stat page.
func (s *Stats) checkKnown(format string, body []byte) error {
	if len(s.Distributors) > 0 {
		return nil
	}
	for k := range s.Values {
		if _, ok := kindOf(k); ok {
			return nil
		}
	}
	for k := range s.Text {
		if _, ok := kindOf(k); ok {
			return nil
		}
	}
	return &ParseError{Format: format, Problems: []string{"none of the WCS statistics keys (connections, streams_*, core_*, ...) found: " + upstream.Excerpt(body, 80)}}
}

func checkNotEmptyOrHTML(body []byte) error {
	t := bytes.TrimSpace(body)
	if len(t) == 0 {
		return &ParseError{Format: "text", Problems: []string{"empty body"}}
	}
	if t[0] == '<' {
		return &ParseError{Format: "text", Problems: []string{"body is HTML, not statistics (wrong port, or a proxy's error page?): " + upstream.Excerpt(t, 80)}}
	}
	return nil
}

// parseList reads `name/N;name/N;...` (streams_viewers). Stream names may
// hold '/', so the count follows the last one. Empty entries are skipped;
// a name repeated later keeps its first count.
func parseList(raw string) ([]StreamCount, error) {
	var out []StreamCount
	seen := map[string]bool{}
	for _, e := range strings.Split(raw, ";") {
		e = strings.TrimSpace(e)
		if e == "" {
			continue
		}
		i := strings.LastIndexByte(e, '/')
		if i <= 0 {
			return nil, fmt.Errorf("entry %q is not name/count", upstream.Shorten(e, 60))
		}
		n, err := strconv.ParseUint(e[i+1:], 10, 53)
		if err != nil {
			return nil, fmt.Errorf("entry %q: count is not a non-negative integer", upstream.Shorten(e, 60))
		}
		name := upstream.ValidUTF8(e[:i])
		if seen[name] {
			continue
		}
		seen[name] = true
		out = append(out, StreamCount{Stream: name, Count: float64(n)})
	}
	return out, nil
}

// parseNumber accepts plain decimal numbers only: no NaN, Inf, hex,
// thousands separators or decimal commas.
func parseNumber(s string) (float64, error) {
	if s == "" {
		return 0, errors.New("empty")
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if (c < '0' || c > '9') && c != '.' && c != '-' && c != '+' && c != 'e' && c != 'E' {
			return 0, errors.New("not a decimal number")
		}
	}
	v, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsInf(v, 0) || math.IsNaN(v) {
		return 0, errors.New("not a finite number")
	}
	return v, nil
}
