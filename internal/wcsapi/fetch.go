package wcsapi

import (
	"context"
	"fmt"
	"net/http"
	"net/url"

	"github.com/lbpilot/lbpilot/internal/upstream"
)

// Request formats of the statistics page.
const (
	FormatJSON = "json"
	FormatText = "text"
)

// StatURL returns the statistics page of a WCS base URL
// (http://host:8081 → http://host:8081/?action=stat&format=json). A URL
// that already asks for an action is used as it is.
func StatURL(base, format string) string {
	p, err := url.Parse(base)
	if err != nil {
		return base
	}
	q := p.Query()
	if q.Has("action") {
		return base
	}
	if p.Path == "" {
		p.Path = "/"
	}
	// WCS's own clients put action first; keep that order.
	raw := "action=stat"
	if format == FormatJSON {
		raw += "&format=json"
	}
	if p.RawQuery != "" {
		raw += "&" + p.RawQuery
	}
	p.RawQuery = raw
	return p.String()
}

// Fetch reads the statistics page of the WCS at baseURL in JSON form.
// hc may be nil (a shared pooled client).
func Fetch(ctx context.Context, hc *http.Client, baseURL string) (*Stats, error) {
	return FetchURL(ctx, hc, StatURL(baseURL, FormatJSON))
}

// FetchURL reads the statistics page at statURL, a URL StatURL built (in
// either format). hc may be nil.
func FetchURL(ctx context.Context, hc *http.Client, statURL string) (*Stats, error) {
	return FetchURLAuth(ctx, hc, statURL, upstream.Auth{})
}

// FetchURLAuth is FetchURL with HTTP basic auth (a WCS behind a proxy
// that asks for it).
func FetchURLAuth(ctx context.Context, hc *http.Client, statURL string, auth upstream.Auth) (*Stats, error) {
	resp, err := upstream.Get(ctx, hc, statURL, auth, 0)
	if err != nil {
		return nil, err
	}
	if resp.Status != http.StatusOK {
		return nil, &upstream.HTTPError{URL: statURL, Status: resp.Status, Body: upstream.Excerpt(resp.Body, 120)}
	}
	st, err := Parse(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("GET %s: %w", upstream.RedactURL(statURL), err)
	}
	return st, nil
}
