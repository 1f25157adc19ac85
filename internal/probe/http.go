package probe

import (
	"context"
	"crypto/tls"
	"fmt"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"sync"
	"time"

	"github.com/lbpilot/lbpilot/internal/upstream"
)

// CheckHTTPTarget validates an http(s) target URL.
func CheckHTTPTarget(proto, t string) (*url.URL, error) {
	u, err := url.Parse(t)
	if err != nil {
		return nil, fmt.Errorf("%s target %q: %w", proto, upstream.RedactURL(t), err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, fmt.Errorf("%s target %q: scheme %q (want http or https)", proto, upstream.RedactURL(t), u.Scheme)
	}
	if u.Host == "" || u.Hostname() == "" {
		return nil, fmt.Errorf("%s target %q: no host", proto, upstream.RedactURL(t))
	}
	if u.User != nil {
		return nil, fmt.Errorf("%s target %q: credentials go in the module's http_client_config, not the URL", proto, upstream.RedactURL(t))
	}
	return u, nil
}

// HTTPGet sends GET u on a fresh connection (so that every probe measures
// a connection set-up, as a new player sees it) and records the phases
// "connect", "tls" (https only) and "first_byte" (request sent to the
// response's first byte) when record is true. auth, when non-empty, is
// sent as basic auth.
func HTTPGet(ctx context.Context, r *Report, hc *http.Client, u string, auth upstream.Auth, record bool) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, Fail("config", err)
	}
	req.Close = true
	req.Header.Set("User-Agent", "lbpilot-probe")
	if auth.Username != "" {
		req.SetBasicAuth(auth.Username, auth.Password)
	}
	if record {
		var finish func()
		ctx, finish = Trace(ctx, r)
		req = req.WithContext(ctx)
		defer func() { finish(); r.Skip() }()
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, Fail(NetReason(err, "protocol"), fmt.Errorf("GET %s: %w", upstream.RedactURL(u), err))
	}
	return resp, nil
}

// Trace returns ctx with an HTTP client trace and a finish func that
// records the phases it saw: "connect" (from the call to the connection),
// "tls" (the handshake, https only) and, when the spec has it,
// "first_byte" (request written to the response's first byte). finish
// leaves the report's mark at the end of the connection set-up, so the
// caller's next Phase measures what followed it.
func Trace(ctx context.Context, r *Report) (context.Context, func()) {
	var mu sync.Mutex
	var connDone, tlsDone, wrote, first time.Time
	start := time.Now()
	trace := &httptrace.ClientTrace{
		ConnectDone: func(_, _ string, err error) {
			mu.Lock()
			if err == nil {
				connDone = time.Now()
			}
			mu.Unlock()
		},
		TLSHandshakeDone: func(_ tls.ConnectionState, err error) {
			mu.Lock()
			if err == nil {
				tlsDone = time.Now()
			}
			mu.Unlock()
		},
		WroteRequest:         func(httptrace.WroteRequestInfo) { mu.Lock(); wrote = time.Now(); mu.Unlock() },
		GotFirstResponseByte: func() { mu.Lock(); first = time.Now(); mu.Unlock() },
	}
	return httptrace.WithClientTrace(ctx, trace), func() {
		mu.Lock()
		defer mu.Unlock()
		if connDone.IsZero() {
			return
		}
		r.PhaseTook("connect", connDone.Sub(start))
		r.mark = connDone
		if !tlsDone.IsZero() {
			r.PhaseTook("tls", tlsDone.Sub(connDone))
			r.mark = tlsDone
		}
		if r.spec.phaseSet["first_byte"] && !first.IsZero() && !wrote.IsZero() {
			r.PhaseTook("first_byte", first.Sub(wrote))
		}
	}
}
