package upstream

import (
	"strings"
	"testing"
)

func TestShorten(t *testing.T) {
	tests := []struct {
		in   string
		n    int
		want string
	}{
		{"  <html>\n  <body>oops</body>\n</html>  ", 100, "<html> <body>oops</body> </html>"},
		{"abcdefgh", 4, "abcd…"},
		{"bell\x07 and del\x7f", 100, "bell and del"},
		{"bad \xff utf8", 100, "bad \uFFFD utf8"},
		{"", 10, ""},
	}
	for _, tt := range tests {
		if got := Shorten(tt.in, tt.n); got != tt.want {
			t.Errorf("Shorten(%q, %d) = %q, want %q", tt.in, tt.n, got, tt.want)
		}
	}
	if got := Excerpt([]byte("a\nb"), 10); got != "a b" {
		t.Errorf("Excerpt = %q", got)
	}
}

func TestJSONHelpers(t *testing.T) {
	for v, want := range map[any]string{"x": "string", true: "boolean", 1.5: "number", nil: "null"} {
		if got := JSONType(v); got != want {
			t.Errorf("JSONType(%v) = %s", v, got)
		}
	}
	if JSONType(map[string]any{}) != "object" || JSONType([]any{}) != "array" {
		t.Error("object/array misnamed")
	}
	if got := strings.Join(SortedKeys(map[string]any{"b": 1, "a": 2, "c": 3}), ","); got != "a,b,c" {
		t.Errorf("SortedKeys = %s", got)
	}
}

func TestRedactURLAndHTTPError(t *testing.T) {
	if got := RedactURL("http://admin:s3cret@srs:1985/api"); strings.Contains(got, "s3cret") || !strings.Contains(got, "admin") {
		t.Errorf("RedactURL = %s", got)
	}
	if got := RedactURL("http://srs:1985"); got != "http://srs:1985" {
		t.Errorf("RedactURL changed a URL without a password: %s", got)
	}
	e := &HTTPError{URL: "http://u:pw@h/x", Status: 503, Body: "busy"}
	if msg := e.Error(); msg != "GET http://u:xxxxx@h/x: HTTP 503: busy" {
		t.Errorf("HTTPError = %q", msg)
	}
}
