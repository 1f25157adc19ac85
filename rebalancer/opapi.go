package rebalancer

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/go-kit/log/level"

	"github.com/lbpilot/lbpilot/internal/haproxyapi"
)

// apiError is an answer other than 200: the status code, a message naming
// what was wrong, and for 409 the guard's reason.
type apiError struct {
	Code  int    `json:"-"`
	Msg   string `json:"error"`
	Guard string `json:"guard,omitempty"`
}

func (e *apiError) Error() string { return e.Msg }

func badRequest(format string, args ...any) *apiError {
	return &apiError{Code: http.StatusBadRequest, Msg: fmt.Sprintf(format, args...)}
}

func notFound(format string, args ...any) *apiError {
	return &apiError{Code: http.StatusNotFound, Msg: fmt.Sprintf(format, args...)}
}

func conflict(guard, format string, args ...any) *apiError {
	return &apiError{Code: http.StatusConflict, Msg: fmt.Sprintf(format, args...), Guard: guard}
}

// maxOpBody bounds an operator request body.
const maxOpBody = 64 << 10

// Results of operator writes.
const (
	ManualApplied   = "applied"
	ManualUnchanged = "unchanged"
	ManualRefused   = "refused"
	ManualError     = "error"
)

// WriteResult is the answer to a successful write.
type WriteResult struct {
	Result   string        `json:"result"`
	Server   *ServerView   `json:"server,omitempty"`
	Paused   *PausedView   `json:"paused,omitempty"`
	Proposal *ProposalView `json:"proposal,omitempty"`
}

// opHandler wraps an operator endpoint: authentication, method, CSRF
// token for writes, and JSON error answers.
func (r *Rebalancer) opHandler(method string, fn func(req *http.Request) (any, error)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if !r.auth.Allow(req) {
			w.Header().Set("WWW-Authenticate", `Bearer realm="lbpilot rebalancer"`)
			writeJSON(w, http.StatusUnauthorized, &apiError{Msg: "missing or wrong bearer token"})
			return
		}
		if req.Method != method && !(method == http.MethodGet && req.Method == http.MethodHead) {
			w.Header().Set("Allow", method)
			writeJSON(w, http.StatusMethodNotAllowed, &apiError{Msg: "use " + method})
			return
		}
		if method == http.MethodPost && !r.csrf.check(req) {
			writeJSON(w, http.StatusForbidden, &apiError{Msg: "missing or invalid CSRF token (header " + CSRFHeader + ", from GET /api/v1/csrf)"})
			return
		}
		w.Header().Set("Cache-Control", "no-store")
		out, err := fn(req)
		if err != nil {
			var ae *apiError
			if !errors.As(err, &ae) {
				ae = &apiError{Code: http.StatusInternalServerError, Msg: err.Error()}
			}
			if ae.Code >= 500 {
				level.Error(r.logger).Log("msg", "Operator request failed", "path", req.URL.Path, "err", ae.Msg)
			}
			writeJSON(w, ae.Code, ae)
			return
		}
		writeJSON(w, http.StatusOK, out)
	})
}

// decodeBody reads a JSON object strictly: an unknown field, a wrong type
// or trailing data is a 400 naming it. An empty body is an empty object.
func decodeBody(req *http.Request, v any) error {
	if ct := req.Header.Get("Content-Type"); ct != "" {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil || mt != "application/json" {
			return &apiError{Code: http.StatusUnsupportedMediaType, Msg: fmt.Sprintf("Content-Type %q: want application/json", clip(ct, 64))}
		}
	}
	b, err := io.ReadAll(io.LimitReader(req.Body, maxOpBody+1))
	if err != nil {
		return badRequest("reading body: %v", err)
	}
	if len(b) > maxOpBody {
		return &apiError{Code: http.StatusRequestEntityTooLarge, Msg: fmt.Sprintf("body over the limit of %d bytes", maxOpBody)}
	}
	if len(bytes.TrimSpace(b)) == 0 {
		b = []byte("{}")
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var te *json.UnmarshalTypeError
		switch {
		case errors.As(err, &te):
			return badRequest("field %s: want a %s", te.Field, te.Type)
		case strings.HasPrefix(err.Error(), "json: unknown field "):
			return badRequest("unknown field %s", strings.TrimPrefix(err.Error(), "json: unknown field "))
		}
		return badRequest("invalid JSON body: %v", err)
	}
	if dec.More() {
		return badRequest("trailing data after the JSON object")
	}
	return nil
}

