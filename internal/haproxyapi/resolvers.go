package haproxyapi

import (
	"context"
	"fmt"
	"strconv"
	"strings"
)

// Nameserver is one nameserver of `show resolvers`, with its counters in
// the order HAProxy prints them (sent, snd_error, valid, update, cname,
// cname_error, any_err, nx, timeout, refused, other, invalid, too_big,
// truncated, outdated in 2.6).
type Nameserver struct {
	Resolvers string // the resolvers section
	Name      string
	Counters  []Counter
}

// Counter is one named number.
type Counter struct {
	Name  string
	Value float64
}

// ParseResolvers parses `show resolvers`:
//
//	Resolvers section <name>
//	 nameserver <name>:
//	  <counter>: <value>
func ParseResolvers(data []byte) ([]Nameserver, error) {
	text := string(data)
	if unsupported(text) {
		return nil, ErrUnsupported
	}
	var out []Nameserver
	section := ""
	for n, raw := range strings.Split(text, "\n") {
		line := strings.TrimSpace(raw)
		switch {
		case line == "":
		case strings.HasPrefix(line, "Resolvers section "):
			section = strings.TrimSpace(line[len("Resolvers section "):])
		case strings.HasPrefix(line, "nameserver ") && strings.HasSuffix(line, ":"):
			if section == "" {
				return nil, fmt.Errorf("show resolvers line %d: nameserver outside a resolvers section", n+1)
			}
			out = append(out, Nameserver{Resolvers: section, Name: strings.TrimSuffix(line[len("nameserver "):], ":")})
		case len(out) > 0 && strings.HasPrefix(raw, "  "):
			k, v, ok := strings.Cut(line, ":")
			if !ok {
				return nil, fmt.Errorf("show resolvers line %d: %q has no ':'", n+1, line)
			}
			f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			if err != nil {
				return nil, fmt.Errorf("show resolvers line %d: %s %q is not a number", n+1, k, strings.TrimSpace(v))
			}
			ns := &out[len(out)-1]
			ns.Counters = append(ns.Counters, Counter{Name: k, Value: f})
		default:
			return nil, &CommandError{Command: "show resolvers", Message: line, Severity: -1}
		}
	}
	return out, nil
}

// ShowResolvers runs `show resolvers`.
func (c *Client) ShowResolvers(ctx context.Context) ([]Nameserver, error) {
	out, err := c.raw(ctx, showCommand("show resolvers"))
	if err != nil {
		return nil, err
	}
	return ParseResolvers(out)
}

// ShowTables runs `show table` (every table's size and use), or, when
// table is set, `show table <table>` with at most maxEntries entries kept
// (0: all).
func (c *Client) ShowTables(ctx context.Context, table string, maxEntries int) ([]StickTable, error) {
	cmd := showCommand("show table")
	if table != "" {
		if err := CheckName("table", table); err != nil {
			return nil, err
		}
		cmd = showCommand("show table " + table)
	}
	out, err := c.raw(ctx, cmd)
	if err != nil {
		return nil, err
	}
	return ParseTables(out, maxEntries)
}
