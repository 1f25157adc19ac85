package rebalancer

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	promconfig "github.com/prometheus/common/config"
)

// AlertSource is the part of the Alertmanager API v2 the reconcile loop
// reads: when Alertmanager started, and the alerts it holds now.
type AlertSource interface {
	Started(ctx context.Context) (time.Time, error)
	Alerts(ctx context.Context) (alerts []APIAlert, serverTime time.Time, err error)
}

// APIAlert is the subset of GET /api/v2/alerts elements the rebalancer uses.
type APIAlert struct {
	Fingerprint string            `json:"fingerprint"`
	Labels      map[string]string `json:"labels"`
	StartsAt    time.Time         `json:"startsAt"`
	EndsAt      time.Time         `json:"endsAt"`
	UpdatedAt   time.Time         `json:"updatedAt"`
	Status      struct {
		State string `json:"state"`
	} `json:"status"`
}

// maxAPIResponse bounds what one API answer may be.
const maxAPIResponse = 64 << 20

type amClient struct {
	base     *url.URL
	client   *http.Client
	receiver string
	filter   []string
}

// NewAlertmanagerClient returns an AlertSource for cfg (cfg.URL must be set).
func NewAlertmanagerClient(cfg AlertmanagerConfig) (AlertSource, error) {
	u, err := url.Parse(strings.TrimSuffix(cfg.URL, "/"))
	if err != nil {
		return nil, err
	}
	hc, err := promconfig.NewClientFromConfig(cfg.HTTPConfig, "lbpilot_rebalancer")
	if err != nil {
		return nil, fmt.Errorf("alertmanager.http_config: %w", err)
	}
	hc.Timeout = cfg.Timeout
	return &amClient{base: u, client: hc, receiver: cfg.Receiver, filter: cfg.Filter}, nil
}

func (c *amClient) get(ctx context.Context, path string, q url.Values, v any) (time.Time, error) {
	u := *c.base
	u.Path += path
	u.RawQuery = q.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return time.Time{}, err
	}
	req.Header.Set("Accept", "application/json")
	resp, err := c.client.Do(req)
	if err != nil {
		return time.Time{}, fmt.Errorf("alertmanager %s: %w", path, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxAPIResponse+1))
	if err != nil {
		return time.Time{}, fmt.Errorf("alertmanager %s: %w", path, err)
	}
	if resp.StatusCode != http.StatusOK {
		return time.Time{}, fmt.Errorf("alertmanager %s: HTTP %d: %s", path, resp.StatusCode, clip(strings.TrimSpace(string(body)), 200))
	}
	if len(body) > maxAPIResponse {
		return time.Time{}, fmt.Errorf("alertmanager %s: answer larger than %d bytes", path, maxAPIResponse)
	}
	if err := json.Unmarshal(body, v); err != nil {
		return time.Time{}, fmt.Errorf("alertmanager %s: %w", path, err)
	}
	date, _ := http.ParseTime(resp.Header.Get("Date"))
	return date, nil
}

// Started reads the uptime field of /api/v2/status (Alertmanager's start time).
func (c *amClient) Started(ctx context.Context) (time.Time, error) {
	var st struct {
		Uptime time.Time `json:"uptime"`
	}
	if _, err := c.get(ctx, "/api/v2/status", nil, &st); err != nil {
		return time.Time{}, err
	}
	if st.Uptime.IsZero() {
		return time.Time{}, fmt.Errorf("alertmanager /api/v2/status: no uptime")
	}
	return st.Uptime, nil
}

// Alerts lists every alert Alertmanager holds, silenced and inhibited ones
// included: a silence mutes notifications, it does not end the condition.
func (c *amClient) Alerts(ctx context.Context) ([]APIAlert, time.Time, error) {
	q := url.Values{"active": {"true"}, "silenced": {"true"}, "inhibited": {"true"}, "unprocessed": {"true"}}
	if c.receiver != "" {
		q.Set("receiver", c.receiver)
	}
	for _, f := range c.filter {
		q.Add("filter", f)
	}
	var alerts []APIAlert
	date, err := c.get(ctx, "/api/v2/alerts", q, &alerts)
	if err != nil {
		return nil, time.Time{}, err
	}
	return alerts, date, nil
}
