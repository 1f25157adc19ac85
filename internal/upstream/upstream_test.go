package upstream

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestGet(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u, p, _ := r.BasicAuth()
		switch r.URL.Path {
		case "/auth":
			w.Write([]byte(u + ":" + p))
		case "/big":
			w.Write([]byte(strings.Repeat("x", 1000)))
		case "/chunked":
			w.(http.Flusher).Flush() // no Content-Length
			w.Write([]byte("streamed"))
		default:
			w.WriteHeader(418)
			w.Write([]byte("teapot"))
		}
	}))
	defer srv.Close()
	ctx := context.Background()
	r, err := Get(ctx, nil, srv.URL+"/auth", Auth{Username: "u", Password: "p"}, 0)
	if err != nil || string(r.Body) != "u:p" || r.Status != 200 {
		t.Errorf("auth: %+v %v", r, err)
	}
	if r, err := Get(ctx, nil, srv.URL+"/x", Auth{}, 0); err != nil || r.Status != 418 || string(r.Body) != "teapot" {
		t.Errorf("status: %+v %v", r, err)
	}
	if r, err := Get(ctx, nil, srv.URL+"/chunked", Auth{}, 0); err != nil || string(r.Body) != "streamed" {
		t.Errorf("chunked: %+v %v", r, err)
	}
	if r, err := Get(ctx, nil, srv.URL+"/big", Auth{}, 1000); err != nil || len(r.Body) != 1000 {
		t.Errorf("at the limit: %v %v", len(r.Body), err)
	}
	if _, err := Get(ctx, nil, srv.URL+"/big", Auth{}, 999); err == nil || !strings.Contains(err.Error(), "body larger than 999 bytes") {
		t.Errorf("over the limit: %v", err)
	}
	u := strings.Replace(srv.URL, "http://", "http://user:hunter2@", 1)
	srv.Close()
	_, err = Get(ctx, nil, u+"/auth", Auth{}, 0)
	if err == nil || strings.Contains(err.Error(), "hunter2") || !strings.Contains(err.Error(), "connection refused") {
		t.Errorf("transport error %v", err)
	}
}

func TestJoinAndCheck(t *testing.T) {
	for _, tc := range []struct{ base, path, want string }{
		{"http://h:1985", "/api/v1/summaries", "http://h:1985/api/v1/summaries"},
		{"http://h:1985/", "/api/v1/summaries", "http://h:1985/api/v1/summaries"},
		{"https://h/srs/?x=1", "/api/v1/streams/", "https://h/srs/api/v1/streams/"},
	} {
		if got := Join(tc.base, tc.path); got != tc.want {
			t.Errorf("Join(%q, %q) = %q", tc.base, tc.path, got)
		}
	}
	for u, ok := range map[string]bool{"http://h:1": true, "https://h": true, "h:1": false, "ftp://h": false, "http://": false, "http://[::1": false} {
		if err := CheckHTTPURL("srs", u); (err == nil) != ok {
			t.Errorf("CheckHTTPURL(%q): %v", u, err)
		}
	}
}

func TestReadSecretFile(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "s")
	os.WriteFile(p, []byte("  s3cret \r\nsecond line\n"), 0o600)
	if s, err := ReadSecretFile("x", p); err != nil || s != "s3cret" {
		t.Errorf("%q %v", s, err)
	}
	os.WriteFile(p, []byte("\n"), 0o600)
	if _, err := ReadSecretFile("x", p); err == nil || !strings.Contains(err.Error(), "is empty") {
		t.Errorf("empty: %v", err)
	}
	if _, err := ReadSecretFile("x", filepath.Join(dir, "none")); err == nil {
		t.Error("missing file accepted")
	}
}

func TestCheckBasicAuth(t *testing.T) {
	dir := t.TempDir()
	pw := filepath.Join(dir, "pw")
	if err := os.WriteFile(pw, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		user, file, want string
	}{
		{"", "", ""},
		{"admin", "", ""},
		{"admin", pw, ""},
		{"", pw, "srs: password_file needs username"},
		{"admin", filepath.Join(dir, "missing"), "srs: password_file: stat "},
	}
	for _, tc := range cases {
		err := CheckBasicAuth("srs", tc.user, tc.file)
		if (tc.want == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tc.want)) {
			t.Errorf("CheckBasicAuth(%q, %q) = %v, want %q", tc.user, tc.file, err, tc.want)
		}
	}
}
