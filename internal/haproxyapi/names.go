package haproxyapi

import (
	"fmt"
	"strconv"
)

// MaxNameLen bounds a backend or server name. HAProxy itself has no small
// limit, but a single command must stay far below its 16 KiB buffer.
const MaxNameLen = 512

// ValidName reports whether s may be placed into a runtime command as a
// backend or server reference: one or more of [A-Za-z0-9_.:-], or '#'
// followed by a decimal id. Everything else — separators (';', newline,
// space, tab, '/', '\\'), quotes, non-ASCII — is refused.
func ValidName(s string) bool {
	if s == "" || len(s) > MaxNameLen {
		return false
	}
	if s[0] == '#' {
		if len(s) == 1 {
			return false
		}
		for i := 1; i < len(s); i++ {
			if s[i] < '0' || s[i] > '9' {
				return false
			}
		}
		return true
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case c == '_', c == '.', c == ':', c == '-':
		default:
			return false
		}
	}
	return true
}

// CheckName returns an error naming what and the offending value (quoted,
// so control characters are visible) when s is not a ValidName.
func CheckName(what, s string) error {
	if ValidName(s) {
		return nil
	}
	if len(s) > 64 {
		s = s[:64] + "…"
	}
	return fmt.Errorf("invalid HAProxy %s name %s: want [A-Za-z0-9_.:-]+ or #<id>", what, strconv.Quote(s))
}

// ServerRef names one server of one backend.
type ServerRef struct {
	Backend string `json:"backend"`
	Server  string `json:"server"`
}

func (r ServerRef) String() string { return r.Backend + "/" + r.Server }

// Validate checks both names.
func (r ServerRef) Validate() error {
	if err := CheckName("backend", r.Backend); err != nil {
		return err
	}
	return CheckName("server", r.Server)
}
