package emqx

import "strings"

// gaugeDef maps one EMQX stat (each comes as <key>.count and <key>.max)
// onto lbpilot's names.
type gaugeDef struct {
	key  string // EMQX stat key without .count/.max
	name string // lbpilot family; the high-water mark is name + "_max"
	help string
	// global stats are cluster-wide registries every node reports the
	// same value for; they are exported once, without a node label.
	global bool
}

var gaugeDefs = []gaugeDef{
	{"connections", "emqx_connections", "MQTT connections (channels) on the node, including disconnected sessions not yet expired", false},
	{"live_connections", "emqx_live_connections", "Clients with a live network connection to the node", false},
	{"sessions", "emqx_sessions", "Sessions on the node", false},
	{"channels", "emqx_channels", "Channels on the node (the same as sessions)", false},
	{"subscriptions", "emqx_subscriptions", "Subscriptions on the node, shared ones included, durable ones not", false},
	{"subscribers", "emqx_subscribers", "Subscribers on the node", false},
	{"suboptions", "emqx_suboptions", "Subscription options on the node (the same as subscriptions)", false},
	{"delayed", "emqx_delayed_messages", "Delayed-publish messages waiting on the node", false},
	{"durable_subscriptions", "emqx_durable_subscriptions", "Durable-session subscriptions on the node", false},
	{"resources", "emqx_rule_engine_resources", "Rule engine resources on the node (EMQX 4)", false},
	{"topics", "emqx_topics", "Topics in the cluster's routing table", true},
	{"retained", "emqx_retained_messages", "Retained messages stored in the cluster", true},
	{"subscriptions.shared", "emqx_shared_subscriptions", "Shared subscriptions in the cluster", true},
	{"cluster_sessions", "emqx_cluster_sessions", "Sessions registered in the whole cluster", true},
	{"routes", "emqx_routes", "Routes in the cluster's routing table (EMQX 4 and 2)", true},
}

