package haproxyapi

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// ErrUnsupported marks a command this HAProxy does not know (it answered
// with its help text): the caller leaves the families it feeds out.
var ErrUnsupported = errors.New("command not supported by this HAProxy")

// StickTable is one table of `show table`: its header line
// "# table: <name>, type: <type>, size:<n>, used:<n>".
type StickTable struct {
	Name    string
	Type    string // ip, ipv6, integer, string, binary
	Size    int64
	Used    int64
	Entries []StickEntry // only from `show table <name>`
}

// StickEntry is one entry line of `show table <name>`:
// "0x…: key=<k> use=<n> exp=<ms> [shard=<n>] <data>=<v> …".
type StickEntry struct {
	Key  string
	Use  int64
	Exp  int64 // milliseconds until expiry
	Data []StickData
}

// StickData is one stored value; Name is as HAProxy prints it, with the
// period of a rate ("http_req_rate(10000)"). Array types print one value
// per slot ("gpc(0)" … ), and non-numeric values (server_key) are kept as
// text with Numeric false.
type StickData struct {
	Name    string
	Value   float64
	Text    string
	Numeric bool
}

// ParseTables parses `show table` (headers only) or `show table <name>`
// (header and entries, at most maxEntries of them when maxEntries > 0).
func ParseTables(data []byte, maxEntries int) ([]StickTable, error) {
	text := string(data)
	if unsupported(text) {
		return nil, ErrUnsupported
	}
	var out []StickTable
	for n, line := range strings.Split(text, "\n") {
		line = strings.TrimRight(line, "\r")
		switch {
		case line == "":
		case strings.HasPrefix(line, "# table: "):
			t, err := parseTableHeader(line[len("# table: "):])
			if err != nil {
				return nil, fmt.Errorf("show table line %d: %w", n+1, err)
			}
			out = append(out, t)
		case strings.HasPrefix(line, "0x") && len(out) > 0:
			t := &out[len(out)-1]
			if maxEntries > 0 && len(t.Entries) >= maxEntries {
				continue
			}
			e, err := parseTableEntry(line)
			if err != nil {
				return nil, fmt.Errorf("show table line %d: %w", n+1, err)
			}
			t.Entries = append(t.Entries, e)
		default:
			return nil, &CommandError{Command: "show table", Message: strings.TrimSpace(line), Severity: -1}
		}
	}
	return out, nil
}

// unsupported reports HAProxy's answer to an unknown command.
func unsupported(text string) bool {
	return strings.HasPrefix(text, "Unknown command")
}

func parseTableHeader(s string) (StickTable, error) {
	var t StickTable
	for i, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		if i == 0 {
			t.Name = part
			continue
		}
		k, v, ok := strings.Cut(part, ":")
		if !ok {
			return t, fmt.Errorf("table %q: field %q has no ':'", t.Name, part)
		}
		v = strings.TrimSpace(v)
		switch k {
		case "type":
			t.Type = v
		case "size", "used":
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				return t, fmt.Errorf("table %q: %s %q is not a number", t.Name, k, v)
			}
			if k == "size" {
				t.Size = n
			} else {
				t.Used = n
			}
		}
	}
	if t.Name == "" {
		return t, errors.New("table header without a name")
	}
	return t, nil
}

func parseTableEntry(line string) (StickEntry, error) {
	var e StickEntry
	_, rest, ok := strings.Cut(line, ": key=")
	if !ok {
		return e, fmt.Errorf("entry without key: %q", line)
	}
	// A string key may hold spaces: it runs up to " use=".
	key, rest, ok := strings.Cut(rest, " use=")
	if !ok {
		return e, fmt.Errorf("entry without use=: %q", line)
	}
	e.Key = key
	for i, f := range strings.Fields("use=" + rest) {
		name, val, ok := strings.Cut(f, "=")
		if !ok {
			return e, fmt.Errorf("entry %q: field %q has no '='", key, f)
		}
		n, err := strconv.ParseFloat(val, 64)
		switch {
		case name == "use" && i == 0:
			e.Use = int64(n)
		case name == "exp":
			e.Exp = int64(n)
		case name == "shard":
		default:
			e.Data = append(e.Data, StickData{Name: name, Value: n, Text: val, Numeric: err == nil})
		}
	}
	return e, nil
}
