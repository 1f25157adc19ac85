package rebalancer

import (
	"bytes"
	"crypto/subtle"
	"fmt"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/go-kit/log"
	"github.com/go-kit/log/level"
)

// BearerAuth checks "Authorization: Bearer <token>" against a token file.
// The file is re-read when it changes (rotation without restart); if it
// becomes unreadable the last good token stays in force. The token is
// never logged or shown. A nil *BearerAuth allows every request (then
// --web.config.file's TLS and basic auth are the protection).
type BearerAuth struct {
	file   string
	logger log.Logger

	mu      sync.Mutex
	token   []byte
	modTime time.Time
	size    int64
}

// NewBearerAuth reads the token file (which must hold a non-empty token).
func NewBearerAuth(file string, logger log.Logger) (*BearerAuth, error) {
	if logger == nil {
		logger = log.NewNopLogger()
	}
	a := &BearerAuth{file: file, logger: logger}
	fi, err := os.Stat(file)
	if err != nil {
		return nil, fmt.Errorf("bearer token file: %w", err)
	}
	tok, err := readToken(file)
	if err != nil {
		return nil, err
	}
	a.token, a.modTime, a.size = tok, fi.ModTime(), fi.Size()
	return a, nil
}

func readToken(file string) ([]byte, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("bearer token file: %w", err)
	}
	tok := bytes.TrimSpace(b)
	if len(tok) == 0 {
		return nil, fmt.Errorf("bearer token file %s is empty", file)
	}
	return tok, nil
}

func (a *BearerAuth) current() []byte {
	a.mu.Lock()
	defer a.mu.Unlock()
	if fi, err := os.Stat(a.file); err == nil && (!fi.ModTime().Equal(a.modTime) || fi.Size() != a.size) {
		tok, err := readToken(a.file)
		if err != nil {
			level.Warn(a.logger).Log("msg", "Bearer token file unreadable; keeping the previous token", "file", a.file, "err", err)
		} else {
			a.token = tok
		}
		a.modTime, a.size = fi.ModTime(), fi.Size()
	}
	return a.token
}

// Allow reports whether the request carries the token.
func (a *BearerAuth) Allow(r *http.Request) bool {
	if a == nil {
		return true
	}
	h := r.Header.Get("Authorization")
	scheme, tok, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return false
	}
	want := a.current()
	return subtle.ConstantTimeCompare([]byte(strings.TrimSpace(tok)), want) == 1
}
