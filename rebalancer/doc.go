// Package rebalancer turns Alertmanager webhook notifications into HAProxy
// runtime changes — drain, maint or a reduced weight — and undoes them when
// the alerts end.
//
// The flow is desired-state, never toggle:
//
//   - webhook.go decodes a notification (version 4), classifies every alert
//     by its own status against the rules (intake.go) and records it in the
//     store (store.go). Each alert is kept by fingerprint with a version
//     (startsAt, time, status) that only moves forward, so duplicates,
//     retries, stale resolves and concurrent deliveries all converge on the
//     same state in any order. The answer is 200 once that state is on disk.
//   - reconcile.go runs one cycle per socket: read `show info` (reload
//     detection) and `show servers state`, plan the desired state per server
//     from the active alerts (planner.go), compare it with what the
//     rebalancer owns and what HAProxy shows (decide.go), keep backends above
//     their floor (guard.go), record the intent, send one batch, read it back.
//   - the rebalancer restores only what it set, and only while HAProxy still
//     shows it; an operator's change releases the server.
//
// Everything that reaches a socket is a haproxyapi.Command, which only the
// validating constructors of internal/haproxyapi can build.
package rebalancer
