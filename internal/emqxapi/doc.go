// Package emqxapi reads the management REST API of EMQX 5 (/api/v5),
// EMQX 4 (/api/v4) and emqttd 2 (/api/v2): how to reach it (Options,
// credentials), which generation answers (Detect), and nodes, stats and
// metrics decoded into typed Stats with every generation's keys in the
// EMQX 5 form. It knows nothing of Prometheus: collectors/emqx turns Stats
// into emqx_* metrics and the agent into weights.
package emqxapi
