package emqxapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"

	"github.com/lbpilot/lbpilot/internal/upstream"
)

// detected caches the generation per base URL: detection costs up to
// three requests, and /probe builds a new collector on every request.
var detected = struct {
	sync.Mutex
	m map[string]Version
}{m: map[string]Version{}}

// detectCacheMax bounds the cache (probe targets come from outside).
const detectCacheMax = 4096

// ForgetDetected drops the cached generation of baseURL (an upgrade from
// EMQX 4 to 5 behind the same address is then detected again).
func ForgetDetected(baseURL string) {
	detected.Lock()
	delete(detected.m, baseURL)
	detected.Unlock()
}

// Detect finds the management API generation at baseURL, once per base
// URL. fresh is true when this call did the detection (so the caller can
// log it once).
func Detect(ctx context.Context, hc *http.Client, baseURL string, auth upstream.Auth) (Version, error) {
	v, _, err := detect(ctx, hc, baseURL, auth)
	return v, err
}

func detect(ctx context.Context, hc *http.Client, baseURL string, auth upstream.Auth) (v Version, fresh bool, err error) {
	detected.Lock()
	v, ok := detected.m[baseURL]
	detected.Unlock()
	if ok {
		return v, false, nil
	}
	v, err = probeVersion(ctx, hc, baseURL, auth)
	if err != nil {
		return "", false, err
	}
	detected.Lock()
	if len(detected.m) >= detectCacheMax {
		clear(detected.m)
	}
	detected.m[baseURL] = v
	detected.Unlock()
	return v, true, nil
}

// probeVersion asks, in turn:
//   - /api/v5/status: EMQX 5 answers it without credentials (200, or 503
//     when the broker app is down) with its status text;
//   - /api/v4/nodes: EMQX 4's minirest answers {"code":0,"data":...}, or
//     401 with realm minirest-server;
//   - /api/v2/monitoring/nodes: emqttd 2 answers {"code":0,"result":...},
//     or 401 with realm "emqx control center".
//
// A transport error ends the detection at once: the address is wrong,
// not the generation.
func probeVersion(ctx context.Context, hc *http.Client, baseURL string, auth upstream.Auth) (Version, error) {
	var tried []string
	for _, p := range []struct {
		v    Version
		path string
		auth bool
	}{
		{V5, "/api/v5/status", false},
		{V4, "/api/v4/nodes", true},
		{V2, "/api/v2/monitoring/nodes", true},
	} {
		a := upstream.Auth{}
		if p.auth {
			a = auth
		}
		resp, err := upstream.Get(ctx, hc, upstream.Join(baseURL, p.path), a, 1<<20)
		if err != nil {
			return "", fmt.Errorf("detecting the EMQX API generation: %w", err)
		}
		if looksLike(p.v, resp) {
			return p.v, nil
		}
		tried = append(tried, fmt.Sprintf("%s: HTTP %d", p.path, resp.Status))
	}
	return "", errors.New("cannot tell the EMQX API generation at " + upstream.RedactURL(baseURL) + " (" + strings.Join(tried, "; ") +
		"): is this the dashboard/management listener (EMQX 5: 18083, EMQX 4: 8081, emqttd 2: 8080)? Set api_version to skip detection")
}

func looksLike(v Version, r *upstream.Response) bool {
	realm := r.Header.Get("Www-Authenticate")
	switch v {
	case V5:
		if r.Status != http.StatusOK && r.Status != http.StatusServiceUnavailable {
			return false
		}
		_, err := ParseStatus(r.Body)
		return err == nil
	case V4:
		if r.Status == http.StatusUnauthorized {
			return strings.Contains(realm, "minirest") || bytes.HasPrefix(r.Body, []byte("UNAUTHORIZED"))
		}
		return r.Status == http.StatusOK && hasKey(r.Body, "data")
	case V2:
		if r.Status == http.StatusUnauthorized {
			return strings.Contains(realm, "emqx control center")
		}
		return r.Status == http.StatusOK && hasKey(r.Body, "result")
	}
	return false
}

func hasKey(body []byte, key string) bool {
	var m map[string]json.RawMessage
	if json.Unmarshal(body, &m) != nil {
		return false
	}
	_, ok := m[key]
	return ok
}
