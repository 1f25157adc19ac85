// Package traffic drives client sessions through HAProxy's frontends
// according to a plan, and reports what happened to each of them.
//
// A Plan (JSON, decoded strictly) names a seed, hard caps, and per
// protocol a loopback target, an arrival rate, a mix of session kinds and
// a lifetime distribution, then phases in order (steady, flash crowd,
// node killed, node back). The Engine turns the plan into arrivals that
// depend only on the seed, opens each session through the Dialer
// registered for its protocol, and tells apart sessions ended by the plan
// (their lifetime reached), cut by the server or the proxy (Wait returned
// first), refused at open, and stopped because the run ended. It reports
// JSON lines over time, Prometheus metrics and a final summary.
//
// Protocol clients plug in through a Registry; the package itself ships
// only "tcp" (connect, hold, optional echo).
package traffic
