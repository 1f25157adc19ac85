package rebalancer

import (
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/alertmanager/template"
	"github.com/prometheus/common/model"

	"github.com/lbpilot/lbpilot/internal/haproxyapi"
)

// Alert statuses, as Alertmanager writes them.
const (
	StatusFiring   = "firing"
	StatusResolved = "resolved"
)

// Sources of an observation.
const (
	SourceWebhook = "webhook"
	SourceAPI     = "alertmanager_api"
)

// Reasons an alert is not acted on (label of lbpilot_rebalancer_alerts_ignored_total).
const (
	ReasonNoRule             = "no_rule"
	ReasonInvalidStatus      = "invalid_status"
	ReasonInvalidFingerprint = "invalid_fingerprint"
	ReasonInvalidAction      = "invalid_action"
	ReasonInvalidName        = "invalid_name"
	ReasonMissingLabel       = "missing_label"
	ReasonBackendNotAllowed  = "backend_not_allowed"
	ReasonInvalidAddress     = "invalid_address"
	ReasonNotTracked         = "not_tracked"
	ReasonStale              = "stale"
	ReasonNoServer           = "no_server"
	ReasonLabelsTooLarge     = "labels_too_large"
	ReasonTooManyAlerts      = "too_many_alerts"
)

// Caps on one alert's labels. Real alerts carry a dozen short labels;
// these leave room for generous ones and refuse what could only bloat the
// state file (every tracked alert's labels are stored).
const (
	MaxAlertLabels     = 64
	MaxAlertLabelBytes = 8 << 10 // names and values together
)

// ignoreReasons lists every reason, for metric initialisation.
var ignoreReasons = []string{
	ReasonNoRule, ReasonInvalidStatus, ReasonInvalidFingerprint, ReasonInvalidAction, ReasonInvalidName,
	ReasonMissingLabel, ReasonBackendNotAllowed, ReasonInvalidAddress, ReasonNotTracked, ReasonStale, ReasonNoServer,
	ReasonLabelsTooLarge, ReasonTooManyAlerts,
}

// checkLabelSize refuses an alert whose labels exceed the caps.
func checkLabelSize(labels map[string]string) error {
	if len(labels) > MaxAlertLabels {
		return fmt.Errorf("%d labels: at most %d", len(labels), MaxAlertLabels)
	}
	n := 0
	for k, v := range labels {
		n += len(k) + len(v)
	}
	if n > MaxAlertLabelBytes {
		return fmt.Errorf("labels of %d bytes: at most %d", n, MaxAlertLabelBytes)
	}
	return nil
}

// Observation is one statement about one alert: "fingerprint F, the
// incarnation that started at StartsAt, was <Status> as of At".
type Observation struct {
	Fingerprint string
	Labels      map[string]string
	Rule        string
	Status      string
	StartsAt    time.Time
	At          time.Time
	EndsAt      time.Time
	Source      string
}

// Rejection says why an alert was not recorded.
type Rejection struct {
	Fingerprint string
	Status      string
	Rule        string
	Reason      string
	Err         error
}

// classify turns one decoded alert into an observation. A firing alert must
// match a rule whose action and target labels are valid; a resolved alert
// only needs an identity, because whether it ends something the rebalancer
// holds is decided by the store (rules may have changed since it fired).
func classify(rules []*Rule, a template.Alert, source string) (Observation, *Rejection) {
	if err := checkLabelSize(a.Labels); err != nil {
		// Before the fingerprint, which hashes the labels when absent.
		return Observation{}, &Rejection{Fingerprint: clip(a.Fingerprint, 32), Status: clip(a.Status, 16), Reason: ReasonLabelsTooLarge, Err: err}
	}
	fp, err := alertFingerprint(a)
	if err != nil {
		return Observation{}, &Rejection{Fingerprint: clip(a.Fingerprint, 32), Status: a.Status, Reason: ReasonInvalidFingerprint, Err: err}
	}
	o := Observation{Fingerprint: fp, Labels: map[string]string(a.Labels), Status: a.Status, StartsAt: a.StartsAt.UTC(), Source: source}
	switch a.Status {
	case StatusResolved:
		o.EndsAt = a.EndsAt.UTC()
		o.At = o.EndsAt
		if o.At.Before(o.StartsAt) {
			o.At = o.StartsAt // a resolved alert without a usable endsAt still ends its incarnation
		}
		// The rule only says whether an alert the store does not know yet is
		// worth a tombstone (so that a firing delivered after it stays a no-op).
		if r := matchRule(rules, o.Labels); r != nil {
			if _, err := r.check(o.Labels); err == nil {
				o.Rule = r.Name
			}
		}
		return o, nil
	case StatusFiring:
		o.At = o.StartsAt
	default:
		return Observation{}, &Rejection{Fingerprint: fp, Status: clip(a.Status, 16), Reason: ReasonInvalidStatus, Err: fmt.Errorf("status %s: want firing or resolved", strconv.Quote(clip(a.Status, 16)))}
	}
	rule := matchRule(rules, o.Labels)
	if rule == nil {
		return Observation{}, &Rejection{Fingerprint: fp, Status: a.Status, Reason: ReasonNoRule}
	}
	o.Rule = rule.Name
	if reason, err := rule.check(o.Labels); err != nil {
		return Observation{}, &Rejection{Fingerprint: fp, Status: a.Status, Rule: rule.Name, Reason: reason, Err: err}
	}
	return o, nil
}

