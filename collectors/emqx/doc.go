// Package emqx turns EMQX 5, EMQX 4 and emqttd 2 statistics, read by
// internal/emqxapi from the management REST API, into emqx_* metrics with
// conforming names (counters end in _total), per node.
package emqx
