// Package agent is lbpilot's native HAProxy agent-check: a TCP server that
// answers every connection with one line (`up 63%`, `down #cpu 95/90`)
// computed from the local WCS, SRS or EMQX statistics and the host's load
// average, plus an HTTP /health endpoint with the same verdict for load
// balancers that cannot speak agent-check (AWS ELB/ALB, nginx).
//
// It replaces the xinetd + bash + curl + jq + bc script of the WCS
// load-balancing docs, with the same threshold names and meanings.
//
// The pieces, one job per file:
//
//   - dimension.go: the load dimensions (cpu, publishers, ...) and thresholds
//   - source*.go:   reading the upstream through the collectors' parsers
//   - cpu.go:       the 5-minute load average per CPU, from /proc
//   - cache.go:     a TTL cache with single flight, so a burst of checks
//     costs one upstream request
//   - policy.go:    sample + thresholds + mode → decision (pure)
//   - reply.go:     decision → one line in HAProxy's agent grammar
//   - server.go, allow.go: the agent-check TCP server and its allowlist
//   - health.go, metrics.go: GET /health and the lbpilot_agent_* metrics
//   - config.go:    the YAML file and its validation
//   - agent.go:     wiring
//
// The agent never replies ready, drain or maint: HAProxy's agent and its
// runtime socket write the same admin flags and whoever writes last wins,
// so an agent repeating `ready` would undo the rebalancer's (or an
// operator's) drain within one agent interval. Health words (`up`,
// `down`) and weights do not touch the admin state.
package agent
