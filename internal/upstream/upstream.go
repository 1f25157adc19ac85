// Package upstream is the HTTP plumbing shared by everything that reads
// the WCS, SRS and EMQX APIs and HAProxy stats pages (the collectors and
// the agent): the http_client_config every module takes and the client
// built from it, one GET with a body limit, and URL checks. It knows nothing
// about any upstream's payload; each caller interprets status codes and
// bodies itself (SRS answers errors with HTTP 200, EMQX with JSON bodies
// on 401), so Get returns them all.
package upstream

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
)

// DefaultMaxBody bounds a response body. SRS's client list with 10,000
// clients is about 4 MB; anything near this limit is not a stats page.
const DefaultMaxBody = 64 << 20

// pooled serves callers that pass no client (tests, the lab); modules
// build their own from http_client_config (HTTPOptions.Prepare).
var pooled = newClient()

// newClient returns a client with keep-alive pooling, so that connections
// are reused across requests.
func newClient() *http.Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConns = 0 // no global cap; per host below
	tr.MaxIdleConnsPerHost = 4
	tr.IdleConnTimeout = idleConnTimeout
	return &http.Client{Transport: tr}
}

// Response is a complete upstream answer.
type Response struct {
	Status int
	Header http.Header
	Body   []byte
}

// Auth is HTTP basic authentication; the zero value sends none.
type Auth struct {
	Username string
	Password string
}

// Get fetches u. A transport failure or a body over maxBody (0:
// DefaultMaxBody) is an error naming the URL (password redacted); any
// HTTP status is returned as a Response for the caller to judge.
func Get(ctx context.Context, hc *http.Client, u string, auth Auth, maxBody int64) (*Response, error) {
	if hc == nil {
		hc = pooled
	}
	if maxBody <= 0 {
		maxBody = DefaultMaxBody
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, fmt.Errorf("GET %s: %w", RedactURL(u), err)
	}
	req.Header.Set("Accept", "application/json, text/plain;q=0.9, */*;q=0.1")
	if auth.Username != "" || auth.Password != "" {
		req.SetBasicAuth(auth.Username, auth.Password)
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("GET %s: %w", RedactURL(u), unwrapURLError(err))
	}
	defer resp.Body.Close()
	body, err := readBody(resp, maxBody)
	if err != nil {
		return nil, fmt.Errorf("GET %s: reading body: %w", RedactURL(u), err)
	}
	if int64(len(body)) > maxBody {
		return nil, fmt.Errorf("GET %s: body larger than %d bytes", RedactURL(u), maxBody)
	}
	return &Response{Status: resp.StatusCode, Header: resp.Header, Body: body}, nil
}

// readBody reads at most maxBody+1 bytes, in one allocation when the
// length is announced (SRS's multi-megabyte lists are).
func readBody(resp *http.Response, maxBody int64) ([]byte, error) {
	r := io.LimitReader(resp.Body, maxBody+1)
	if n := resp.ContentLength; n > 0 && n <= maxBody {
		buf := make([]byte, 0, n+1)
		for {
			if len(buf) == cap(buf) {
				buf = append(buf, 0)[:len(buf)] // longer than announced: grow
			}
			m, err := r.Read(buf[len(buf):cap(buf)])
			buf = buf[:len(buf)+m]
			if err == io.EOF {
				return buf, nil
			}
			if err != nil {
				return buf, err
			}
		}
	}
	return io.ReadAll(r)
}

// unwrapURLError drops *url.Error's own "Get \"...\":" prefix (the caller
// names the URL already, redacted) while keeping the cause for errors.Is.
func unwrapURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

// CheckHTTPURL accepts http and https URLs with a host, the target form of
// every HTTP upstream.
func CheckHTTPURL(kind, u string) error {
	p, err := url.Parse(u)
	if err != nil {
		return fmt.Errorf("%s URL %q: %w", kind, u, err)
	}
	if p.Scheme != "http" && p.Scheme != "https" {
		return fmt.Errorf("%s URL %q: scheme must be http or https", kind, RedactURL(u))
	}
	if p.Host == "" {
		return fmt.Errorf("%s URL %q: no host", kind, RedactURL(u))
	}
	return nil
}

// Join appends an API path to a base URL, keeping any path prefix of the
// base (an upstream behind a reverse proxy) and dropping its query.
func Join(base, path string) string {
	p, err := url.Parse(base)
	if err != nil {
		return strings.TrimRight(base, "/") + path
	}
	p.RawQuery = ""
	p.Fragment = ""
	p.Path = strings.TrimRight(p.Path, "/") + path
	p.RawPath = ""
	return p.String()
}

// ReadSecretFile reads a credential file: the first line, surrounding
// whitespace trimmed. Errors name the file, never its content.
func ReadSecretFile(what, path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("reading %s: %w", what, err)
	}
	line, _, _ := strings.Cut(string(b), "\n")
	s := strings.TrimSpace(line)
	if s == "" {
		return "", fmt.Errorf("%s %s is empty", what, path)
	}
	return s, nil
}

// CheckBasicAuth checks a username / password_file pair of kind's config:
// a password file needs a username, and must exist.
func CheckBasicAuth(kind, username, passwordFile string) error {
	if passwordFile == "" {
		return nil
	}
	if username == "" {
		return fmt.Errorf("%s: password_file needs username", kind)
	}
	if _, err := os.Stat(passwordFile); err != nil {
		return fmt.Errorf("%s: password_file: %w", kind, err)
	}
	return nil
}
