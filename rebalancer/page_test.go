package rebalancer

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestPageBehindTheAPIsAuth: the page answers as the API does — refused
// without the bearer token, served with it, carrying the API's CSRF token
// and the servers HAProxy shows.
func TestPageBehindTheAPIsAuth(t *testing.T) {
	tok := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(tok, []byte("page-s3cret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	hs := newHarness(t, "rebalancer: {bearer_token_file: "+tok+"}", three())
	hs.mustReconcile()
	mux := hs.r.Mux("/metrics")
	get := func(path, auth string) *httptest.ResponseRecorder {
		req := httptest.NewRequest(http.MethodGet, path, nil)
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, req)
		return rec
	}
	for _, auth := range []string{"", "Bearer wrong", "Basic cGFnZTpzM2NyZXQ="} {
		if rec := get("/", auth); rec.Code != http.StatusUnauthorized || rec.Header().Get("WWW-Authenticate") == "" {
			t.Errorf("auth %q: %d %v", auth, rec.Code, rec.Header())
		}
	}
	rec := get("/", "Bearer page-s3cret")
	if rec.Code != http.StatusOK {
		t.Fatalf("with the token: %d %s", rec.Code, rec.Body)
	}
	page := rec.Body.String()
	for _, want := range []string{
		`<meta name="csrf-token" content="` + hs.r.CSRFToken() + `">`,
		`<details class="backend" data-backend="be_app" data-filled="1" open>`,
		`data-server="web1"`, `<span class="state st-READY">READY</span>`,
		`href="/metrics"`, `href="/api/v1/state"`, `href="/-/healthy"`, `href="/-/ready"`,
	} {
		if !strings.Contains(page, want) {
			t.Errorf("page lacks %s", want)
		}
	}
	if strings.Contains(page, "page-s3cret") {
		t.Error("the bearer token is on the page")
	}
	// The script and style need no token: they hold nothing.
	if rec := get("/ui/app.js", ""); rec.Code != http.StatusOK {
		t.Errorf("app.js: %d", rec.Code)
	}
	// Metrics at "/": no page.
	req := httptest.NewRequest(http.MethodGet, "/", nil)
	req.Header.Set("Authorization", "Bearer page-s3cret")
	rec = httptest.NewRecorder()
	hs.r.Mux("/").ServeHTTP(rec, req)
	if strings.Contains(rec.Body.String(), "<html") || !strings.Contains(rec.Body.String(), "lbpilot_") {
		t.Errorf("with --web.telemetry-path=/ the page took /: %.200s", rec.Body.String())
	}
}

func TestPageOr500(t *testing.T) {
	rec := httptest.NewRecorder()
	pageOr500(nil, errors.New("webui: template: broken")).ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/", nil))
	if rec.Code != http.StatusInternalServerError || !strings.Contains(rec.Body.String(), "operator page: webui: template: broken") {
		t.Fatalf("%d %q", rec.Code, rec.Body)
	}
}
