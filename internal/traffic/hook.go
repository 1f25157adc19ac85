package traffic

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
)

// HTTPHook returns an Engine.Hook that sends a phase's request (a
// node-killed or node-back phase's "request", e.g. POST
// http://127.0.0.1:18801/lab/fault to a lab node's control API) and
// fails on a transport error or a status other than 2xx. Phases without
// a request pass. A nil client is http.DefaultClient; each request is
// bounded to 10s.
func HTTPHook(client *http.Client) func(ctx context.Context, ev Event) error {
	if client == nil {
		client = http.DefaultClient
	}
	return func(ctx context.Context, ev Event) error {
		r := ev.Request
		if r == nil {
			return nil
		}
		if err := checkLoopbackURL(r.URL); err != nil {
			return fmt.Errorf("request url: %w", err)
		}
		method := strings.ToUpper(r.Method)
		if method == "" {
			method = http.MethodPost
		}
		ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		var body io.Reader
		if len(r.Body) > 0 {
			body = bytes.NewReader(r.Body)
		}
		req, err := http.NewRequestWithContext(ctx, method, r.URL, body)
		if err != nil {
			return err
		}
		if body != nil {
			req.Header.Set("Content-Type", "application/json")
		}
		resp, err := client.Do(req)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		if resp.StatusCode/100 != 2 {
			return fmt.Errorf("%s %s: HTTP %d: %s", method, r.URL, resp.StatusCode, strings.TrimSpace(string(msg)))
		}
		return nil
	}
}
