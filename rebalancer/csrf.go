package rebalancer

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"fmt"
	"net/http"
)

// CSRFHeader carries the token on every state-changing request.
const CSRFHeader = "X-CSRF-Token"

// csrfToken is a random token per process. A page served by the
// rebalancer embeds it; a cross-site form cannot read it (nor set a
// custom header), so a request carrying it comes from someone who could
// read the rebalancer's answers, i.e. who passed its authentication.
type csrfToken struct{ tok string }

func newCSRFToken() (*csrfToken, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return nil, fmt.Errorf("CSRF token: %w", err)
	}
	return &csrfToken{tok: base64.RawURLEncoding.EncodeToString(b)}, nil
}

// Token is the process's token.
func (c *csrfToken) Token() string { return c.tok }

// check compares the request's header with the token in constant time.
func (c *csrfToken) check(r *http.Request) bool {
	got := r.Header.Get(CSRFHeader)
	return got != "" && subtle.ConstantTimeCompare([]byte(got), []byte(c.tok)) == 1
}

// CSRFToken returns the token the page must send in X-CSRF-Token.
func (r *Rebalancer) CSRFToken() string { return r.csrf.Token() }
