// Package redact is the one place that hides credentials written into
// URLs (http://user:password@host, tcp://user:password@host) before text
// reaches a log line, an HTTP answer or a command's output. Config values
// are echoed by error messages (url.Parse quotes the whole URL, so does
// net.SplitHostPort), and not every such message can be caught where it
// is made; so the output channels pass their text through here too.
package redact

import (
	"bytes"
	"io"
	"net/url"
	"regexp"
	"strings"

	"github.com/go-kit/log"
)

// Mask replaces a password.
const Mask = "xxxxx"

// URL returns u with any password replaced by Mask, also when u does not
// parse as a URL.
func URL(u string) string {
	if p, err := url.Parse(u); err == nil {
		if p.User == nil {
			return u
		}
		if _, has := p.User.Password(); has {
			return p.Redacted()
		}
		return u
	}
	return Text(u)
}

// userinfo matches "user:password@" inside a URL authority or a bare
// host:port address: the user and password contain none of the
// characters that end an authority, and the password is followed by '@'.
var userinfo = regexp.MustCompile(`([A-Za-z0-9._~%!$&'()*+,;=-]*):([^\s@/?#"'\x60\[\]]+)@`)

// Text replaces the password of every "user:password@" in s by Mask.
func Text(s string) string {
	if !strings.Contains(s, "@") {
		return s
	}
	return userinfo.ReplaceAllString(s, "${1}:"+Mask+"@")
}

// Error returns err with a redacted message; errors.Is and errors.As
// still reach the causes. A nil err stays nil.
func Error(err error) error {
	if err == nil {
		return nil
	}
	msg := err.Error()
	if red := Text(msg); red != msg {
		return &redacted{msg: red, err: err}
	}
	return err
}

type redacted struct {
	msg string
	err error
}

func (r *redacted) Error() string { return r.msg }
func (r *redacted) Unwrap() error { return r.err }

// Logger passes every string and error value of a log line (the message
// and err= fields included) through Text before next sees it.
func Logger(next log.Logger) log.Logger {
	return log.LoggerFunc(func(kv ...any) error {
		for i, v := range kv {
			switch x := v.(type) {
			case string:
				kv[i] = Text(x)
			case error:
				kv[i] = Text(x.Error())
			case interface{ String() string }:
				if s := x.String(); strings.Contains(s, "@") {
					kv[i] = Text(s)
				}
			}
		}
		return next.Log(kv...)
	})
}

// Writer passes everything written through Text: a command's stdout and
// stderr, so that no message printed by any path shows a password. Each
// Write is redacted on its own; the callers (fmt.Fprint*, the loggers)
// write whole messages.
func Writer(w io.Writer) io.Writer { return writer{w} }

type writer struct{ w io.Writer }

func (r writer) Write(p []byte) (int, error) {
	if !bytes.ContainsRune(p, '@') {
		return r.w.Write(p)
	}
	if _, err := io.WriteString(r.w, Text(string(p))); err != nil {
		return 0, err
	}
	return len(p), nil
}
