package agent

import (
	"context"
	"errors"
	"io"
	"net"
	"strconv"
	"strings"

	"github.com/lbpilot/lbpilot/internal/emqxapi"
	"github.com/lbpilot/lbpilot/internal/srsapi"
	"github.com/lbpilot/lbpilot/internal/upstream"
)

// The agent's whole vocabulary is `up`, `N%`, `maxconn:N` and
// `down #description`. HAProxy reads words separated by space, tab or
// comma up to the first CR or LF; `#` at the start of a word begins a
// description that runs to the end of the line and is shown in
// `last_agt` ("via agent : down (cpu 95/90)"). Admin words (ready, drain,
// maint) are never produced: see the package comment.

// maxDescription bounds the description, which HAProxy keeps in a short
// buffer and shows in stats pages.
const maxDescription = 120

// upReply is `up N%`, optionally with `maxconn:M`.
func upReply(weight, maxconn int) string {
	r := "up " + strconv.Itoa(weight) + "%"
	if maxconn > 0 {
		r += " maxconn:" + strconv.Itoa(maxconn)
	}
	return r
}

// downReply is `down #reason`, the reason made safe for the line.
func downReply(reason string) string {
	d := sanitizeDescription(reason)
	if d == "" {
		d = "unknown"
	}
	return "down #" + d
}

// sanitizeDescription keeps printable ASCII only (no CR or LF, which would
// end the line early, nor bytes HAProxy would print raw in its CSV and
// logs), collapses runs of white space and bounds the length.
func sanitizeDescription(s string) string {
	var b strings.Builder
	space := false
	for _, r := range s {
		if r < 0x21 || r > 0x7e {
			space = b.Len() > 0
			continue
		}
		if space {
			b.WriteByte(' ')
			space = false
		}
		b.WriteRune(r)
		if b.Len() >= maxDescription {
			break
		}
	}
	out := b.String()
	if len(out) > maxDescription {
		out = out[:maxDescription]
	}
	return out
}

// upstreamReason turns an upstream error into a short, stable reason for
// the reply and /health (the full error goes to the log).
func upstreamReason(err error) string {
	var (
		httpErr *upstream.HTTPError
		emqxErr *emqxapi.APIError
		srsErr  *srsapi.APIError
		opErr   *net.OpError
		dnsErr  *net.DNSError
		netErr  net.Error
	)
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return "upstream timeout"
	case errors.As(err, &netErr) && netErr.Timeout():
		return "upstream timeout"
	case errors.As(err, &httpErr):
		return "upstream HTTP " + strconv.Itoa(httpErr.Status)
	case errors.As(err, &emqxErr):
		return "upstream HTTP " + strconv.Itoa(emqxErr.Status)
	case errors.As(err, &srsErr):
		return "upstream SRS error " + strconv.Itoa(srsErr.Code)
	case errors.Is(err, errNodeNotRunning):
		return "upstream node not running"
	case errors.As(err, &dnsErr), errors.As(err, &opErr) && opErr.Op == "dial":
		return "upstream unreachable"
	case errors.As(err, &netErr), errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "upstream connection failed"
	}
	return "upstream bad answer"
}