// counterDefs are the cumulative counters of EMQX's metrics API (95 in
// 5.8, plus the EMQX 4 and emqttd 2 ones). lbpilot's name is the key with
// dots as underscores, prefixed emqx_ and suffixed _total; EMQX's own
// Prometheus endpoint uses the same name without _total (see nativeCounter
// for its exceptions). Counters lbpilot does not know are not exported.
var counterDefs = []struct{ key, help string }{
	{"bytes.received", "Bytes received from MQTT clients"},
	{"bytes.sent", "Bytes sent to MQTT clients"},
	{"packets.received", "MQTT packets received, all types"},
	{"packets.sent", "MQTT packets sent, all types"},
	{"packets.connect.received", "CONNECT packets received"},
	{"packets.connack.sent", "CONNACK packets sent"},
	{"packets.connack.error", "CONNACK packets sent with a failure reason"},
	{"packets.connack.auth_error", "CONNACK packets sent for failed authentication"},
	{"packets.publish.received", "PUBLISH packets received"},
	{"packets.publish.sent", "PUBLISH packets sent"},
	{"packets.publish.inuse", "PUBLISH packets received with a packet id already in use"},
	{"packets.publish.error", "PUBLISH packets received that could not be published"},
	{"packets.publish.auth_error", "PUBLISH packets received that failed authorization"},
	{"packets.publish.dropped", "PUBLISH packets dropped because the receive maximum was exceeded"},
	{"packets.puback.received", "PUBACK packets received"},
	{"packets.puback.sent", "PUBACK packets sent"},
	{"packets.puback.inuse", "PUBACK packets received with a packet id in use"},
	{"packets.puback.missed", "PUBACK packets received for an unknown packet id"},
	{"packets.pubrec.received", "PUBREC packets received"},
	{"packets.pubrec.sent", "PUBREC packets sent"},
	{"packets.pubrec.inuse", "PUBREC packets received with a packet id in use"},
	{"packets.pubrec.missed", "PUBREC packets received for an unknown packet id"},
	{"packets.pubrel.received", "PUBREL packets received"},
	{"packets.pubrel.sent", "PUBREL packets sent"},
	{"packets.pubrel.missed", "PUBREL packets received for an unknown packet id"},
	{"packets.pubcomp.received", "PUBCOMP packets received"},
	{"packets.pubcomp.sent", "PUBCOMP packets sent"},
	{"packets.pubcomp.inuse", "PUBCOMP packets received with a packet id in use"},
	{"packets.pubcomp.missed", "PUBCOMP packets received for an unknown packet id"},
	{"packets.subscribe.received", "SUBSCRIBE packets received"},
	{"packets.subscribe.error", "SUBSCRIBE packets received that failed"},
	{"packets.subscribe.auth_error", "SUBSCRIBE packets received that failed authorization"},
	{"packets.suback.sent", "SUBACK packets sent"},
	{"packets.unsubscribe.received", "UNSUBSCRIBE packets received"},
	{"packets.unsubscribe.error", "UNSUBSCRIBE packets received that failed"},
	{"packets.unsuback.sent", "UNSUBACK packets sent"},
	{"packets.pingreq.received", "PINGREQ packets received"},
	{"packets.pingresp.sent", "PINGRESP packets sent"},
	{"packets.disconnect.received", "DISCONNECT packets received"},
	{"packets.disconnect.sent", "DISCONNECT packets sent"},
	{"packets.auth.received", "AUTH packets received"},
	{"packets.auth.sent", "AUTH packets sent"},
	{"messages.received", "PUBLISH messages received from clients, all QoS"},
	{"messages.sent", "PUBLISH messages sent to clients, all QoS"},
	{"messages.qos0.received", "QoS 0 messages received from clients"},
	{"messages.qos0.sent", "QoS 0 messages sent to clients"},
	{"messages.qos1.received", "QoS 1 messages received from clients"},
	{"messages.qos1.sent", "QoS 1 messages sent to clients"},
	{"messages.qos2.received", "QoS 2 messages received from clients"},
	{"messages.qos2.sent", "QoS 2 messages sent to clients"},
	{"messages.qos2.dropped", "QoS 2 messages dropped (emqttd 2)"},
	{"messages.publish", "Messages published, clients and the system"},
	{"messages.dropped", "Messages dropped before forwarding (for example with no subscribers)"},
	{"messages.dropped.await_pubrel_timeout", "QoS 2 messages dropped waiting too long for PUBREL"},
	{"messages.dropped.no_subscribers", "Messages dropped for having no subscribers"},
	{"messages.dropped.expired", "Messages dropped because they expired (EMQX 4)"},
	{"messages.forward", "Messages forwarded to other nodes"},
	{"messages.retained", "Retained messages stored (EMQX 4 and emqttd 2)"},
	{"messages.delayed", "Delayed-publish messages stored"},
	{"messages.delivered", "Messages delivered to subscribers inside the broker"},
	{"messages.acked", "QoS 1 and 2 messages acknowledged by clients"},
	{"messages.persisted", "Messages persisted to durable storage"},
	{"messages.validation_failed", "Messages that failed schema validation"},
	{"messages.validation_succeeded", "Messages that passed schema validation"},
	{"messages.transformation_failed", "Messages whose transformation failed"},
	{"messages.transformation_succeeded", "Messages transformed"},
	{"delivery.dropped", "Messages dropped on delivery, all reasons"},
	{"delivery.dropped.no_local", "Messages dropped on delivery because of the no-local option"},
	{"delivery.dropped.too_large", "Messages dropped on delivery for exceeding the packet size limit"},
	{"delivery.dropped.qos0_msg", "QoS 0 messages dropped on delivery because the queue was full"},
	{"delivery.dropped.queue_full", "Messages dropped on delivery because the queue was full"},
	{"delivery.dropped.expired", "Messages dropped on delivery because they expired"},
	{"client.connect", "Client connect attempts"},
	{"client.connack", "CONNACKs sent to clients"},
	{"client.connected", "Clients connected successfully"},
	{"client.authenticate", "Client authentications run"},
	{"client.auth.anonymous", "Clients that connected anonymously"},
	{"client.auth.success", "Successful client authentications (EMQX 4)"},
	{"client.auth.success.anonymous", "Successful anonymous client authentications (EMQX 4)"},
	{"client.auth.failure", "Failed client authentications (EMQX 4)"},
	{"client.authorize", "Client authorization checks run (EMQX 4: client.check_acl)"},
	{"client.acl.allow", "ACL checks allowed (EMQX 4)"},
	{"client.acl.deny", "ACL checks denied (EMQX 4)"},
	{"client.acl.cache_hit", "ACL checks answered from the cache (EMQX 4)"},
	{"client.subscribe", "Client subscribe operations"},
	{"client.unsubscribe", "Client unsubscribe operations"},
	{"client.disconnected", "Client disconnections"},
	{"session.created", "Sessions created"},
	{"session.resumed", "Sessions resumed by a reconnecting client"},
	{"session.takenover", "Sessions taken over by a client on another connection (EMQX 4: session.takeovered)"},
	{"session.discarded", "Sessions discarded by a clean-start client"},
	{"session.terminated", "Sessions terminated"},
	{"authorization.allow", "Authorization checks allowed"},
	{"authorization.deny", "Authorization checks denied"},
	{"authorization.cache_hit", "Authorization checks answered from the cache"},
	{"authorization.cache_miss", "Authorization checks not in the cache"},
	{"authentication.success", "Successful authentications"},
	{"authentication.success.anonymous", "Successful anonymous authentications"},
	{"authentication.failure", "Failed authentications"},
	{"overload_protection.delay.ok", "Overload protection: delays applied"},
	{"overload_protection.delay.timeout", "Overload protection: delays that timed out"},
	{"overload_protection.hibernation", "Overload protection: processes hibernated"},
	{"overload_protection.gc", "Overload protection: garbage collections forced"},
	{"overload_protection.new_conn", "Overload protection: new connections refused"},
}

// CounterName returns lbpilot's family for an EMQX metrics key.
func CounterName(key string) string {
	return "emqx_" + strings.NewReplacer(".", "_", "-", "_").Replace(key) + "_total"
}
