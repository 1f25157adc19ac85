package rebalancer

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strconv"
	"time"

	"github.com/go-kit/log"
	"github.com/go-kit/log/level"
	"github.com/prometheus/alertmanager/template"

	"github.com/lbpilot/lbpilot/internal/lograte"
)

// MaxBodyBytes bounds a webhook body. 1,000 alerts with a dozen labels each
// are about 600 KB.
const MaxBodyBytes = 1 << 20

// WebhookVersion is the only payload version Alertmanager has ever sent.
const WebhookVersion = "4"

// Message is Alertmanager's webhook payload: the template data plus the
// envelope fields of notify/webhook.Message (declared here, so the notifier
// stack is not linked in). Unknown fields (notification_reason,
// routeLabels, later additions) are ignored.
type Message struct {
	*template.Data
	Version         string `json:"version"`
	GroupKey        string `json:"groupKey"`
	TruncatedAlerts uint64 `json:"truncatedAlerts"`
}

// Summary is the answer to a recorded notification.
type Summary struct {
	Status    string `json:"status"`
	Alerts    int    `json:"alerts"`
	Recorded  int    `json:"recorded"`
	Unchanged int    `json:"unchanged"`
	Stale     int    `json:"stale"`
	Ignored   int    `json:"ignored"`
}

// Intake records the alerts of a notification durably.
type Intake interface {
	Record(ctx context.Context, msg *Message) (Summary, error)
}

// errPersist marks a failure to make the intent durable (answered 503 so
// Alertmanager retries).
var errPersist = errors.New("state could not be persisted")

// WebhookHandler serves POST /api/v1/alerts. Answers, and what Alertmanager
// does with them: 200 once the intent is on disk (done); 400 bad JSON or
// version, 401 bad credentials, 405 wrong method, 413 body over 1 MiB, 415
// not JSON (not retried; re-sent at the next group_interval); 503 when the
// state cannot be persisted (retried with backoff). Replaying any request
// gives the same answer and changes nothing.
//
// Refusals happen before authentication, so they are logged at most once
// per answer code and refusals' period (nil: a limiter of its own, with
// lograte.DefaultPeriod), with the count held back; the metric counts
// every one.
func WebhookHandler(in Intake, auth *BearerAuth, m *metrics, logger log.Logger, refusals *lograte.Limiter) http.Handler {
	if refusals == nil {
		refusals = lograte.New(lograte.DefaultPeriod)
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		code := serveWebhook(in, auth, logger, refusals, w, r)
		if m != nil {
			m.webhookRequests.WithLabelValues(strconv.Itoa(code)).Inc()
			m.webhookDuration.Observe(time.Since(start).Seconds())
		}
	})
}

func serveWebhook(in Intake, auth *BearerAuth, logger log.Logger, refusals *lograte.Limiter, w http.ResponseWriter, r *http.Request) int {
	fail := func(code int, msg string) int {
		if ok, held := refusals.Allow(strconv.Itoa(code)); ok {
			level.Warn(logger).Log("msg", "Webhook request refused", "code", code, "err", msg, "remote", r.RemoteAddr, "similar_since_last_warning", held)
		}
		writeJSON(w, code, map[string]string{"status": "error", "error": msg})
		return code
	}
	if !auth.Allow(r) {
		w.Header().Set("WWW-Authenticate", `Bearer realm="lbpilot rebalancer"`)
		return fail(http.StatusUnauthorized, "missing or wrong bearer token")
	}
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		return fail(http.StatusMethodNotAllowed, "use POST")
	}
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "application/json" {
		return fail(http.StatusUnsupportedMediaType, fmt.Sprintf("Content-Type %q: want application/json", clip(r.Header.Get("Content-Type"), 64)))
	}
	if r.ContentLength > MaxBodyBytes {
		return fail(http.StatusRequestEntityTooLarge, fmt.Sprintf("body of %d bytes: limit is %d", r.ContentLength, MaxBodyBytes))
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBodyBytes))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return fail(http.StatusRequestEntityTooLarge, fmt.Sprintf("body over the limit of %d bytes", MaxBodyBytes))
		}
		return fail(http.StatusBadRequest, "reading body: "+err.Error())
	}
	msg, err := DecodeMessage(body)
	if err != nil {
		return fail(http.StatusBadRequest, err.Error())
	}
	sum, err := in.Record(r.Context(), msg)
	if err != nil {
		level.Error(logger).Log("msg", "Webhook not recorded; answering 503 so Alertmanager retries", "group_key", msg.GroupKey, "err", err)
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "error", "error": err.Error()})
		return http.StatusServiceUnavailable
	}
	level.Debug(logger).Log("msg", "Webhook recorded", "receiver", msg.Receiver, "group_key", msg.GroupKey, "alerts", sum.Alerts,
		"recorded", sum.Recorded, "unchanged", sum.Unchanged, "stale", sum.Stale, "ignored", sum.Ignored)
	sum.Status = "success"
	writeJSON(w, http.StatusOK, sum)
	return http.StatusOK
}

// DecodeMessage parses and checks a webhook body.
func DecodeMessage(body []byte) (*Message, error) {
	msg := &Message{}
	if err := json.Unmarshal(body, msg); err != nil {
		return nil, fmt.Errorf("invalid JSON: %v", err)
	}
	if msg.Version != WebhookVersion {
		return nil, fmt.Errorf("payload version %s: want %q (Alertmanager webhook)", strconv.Quote(clip(msg.Version, 16)), WebhookVersion)
	}
	if msg.Data == nil || msg.Alerts == nil {
		return nil, fmt.Errorf("payload has no alerts array")
	}
	return msg, nil
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}
