// Package alerts holds lbpilot's Prometheus rules (*.rules.yml), their
// promtool unit tests (tests/*.test.yml), the Alertmanager configuration
// (alertmanager.yml) and the runbook; it has no Go API. Its tests check
// the files with the real promtool and amtool; tools/mixin/check parses
// every expression and checks every metric name against what lbpilot
// emits.
package alerts
