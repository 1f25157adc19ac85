// Package srsapi reads SRS's (Simple Realtime Server 3–7) http_api:
// /api/v1/summaries, versions, self_proc_stats and the paged vhost,
// stream and client lists, decoded into typed Stats. It knows SRS's
// quirks (errors with HTTP 200 and a code, lists that ignore start/count,
// ids as strings or numbers) and nothing of Prometheus: collectors/srs
// turns Stats into srs_* metrics and the agent into weights.
package srsapi