// matchRule returns the first rule matching labels, or nil.
func matchRule(rules []*Rule, labels map[string]string) *Rule {
	ls := labelSet(labels)
	for _, r := range rules {
		if r.matchSet(ls) {
			return r
		}
	}
	return nil
}

// check validates what the rule will read from the alert: its action and
// its target labels. Backend and server names must pass haproxy.CheckName
// here already, so that an injection attempt is refused — and counted —
// when it arrives, long before any command is built.
func (r *Rule) check(labels map[string]string) (string, error) {
	if _, err := r.ActionFor(labels); err != nil {
		return ReasonInvalidAction, err
	}
	switch r.target.By {
	case TargetByLabels:
		b, okb := labels[r.target.BackendLabel]
		s, oks := labels[r.target.ServerLabel]
		if !okb || !oks {
			return ReasonMissingLabel, fmt.Errorf("labels %s and %s are required by rule %s", r.target.BackendLabel, r.target.ServerLabel, r.Name)
		}
		ref := haproxyapi.ServerRef{Backend: b, Server: s}
		if err := ref.Validate(); err != nil {
			return ReasonInvalidName, err
		}
		if !r.allowsBackend(b) {
			return ReasonBackendNotAllowed, fmt.Errorf("backend %s is not among rule %s's backends", b, r.Name)
		}
	case TargetByAddress:
		v, ok := labels[r.target.AddressLabel]
		if !ok {
			return ReasonMissingLabel, fmt.Errorf("label %s is required by rule %s", r.target.AddressLabel, r.Name)
		}
		if _, err := hostOf(v); err != nil {
			return ReasonInvalidAddress, err
		}
	}
	return "", nil
}

// alertFingerprint returns the alert's fingerprint, computing it from the
// labels as Alertmanager does when a sender left it out.
func alertFingerprint(a template.Alert) (string, error) {
	fp := a.Fingerprint
	if fp == "" {
		if len(a.Labels) == 0 {
			return "", fmt.Errorf("alert has neither fingerprint nor labels")
		}
		ls := model.LabelSet{}
		for k, v := range a.Labels {
			ls[model.LabelName(k)] = model.LabelValue(v)
		}
		return ls.Fingerprint().String(), nil
	}
	if len(fp) > 64 {
		return "", fmt.Errorf("fingerprint longer than 64 characters")
	}
	for i := 0; i < len(fp); i++ {
		c := fp[i]
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '-' || c == '_') {
			return "", fmt.Errorf("fingerprint %s: want [0-9A-Za-z_-]", strconv.Quote(clip(fp, 32)))
		}
	}
	return fp, nil
}

// hostOf extracts the host of an instance label: "10.0.0.1:9100",
// "[2001:db8::1]:9100", "web1.example", "2001:db8::1".
func hostOf(instance string) (string, error) {
	v := strings.TrimSpace(instance)
	if v == "" || len(v) > 255 || strings.ContainsAny(v, " \t\r\n/;#\\\"'") {
		return "", fmt.Errorf("address %s: want host or host:port", strconv.Quote(clip(instance, 64)))
	}
	if h, _, err := net.SplitHostPort(v); err == nil {
		v = h
	} else if strings.HasPrefix(v, "[") && strings.HasSuffix(v, "]") {
		v = v[1 : len(v)-1]
	}
	if v == "" {
		return "", fmt.Errorf("address %s: empty host", strconv.Quote(clip(instance, 64)))
	}
	return strings.ToLower(v), nil
}

// incarnation names one firing episode of an alert.
func incarnation(fp string, startsAt time.Time) string {
	return fp + "@" + startsAt.UTC().Format(time.RFC3339Nano)
}
