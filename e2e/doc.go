// Package e2e runs lbpilot's whole loop with real programs on loopback:
// the demo's stack (demo.Start: lbpilot-lab, haproxy, one lbpilot agent
// per WCS node, the exporter, the rebalancer, Prometheus with the shipped
// rules and Alertmanager with the shipped configuration, demo timers),
// the demo's scenario with a deadline on every step, then fault drills.
// It has no Go API; `go test ./e2e` runs it.
package e2e
