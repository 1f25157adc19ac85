package haproxyapi

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
)

// ErrNoResponse marks a command of a batch for which HAProxy sent no output
// before closing the connection: its effect is unknown.
var ErrNoResponse = errors.New("no response from HAProxy for this command")

// CommandError is an error HAProxy reported for one command.
type CommandError struct {
	Command  string // the command as sent
	Message  string // HAProxy's message, without the severity prefix
	Severity int    // syslog severity from "[N]: ", or -1 when HAProxy printed none
}

func (e *CommandError) Error() string {
	return fmt.Sprintf("HAProxy refused %q: %s", e.Command, e.Message)
}

// splitResponses splits the output of one ';'-joined command line into one
// chunk per command. Every command's output ends with an empty line, and a
// command that prints nothing answers a lone "\n", so each empty line closes
// one chunk. A line starting with a severity prefix ("[N]: ") while the open
// chunk also started with one closes that chunk first: HAProxy prints a few
// parse errors without the empty line, and this resynchronises after them.
// Output left open at EOF (a connection cut short) becomes a final chunk.
func splitResponses(out []byte) []string {
	var chunks []string
	var cur []string
	for len(out) > 0 {
		var line []byte
		if i := bytes.IndexByte(out, '\n'); i >= 0 {
			line, out = out[:i], out[i+1:]
		} else {
			line, out = out, nil
		}
		line = bytes.TrimSuffix(line, []byte{'\r'})
		switch {
		case len(line) == 0:
			chunks = append(chunks, strings.Join(cur, "\n"))
			cur = cur[:0]
		case len(cur) > 0 && severityOf(cur[0]) >= 0 && severityOf(string(line)) >= 0:
			chunks = append(chunks, strings.Join(cur, "\n"))
			cur = append(cur[:0], string(line))
		default:
			cur = append(cur, string(line))
		}
	}
	if len(cur) > 0 {
		chunks = append(chunks, strings.Join(cur, "\n"))
	}
	return chunks
}

// severityOf returns N for a line starting "[N]: " (N a single digit 0..7),
// else -1. HAProxy's "set severity-output number" writes these prefixes.
func severityOf(line string) int {
	if len(line) >= 5 && line[0] == '[' && line[1] >= '0' && line[1] <= '7' && line[2] == ']' && line[3] == ':' && line[4] == ' ' {
		return int(line[1] - '0')
	}
	return -1
}

// stripSeverity removes the "[N]: " prefix of every line of a chunk.
func stripSeverity(chunk string) string {
	if !strings.Contains(chunk, "]: ") {
		return chunk
	}
	lines := strings.Split(chunk, "\n")
	for i, l := range lines {
		if severityOf(l) >= 0 {
			lines[i] = l[5:]
		}
	}
	return strings.Join(lines, "\n")
}

// legacyErrorPrefixes are the first words of the errors the commands this
// package sends can print on HAProxy versions without severity-output
// (1.8). Commands that print nothing on success need no list: any output
// is an error. The list is only used for commands that print data.
var legacyErrorPrefixes = []string{
	"No such server.", "No such backend.", "No such proxy.", "Require 'backend/server'.",
	"Require <weight> or <weight%>.", "Permission denied", "Unknown command", "Can't find backend.",
	"Proxy is disabled.", "Absolute weight can only be", "Relative weight must be", "Backend is using a static LB",
	"Empty weight string", "Trailing garbage in weight", "'set server <srv> state' expects",
	"Agent was not configured", "agent checks are not enabled", "usage: set server",
}

// classify turns one command's output chunk into (output, error).
// silent marks commands that print nothing on success.
func classify(cmd string, chunk string, silent bool) (string, error) {
	if chunk == "" {
		return "", nil
	}
	if sev := severityOf(chunk); sev >= 0 {
		msg := stripSeverity(chunk)
		if sev <= 3 { // emerg, alert, crit, err
			return "", &CommandError{Command: cmd, Message: msg, Severity: sev}
		}
		return msg, nil // warning..debug: informational
	}
	if silent {
		return "", &CommandError{Command: cmd, Message: chunk, Severity: -1}
	}
	for _, p := range legacyErrorPrefixes {
		if strings.HasPrefix(chunk, p) {
			return "", &CommandError{Command: cmd, Message: chunk, Severity: -1}
		}
	}
	return chunk, nil
}