// text limits for operator-supplied strings (they end up in the state
// file, the audit log and the page).
const (
	maxReasonLen = 512
	maxAuthorLen = 128
)

func checkText(field, v string, required bool, maxLen int) error {
	v = strings.TrimSpace(v)
	switch {
	case v == "" && required:
		return badRequest("field %s is required", field)
	case len(v) > maxLen:
		return badRequest("field %s: at most %d bytes", field, maxLen)
	case strings.ContainsFunc(v, func(r rune) bool { return r < ' ' || r == 0x7f }):
		return badRequest("field %s: control characters are not allowed", field)
	}
	return nil
}

// parseExpiresIn reads an optional Go duration ("30m", "2h").
func parseExpiresIn(v string) (time.Duration, error) {
	if v == "" {
		return 0, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		return 0, badRequest("field expires_in %q: want a positive duration like 30m or 2h", clip(v, 32))
	}
	return d, nil
}

func checkBackend(field, b string) error {
	if err := haproxyapi.CheckName("backend", b); err != nil {
		return badRequest("field %s: %v", field, err)
	}
	return nil
}

// CSRF: GET /api/v1/csrf.
func (r *Rebalancer) serveCSRF(*http.Request) (any, error) {
	return map[string]string{"token": r.csrf.Token()}, nil
}

// PauseRequest is the body of POST /api/v1/pause.
type PauseRequest struct {
	Backend   string `json:"backend"`
	Reason    string `json:"reason"`
	Author    string `json:"author"`
	ExpiresIn string `json:"expires_in"`
	Restores  bool   `json:"restores"`
}

// ResumeRequest is the body of POST /api/v1/resume.
type ResumeRequest struct {
	Backend string `json:"backend"`
	Author  string `json:"author"`
	Reason  string `json:"reason"`
}

func (r *Rebalancer) servePause(req *http.Request) (any, error) {
	var p PauseRequest
	if err := decodeBody(req, &p); err != nil {
		return nil, err
	}
	if p.Backend != "" {
		if err := checkBackend("backend", p.Backend); err != nil {
			return nil, err
		}
	}
	if err := checkText("reason", p.Reason, true, maxReasonLen); err != nil {
		return nil, err
	}
	if err := checkText("author", p.Author, true, maxAuthorLen); err != nil {
		return nil, err
	}
	d, err := parseExpiresIn(p.ExpiresIn)
	if err != nil {
		return nil, err
	}
	return r.Pause(p.Backend, p.Reason, p.Author, d, p.Restores)
}

func (r *Rebalancer) serveResume(req *http.Request) (any, error) {
	var p ResumeRequest
	if err := decodeBody(req, &p); err != nil {
		return nil, err
	}
	if p.Backend != "" {
		if err := checkBackend("backend", p.Backend); err != nil {
			return nil, err
		}
	}
	if err := checkText("author", p.Author, true, maxAuthorLen); err != nil {
		return nil, err
	}
	if err := checkText("reason", p.Reason, false, maxReasonLen); err != nil {
		return nil, err
	}
	return r.Resume(p.Backend, p.Reason, p.Author)
}

// Pause pauses the rebalancer globally (backend "") or on one backend.
// Pausing what is already paused the same way changes nothing.
func (r *Rebalancer) Pause(backend, reason, author string, expiresIn time.Duration, restores bool) (*WriteResult, error) {
	if backend != "" {
		if found, anyRead := r.knownServer(backend, ""); anyRead && !found {
			return nil, notFound("unknown backend %s", strconv.Quote(backend))
		}
	}
	now := r.now().UTC()
	p := &Pause{Reason: strings.TrimSpace(reason), Author: strings.TrimSpace(author), Since: now, Restores: restores}
	if expiresIn > 0 {
		p.Expires = now.Add(expiresIn)
	}
	result := ManualApplied
	var prev *Pause
	set := func(o *OperatorState, p *Pause) {
		switch {
		case backend == "":
			o.Pause = p
		case p == nil:
			delete(o.Pauses, backend)
		default:
			o.Pauses[backend] = p
		}
	}
	seq := r.store.Update(func(st *State) {
		o := st.operator()
		prev = o.Pause
		if backend != "" {
			prev = o.Pauses[backend]
		}
		if prev != nil && prev.active(now) && prev.Restores == restores {
			result = ManualUnchanged
			return
		}
		set(o, p)
	})
	if result == ManualApplied {
		if err := r.syncOp(seq); err != nil {
			r.store.Update(func(st *State) { set(st.operator(), prev) }) // not on disk: not done
			return nil, err
		}
		detail := "no new drain, maint or weight change"
		if !restores {
			detail += ", and no restore"
		}
		if !p.Expires.IsZero() {
			detail += ", until " + p.Expires.Format(time.RFC3339)
		}
		r.history(HistoryEntry{Kind: HistPaused, Backend: backend, Actor: Actor{Type: ActorOperator, Name: p.Author}, Reason: p.Reason, Result: result, Detail: detail})
		level.Warn(r.logger).Log("msg", "Rebalancer paused", "backend", orAll(backend), "author", p.Author, "reason", p.Reason, "restores", restores, "expires", p.Expires)
	}
	v := r.pausedView()
	return &WriteResult{Result: result, Paused: &v}, nil
}

