package emqxapi

import "strings"

// keyAliases renames older keys to their EMQX 5 names, so one family
// covers every generation.
var keyAliases = map[string]string{
	// EMQX 4
	"session.takeovered": "session.takenover",
	"client.check_acl":   "client.authorize",
	// emqttd 2 (keys use slashes, read here with dots)
	"clients.count":       "connections.count",
	"clients.max":         "connections.max",
	"packets.connect":     "packets.connect.received",
	"packets.connack":     "packets.connack.sent",
	"packets.subscribe":   "packets.subscribe.received",
	"packets.suback":      "packets.suback.sent",
	"packets.unsubscribe": "packets.unsubscribe.received",
	"packets.unsuback":    "packets.unsuback.sent",
	"packets.pingreq":     "packets.pingreq.received",
	"packets.pingresp":    "packets.pingresp.sent",
	"packets.disconnect":  "packets.disconnect.received",
}

// NormalizeKey turns any generation's key into the EMQX 5 form.
func NormalizeKey(k string) string {
	k = strings.ReplaceAll(k, "/", ".")
	if a, ok := keyAliases[k]; ok {
		return a
	}
	return k
}