// Resume ends a pause; resuming what is not paused changes nothing.
func (r *Rebalancer) Resume(backend, reason, author string) (*WriteResult, error) {
	result := ManualUnchanged
	var old *Pause
	seq := r.store.Update(func(st *State) {
		o := st.operator()
		if backend == "" {
			old, o.Pause = o.Pause, nil
		} else {
			old = o.Pauses[backend]
			delete(o.Pauses, backend)
		}
		if old != nil {
			result = ManualApplied
		}
	})
	if result == ManualApplied {
		if err := r.syncOp(seq); err != nil {
			r.store.Update(func(st *State) { // not on disk: not done
				if o := st.operator(); backend == "" {
					o.Pause = old
				} else {
					o.Pauses[backend] = old
				}
			})
			return nil, err
		}
		r.history(HistoryEntry{Kind: HistResumed, Backend: backend, Actor: Actor{Type: ActorOperator, Name: strings.TrimSpace(author)}, Reason: strings.TrimSpace(reason),
			Result: result, Detail: "pause by " + old.Author + " (" + old.Reason + ") ended"})
		level.Warn(r.logger).Log("msg", "Rebalancer resumed", "backend", orAll(backend), "author", author, "reason", reason)
		r.Kick()
	}
	v := r.pausedView()
	return &WriteResult{Result: result, Paused: &v}, nil
}

func orAll(backend string) string {
	if backend == "" {
		return "(all)"
	}
	return backend
}

func (r *Rebalancer) pausedView() PausedView {
	var v StateView
	r.operatorView(&v, r.now())
	return v.Paused
}

// syncOp makes an operator decision durable before answering.
func (r *Rebalancer) syncOp(seq uint64) error {
	if err := r.store.Sync(seq); err != nil {
		r.m.stateWriteFails.Inc()
		return &apiError{Code: http.StatusServiceUnavailable, Msg: "state could not be persisted: " + err.Error()}
	}
	return nil
}

// HistoryAnswer is the body of GET /api/v1/history.
type HistoryAnswer struct {
	Entries []HistoryEntry `json:"entries"`
}

// maxHistoryLimit bounds one history answer.
const maxHistoryLimit = 10000

func (r *Rebalancer) serveHistory(req *http.Request) (any, error) {
	q := req.URL.Query()
	f := HistoryFilter{Backend: q.Get("backend"), Server: q.Get("server"), Limit: 500}
	if f.Backend != "" {
		if err := checkBackend("backend", f.Backend); err != nil {
			return nil, err
		}
	}
	if f.Server != "" {
		if err := haproxyapi.CheckName("server", f.Server); err != nil {
			return nil, badRequest("field server: %v", err)
		}
	}
	if s := q.Get("since"); s != "" {
		if t, err := time.Parse(time.RFC3339, s); err == nil {
			f.Since = t
		} else if d, err := time.ParseDuration(s); err == nil && d > 0 {
			f.Since = r.now().Add(-d)
		} else {
			return nil, badRequest("field since %q: want RFC 3339 time or a duration like 1h", clip(s, 40))
		}
	}
	if s := q.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n <= 0 || n > maxHistoryLimit {
			return nil, badRequest("field limit %q: want 1..%d", clip(s, 20), maxHistoryLimit)
		}
		f.Limit = n
	}
	es, err := r.hist.Query(f)
	if err != nil {
		return nil, err
	}
	if es == nil {
		es = []HistoryEntry{}
	}
	return HistoryAnswer{Entries: es}, nil
}
