package haproxy

import "github.com/prometheus/client_golang/prometheus"

// Scopes of HAProxy metrics, as in HAProxy's built-in exporter's ?scope=.
const (
	ScopeProcess  = "process"
	ScopeFrontend = "frontend"
	ScopeBackend  = "backend"
	ScopeServer   = "server"
	// ScopeListener is the listener rows of show stat (option socket-stats).
	ScopeListener = "listener"
	// ScopeStickTable is show table: each table's size and use.
	ScopeStickTable = "sticktable"
	// ScopeResolver is show resolvers: per nameserver counters.
	ScopeResolver = "resolver"
)

// allScopes is the default: everything, as promex does without ?scope=.
var allScopes = []string{ScopeProcess, ScopeFrontend, ScopeBackend, ScopeServer, ScopeListener, ScopeStickTable, ScopeResolver}

// valueKind says how a family's samples are derived from a CSV field.
type valueKind uint8

const (
	plain         valueKind = iota // the field's number, times scale; empty: no sample
	nanIfEmpty                     // like plain, but an empty field is NaN (a limit that is not set)
	statusState                    // one series per state, 1 for the current one (the status column)
	checkState                     // one series per health-check result; none without checks
	httpCodes                      // one series per response class, from hrsp_1xx…hrsp_other
	checkCode                      // check_code, 0 when the check has no L7 code; none without checks
	aggState                       // backend: number of its servers in each state (computed)
	adminState                     // server: admin state from `show servers state` (lbpilot's own)
	listenerState                  // listener: one series per state (WAITING, OPEN, FULL), the raw status
	modeInfo                       // frontend/backend: 1, with the proxy's mode (http, tcp) as a label
	serverInfo                     // server: 1, with address, port and FQDN from `show servers state`
	aggCheck                       // backend: number of its checked servers per last check result (computed)
	extraCounter                   // a stats module's column (extra-counters), with the module as "mod"
)

// family is one metric family derived from `show stat`.
type family struct {
	name  string // without the haproxy_<scope>_ prefix
	help  string
	typ   prometheus.ValueType
	col   string // CSV column
	scale float64
	kind  valueKind
}

const ms = 0.001

// Names follow HAProxy's built-in exporter (promex) exactly, so its
// dashboards work against lbpilot; help texts are lbpilot's.
var frontendFamilies = []family{
	{"current_sessions", "Current number of active sessions.", gauge, "scur", 1, plain},
	{"max_sessions", "Highest number of concurrent sessions seen.", gauge, "smax", 1, plain},
	{"limit_sessions", "Configured session limit (maxconn); NaN when unset.", gauge, "slim", 1, nanIfEmpty},
	{"sessions_total", "Total number of sessions.", counter, "stot", 1, plain},
	{"bytes_in_total", "Total bytes received from clients.", counter, "bin", 1, plain},
	{"bytes_out_total", "Total bytes sent to clients.", counter, "bout", 1, plain},
	{"requests_denied_total", "Requests denied by security rules.", counter, "dreq", 1, plain},
	{"responses_denied_total", "Responses denied by security rules.", counter, "dresp", 1, plain},
	{"request_errors_total", "Request errors (ereq).", counter, "ereq", 1, plain},
	{"status", "Current status, one series per state (1 for the current one).", gauge, "status", 1, statusState},
	{"limit_session_rate", "Configured limit on new sessions per second.", gauge, "rate_lim", 1, plain},
	{"max_session_rate", "Highest number of new sessions per second seen.", gauge, "rate_max", 1, plain},
	{"http_responses_total", "HTTP responses by status class.", counter, "", 1, httpCodes},
	{"http_requests_rate_max", "Highest number of HTTP requests per second seen.", gauge, "req_rate_max", 1, plain},
	{"http_requests_total", "Total HTTP requests received.", counter, "req_tot", 1, plain},
	{"http_comp_bytes_in_total", "Bytes fed to the HTTP compressor.", counter, "comp_in", 1, plain},
	{"http_comp_bytes_out_total", "Bytes emitted by the HTTP compressor.", counter, "comp_out", 1, plain},
	{"http_comp_bytes_bypassed_total", "Bytes that bypassed the HTTP compressor.", counter, "comp_byp", 1, plain},
	{"http_comp_responses_total", "HTTP responses that were compressed.", counter, "comp_rsp", 1, plain},
	{"connections_rate_max", "Highest number of connections per second seen.", gauge, "conn_rate_max", 1, plain},
	{"connections_total", "Total connections accepted.", counter, "conn_tot", 1, plain},
	{"intercepted_requests_total", "Requests intercepted by HAProxy itself (stats, redirects, use-service).", counter, "intercepted", 1, plain},
	{"denied_connections_total", "Connections denied by tcp-request connection rules.", counter, "dcon", 1, plain},
	{"denied_sessions_total", "Sessions denied by tcp-request session rules.", counter, "dses", 1, plain},
	{"failed_header_rewriting_total", "Failed HTTP header rewrites.", counter, "wrew", 1, plain},
	{"http_cache_lookups_total", "HTTP cache lookups.", counter, "cache_lookups", 1, plain},
	{"http_cache_hits_total", "HTTP cache hits.", counter, "cache_hits", 1, plain},
	{"internal_errors_total", "Internal errors.", counter, "eint", 1, plain},
	// In promex from HAProxy 3.0 on (2.6's CSV already has the column).
	{"current_session_rate", "New sessions per second over the last second.", gauge, "rate", 1, plain},
	// Columns of HAProxy 3.x's CSV; absent on older versions.
	{"req_bytes_in_total", "Request bytes received (HAProxy 3.x).", counter, "reqbin", 1, plain},
	{"req_bytes_out_total", "Request bytes sent (HAProxy 3.x).", counter, "reqbout", 1, plain},
	{"res_bytes_in_total", "Response bytes received (HAProxy 3.x).", counter, "resbin", 1, plain},
	{"res_bytes_out_total", "Response bytes sent (HAProxy 3.x).", counter, "resbout", 1, plain},
	// lbpilot's own: the proxy mode as a label.
	{"info", "The frontend's mode (http, tcp) as a label; the value is 1.", gauge, "mode", 1, modeInfo},
}

var backendFamilies = []family{
	{"current_queue", "Requests waiting in the queue for a server.", gauge, "qcur", 1, plain},
	{"max_queue", "Highest queue length seen.", gauge, "qmax", 1, plain},
	{"current_sessions", "Current number of active sessions.", gauge, "scur", 1, plain},
	{"max_sessions", "Highest number of concurrent sessions seen.", gauge, "smax", 1, plain},
	{"limit_sessions", "Configured session limit (fullconn); NaN when unset.", gauge, "slim", 1, nanIfEmpty},
	{"sessions_total", "Total number of sessions.", counter, "stot", 1, plain},
	{"bytes_in_total", "Total bytes received from clients.", counter, "bin", 1, plain},
	{"bytes_out_total", "Total bytes sent to clients.", counter, "bout", 1, plain},
	{"requests_denied_total", "Requests denied by security rules.", counter, "dreq", 1, plain},
	{"responses_denied_total", "Responses denied by security rules.", counter, "dresp", 1, plain},
	{"connection_errors_total", "Errors while connecting to servers.", counter, "econ", 1, plain},
	{"response_errors_total", "Response errors from servers.", counter, "eresp", 1, plain},
	{"retry_warnings_total", "Connection retries to servers.", counter, "wretr", 1, plain},
	{"redispatch_warnings_total", "Sessions redispatched to another server.", counter, "wredis", 1, plain},
	{"status", "Current status, one series per state (1 for the current one).", gauge, "status", 1, statusState},
	{"weight", "Sum of the effective weights of the usable active servers.", gauge, "weight", 1, plain},
	{"active_servers", "Number of usable active servers.", gauge, "act", 1, plain},
	{"backup_servers", "Number of usable backup servers.", gauge, "bck", 1, plain},
	{"check_up_down_total", "Transitions between UP and DOWN.", counter, "chkdown", 1, plain},
	{"check_last_change_seconds", "Seconds since the last UP/DOWN transition.", gauge, "lastchg", 1, plain},
	{"downtime_seconds_total", "Total time the backend was DOWN, in seconds; NaN for a backend without servers.", counter, "downtime", 1, nanIfEmpty},
	{"loadbalanced_total", "Times a server was selected by load balancing.", counter, "lbtot", 1, plain},
	{"max_session_rate", "Highest number of new sessions per second seen.", gauge, "rate_max", 1, plain},
	{"http_responses_total", "HTTP responses by status class.", counter, "", 1, httpCodes},
	{"http_requests_total", "Total HTTP requests.", counter, "req_tot", 1, plain},
	{"client_aborts_total", "Transfers aborted by the client.", counter, "cli_abrt", 1, plain},
	{"server_aborts_total", "Transfers aborted by the server.", counter, "srv_abrt", 1, plain},
	{"http_comp_bytes_in_total", "Bytes fed to the HTTP compressor.", counter, "comp_in", 1, plain},
	{"http_comp_bytes_out_total", "Bytes emitted by the HTTP compressor.", counter, "comp_out", 1, plain},
	{"http_comp_bytes_bypassed_total", "Bytes that bypassed the HTTP compressor.", counter, "comp_byp", 1, plain},
	{"http_comp_responses_total", "HTTP responses that were compressed.", counter, "comp_rsp", 1, plain},
	{"last_session_seconds", "Seconds since the last session was assigned; -1 when never.", gauge, "lastsess", 1, plain},
	{"queue_time_average_seconds", "Average queue time over the last 1024 requests, in seconds.", gauge, "qtime", ms, plain},
	{"connect_time_average_seconds", "Average connect time over the last 1024 requests, in seconds.", gauge, "ctime", ms, plain},
	{"response_time_average_seconds", "Average response time over the last 1024 requests, in seconds.", gauge, "rtime", ms, plain},
	{"total_time_average_seconds", "Average total session time over the last 1024 requests, in seconds.", gauge, "ttime", ms, plain},
	{"failed_header_rewriting_total", "Failed HTTP header rewrites.", counter, "wrew", 1, plain},
	{"connection_attempts_total", "Connection establishment attempts.", counter, "connect", 1, plain},
	{"connection_reuses_total", "Connections reused.", counter, "reuse", 1, plain},
	{"http_cache_lookups_total", "HTTP cache lookups.", counter, "cache_lookups", 1, plain},
	{"http_cache_hits_total", "HTTP cache hits.", counter, "cache_hits", 1, plain},
	{"max_queue_time_seconds", "Highest queue time seen, in seconds.", gauge, "qtime_max", ms, plain},
	{"max_connect_time_seconds", "Highest connect time seen, in seconds.", gauge, "ctime_max", ms, plain},
	{"max_response_time_seconds", "Highest response time seen, in seconds.", gauge, "rtime_max", ms, plain},
	{"max_total_time_seconds", "Highest total session time seen, in seconds.", gauge, "ttime_max", ms, plain},
	{"internal_errors_total", "Internal errors.", counter, "eint", 1, plain},
	{"uweight", "Sum of the user weights of the usable active servers.", gauge, "uweight", 1, plain},
	{"agg_server_status", "Number of the backend's servers in each state.", gauge, "", 1, aggState},
	{"agg_server_check_status", "Number of the backend's servers in each state (deprecated name of agg_server_status).", gauge, "", 1, aggState},
	{"agg_check_status", "Number of the backend's servers with running health checks per last check result; absent for a backend without servers.", gauge, "", 1, aggCheck},
	{"current_session_rate", "New sessions per second over the last second.", gauge, "rate", 1, plain},
	{"req_bytes_in_total", "Request bytes received (HAProxy 3.x).", counter, "reqbin", 1, plain},
	{"req_bytes_out_total", "Request bytes sent (HAProxy 3.x).", counter, "reqbout", 1, plain},
	{"res_bytes_in_total", "Response bytes received (HAProxy 3.x).", counter, "resbin", 1, plain},
	{"res_bytes_out_total", "Response bytes sent (HAProxy 3.x).", counter, "resbout", 1, plain},
	{"info", "The backend's mode (http, tcp) as a label; the value is 1.", gauge, "mode", 1, modeInfo},
}

var serverFamilies = []family{
	{"current_queue", "Requests waiting in the queue for this server.", gauge, "qcur", 1, plain},
	{"max_queue", "Highest queue length seen.", gauge, "qmax", 1, plain},
	{"current_sessions", "Current number of active sessions.", gauge, "scur", 1, plain},
	{"max_sessions", "Highest number of concurrent sessions seen.", gauge, "smax", 1, plain},
	{"limit_sessions", "Configured session limit (maxconn); NaN when unset.", gauge, "slim", 1, nanIfEmpty},
	{"sessions_total", "Total number of sessions.", counter, "stot", 1, plain},
	{"bytes_in_total", "Total bytes received from clients.", counter, "bin", 1, plain},
	{"bytes_out_total", "Total bytes sent to clients.", counter, "bout", 1, plain},
	{"responses_denied_total", "Responses denied by security rules.", counter, "dresp", 1, plain},
	{"connection_errors_total", "Errors while connecting to the server.", counter, "econ", 1, plain},
	{"response_errors_total", "Response errors from the server.", counter, "eresp", 1, plain},
	{"retry_warnings_total", "Connection retries to the server.", counter, "wretr", 1, plain},
	{"redispatch_warnings_total", "Sessions redispatched away from the server.", counter, "wredis", 1, plain},
	{"status", "Current status, one series per state (1 for the current one): DRAIN (agent) is DRAIN, MAINT (via …) is MAINT, no check is UP.", gauge, "status", 1, statusState},
	{"weight", "Effective weight (after slowstart and agent changes).", gauge, "weight", 1, plain},
	{"check_failures_total", "Failed health checks; NaN without checks.", counter, "chkfail", 1, nanIfEmpty},
	{"check_up_down_total", "Transitions between UP and DOWN; NaN without checks.", counter, "chkdown", 1, nanIfEmpty},
	{"check_last_change_seconds", "Seconds since the last state change.", gauge, "lastchg", 1, plain},
	{"downtime_seconds_total", "Total time the server was DOWN, in seconds; NaN without checks.", counter, "downtime", 1, nanIfEmpty},
	{"queue_limit", "Configured queue limit (maxqueue); NaN when unset.", gauge, "qlimit", 1, nanIfEmpty},
	{"current_throttle", "Slowstart throttle in percent; NaN when not throttled.", gauge, "throttle", 1, nanIfEmpty},
	{"loadbalanced_total", "Times the server was selected by load balancing.", counter, "lbtot", 1, plain},
	{"max_session_rate", "Highest number of new sessions per second seen.", gauge, "rate_max", 1, plain},
	{"check_status", "Result of the last health check, one series per result (1 for the current one); absent without checks.", gauge, "check_status", 1, checkState},
	{"check_code", "Layer 5-7 code of the last health check (0 when none); absent without checks.", gauge, "check_code", 1, checkCode},
	{"check_duration_seconds", "Duration of the last health check, in seconds.", gauge, "check_duration", ms, plain},
	{"http_responses_total", "HTTP responses by status class.", counter, "", 1, httpCodes},
	{"client_aborts_total", "Transfers aborted by the client.", counter, "cli_abrt", 1, plain},
	{"server_aborts_total", "Transfers aborted by the server.", counter, "srv_abrt", 1, plain},
	{"last_session_seconds", "Seconds since the last session was assigned; -1 when never.", gauge, "lastsess", 1, plain},
	{"queue_time_average_seconds", "Average queue time over the last 1024 requests, in seconds.", gauge, "qtime", ms, plain},
	{"connect_time_average_seconds", "Average connect time over the last 1024 requests, in seconds.", gauge, "ctime", ms, plain},
	{"response_time_average_seconds", "Average response time over the last 1024 requests, in seconds.", gauge, "rtime", ms, plain},
	{"total_time_average_seconds", "Average total session time over the last 1024 requests, in seconds.", gauge, "ttime", ms, plain},
	{"failed_header_rewriting_total", "Failed HTTP header rewrites.", counter, "wrew", 1, plain},
	{"connection_attempts_total", "Connection establishment attempts.", counter, "connect", 1, plain},
	{"connection_reuses_total", "Connections reused.", counter, "reuse", 1, plain},
	{"idle_connections_current", "Idle connections available for reuse.", gauge, "srv_icur", 1, plain},
	{"idle_connections_limit", "Configured limit on idle connections; NaN when unset.", gauge, "src_ilim", 1, nanIfEmpty},
	{"max_queue_time_seconds", "Highest queue time seen, in seconds.", gauge, "qtime_max", ms, plain},
	{"max_connect_time_seconds", "Highest connect time seen, in seconds.", gauge, "ctime_max", ms, plain},
	{"max_response_time_seconds", "Highest response time seen, in seconds.", gauge, "rtime_max", ms, plain},
	{"max_total_time_seconds", "Highest total session time seen, in seconds.", gauge, "ttime_max", ms, plain},
	{"internal_errors_total", "Internal errors.", counter, "eint", 1, plain},
	{"unsafe_idle_connections_current", "Idle connections that are unsafe to reuse.", gauge, "idle_conn_cur", 1, plain},
	{"safe_idle_connections_current", "Idle connections that are safe to reuse.", gauge, "safe_conn_cur", 1, plain},
	{"used_connections_current", "Connections in use.", gauge, "used_conn_cur", 1, plain},
	{"need_connections_current", "Estimated connections needed.", gauge, "need_conn_est", 1, plain},
	{"uweight", "User weight (set in the config or with set weight).", gauge, "uweight", 1, plain},
	// lbpilot's own: the admin state HAProxy's status column hides for
	// DOWN servers (a drained DOWN server still reads DOWN).
	{"admin_state", "Admin state from show servers state, one series per state (ready, drain, maint; 1 for the current one).", gauge, "", 1, adminState},
	// In promex from HAProxy 3.0 on; 2.6's CSV already has the columns.
	{"current_session_rate", "New sessions per second over the last second.", gauge, "rate", 1, plain},
	{"agent_status", "Result of the last agent check, one series per result (1 for the current one); absent without an agent.", gauge, "agent_status", 1, checkState},
	{"agent_code", "Code reported by the last agent check; absent without an agent.", gauge, "agent_code", 1, plain},
	{"agent_duration_seconds", "Duration of the last agent check, in seconds.", gauge, "agent_duration", ms, plain},
	{"private_idle_connections_current", "Private idle connections (HAProxy 3.x).", gauge, "priv_idle_cur", 1, plain},
	{"req_bytes_in_total", "Request bytes received (HAProxy 3.x).", counter, "reqbin", 1, plain},
	{"req_bytes_out_total", "Request bytes sent (HAProxy 3.x).", counter, "reqbout", 1, plain},
	{"res_bytes_in_total", "Response bytes received (HAProxy 3.x).", counter, "resbin", 1, plain},
	{"res_bytes_out_total", "Response bytes sent (HAProxy 3.x).", counter, "resbout", 1, plain},
	{"http_requests_total", "Total HTTP requests sent to the server.", counter, "req_tot", 1, plain},
	// promex (3.x) renames the act and bck columns for servers.
	{"active", "1 for an active server, 0 for a backup one.", gauge, "act", 1, plain},
	{"backup", "1 for a backup server, 0 for an active one.", gauge, "bck", 1, plain},
	// lbpilot's own: configuration promex does not export.
	{"check_rise", "Consecutive successful health checks that mark the server UP (rise); absent without checks.", gauge, "check_rise", 1, plain},
	{"check_fall", "Consecutive failed health checks that mark the server DOWN (fall); absent without checks.", gauge, "check_fall", 1, plain},
	{"check_health", "Health check level: 0 to fall-1 is DOWN, fall to fall+rise-1 is UP; absent without checks.", gauge, "check_health", 1, plain},
	{"agent_rise", "Agent checks needed to mark the server UP; absent without an agent.", gauge, "agent_rise", 1, plain},
	{"agent_fall", "Agent checks needed to mark the server DOWN; absent without an agent.", gauge, "agent_fall", 1, plain},
	{"agent_health", "Agent check level; absent without an agent.", gauge, "agent_health", 1, plain},
	{"info", "The server's address, port and FQDN (from show servers state) as labels; the value is 1.", gauge, "", 1, serverInfo},
}

// extraServerFamilies are lbpilot's own server families, beyond promex,
// exported only with the extra_server_families option: each costs one or
// more series per server, which at thousands of servers is the difference
// between promex's scrape and a larger one.
var extraServerFamilies = map[string]bool{
	"admin_state": true, "info": true,
	"check_rise": true, "check_fall": true, "check_health": true,
	"agent_rise": true, "agent_fall": true, "agent_health": true,
}

// listenerFamilies are the listener rows of show stat (a frontend with
// `option socket-stats`), labelled proxy and listener as promex does.
var listenerFamilies = []family{
	{"current_sessions", "Current number of active sessions.", gauge, "scur", 1, plain},
	{"max_sessions", "Highest number of concurrent sessions seen.", gauge, "smax", 1, plain},
	{"limit_sessions", "Configured session limit (maxconn); NaN when unset.", gauge, "slim", 1, nanIfEmpty},
	{"sessions_total", "Total number of sessions.", counter, "stot", 1, plain},
	{"bytes_in_total", "Total bytes received from clients.", counter, "bin", 1, plain},
	{"bytes_out_total", "Total bytes sent to clients.", counter, "bout", 1, plain},
	{"requests_denied_total", "Requests denied by security rules.", counter, "dreq", 1, plain},
	{"responses_denied_total", "Responses denied by security rules.", counter, "dresp", 1, plain},
	{"request_errors_total", "Request errors (ereq).", counter, "ereq", 1, plain},
	{"status", "Current status, one series per state (WAITING, OPEN, FULL; 1 for the current one).", gauge, "status", 1, listenerState},
	{"denied_connections_total", "Connections denied by tcp-request connection rules.", counter, "dcon", 1, plain},
	{"denied_sessions_total", "Sessions denied by tcp-request session rules.", counter, "dses", 1, plain},
	{"failed_header_rewriting_total", "Failed HTTP header rewrites.", counter, "wrew", 1, plain},
	{"internal_errors_total", "Internal errors.", counter, "eint", 1, plain},
	{"connections_total", "Total connections accepted (HAProxy 3.x).", counter, "conn_tot", 1, plain},
	{"req_bytes_in_total", "Request bytes received (HAProxy 3.x).", counter, "reqbin", 1, plain},
	{"req_bytes_out_total", "Request bytes sent (HAProxy 3.x).", counter, "reqbout", 1, plain},
	{"res_bytes_in_total", "Response bytes received (HAProxy 3.x).", counter, "resbin", 1, plain},
	{"res_bytes_out_total", "Response bytes sent (HAProxy 3.x).", counter, "resbout", 1, plain},
}

// infoFamilies map `show info` keys to haproxy_process_* families.
var infoFamilies = []struct {
	name, help string
	typ        prometheus.ValueType
	key        string
}{
	{"nbthread", "Number of threads.", gauge, "Nbthread"},
	{"nbproc", "Number of worker processes (always 1 since HAProxy 2.5).", gauge, "Nbproc"},
	{"relative_process_id", "Relative process number of this worker.", gauge, "Process_num"},
	{"uptime_seconds", "Seconds since this worker started.", gauge, "Uptime_sec"},
	{"start_time_seconds", "Start time of this worker, in seconds since the epoch.", gauge, "Start_time_sec"},
	{"pool_failures_total", "Failed memory pool allocations.", counter, "PoolFailed"},
	{"max_memory_bytes", "Memory limit (-m), in bytes; 0 when unlimited.", gauge, "Memmax_bytes"},
	{"pool_allocated_bytes", "Bytes allocated in memory pools.", gauge, "PoolAlloc_bytes"},
	{"pool_used_bytes", "Bytes used in memory pools.", gauge, "PoolUsed_bytes"},
	{"max_fds", "File descriptor limit (ulimit-n).", gauge, "Ulimit-n"},
	{"max_sockets", "Socket limit.", gauge, "Maxsock"},
	{"max_connections", "Connection limit (maxconn).", gauge, "Maxconn"},
	{"hard_max_connections", "Hard connection limit.", gauge, "Hard_maxconn"},
	{"current_connections", "Current connections.", gauge, "CurrConns"},
	{"connections_total", "Total connections accepted.", counter, "CumConns"},
	{"requests_total", "Total HTTP requests.", counter, "CumReq"},
	{"max_ssl_connections", "SSL connection limit.", gauge, "MaxSslConns"},
	{"current_ssl_connections", "Current SSL connections.", gauge, "CurrSslConns"},
	{"ssl_connections_total", "Total SSL connections.", counter, "CumSslConns"},
	{"max_pipes", "Pipe limit.", gauge, "Maxpipes"},
	{"pipes_used_total", "Pipes in use.", counter, "PipesUsed"},
	{"pipes_free_total", "Pipes free.", counter, "PipesFree"},
	{"current_connection_rate", "Connections per second over the last second.", gauge, "ConnRate"},
	{"limit_connection_rate", "Configured connection rate limit.", gauge, "ConnRateLimit"},
	{"max_connection_rate", "Highest connection rate seen.", gauge, "MaxConnRate"},
	{"current_session_rate", "Sessions per second over the last second.", gauge, "SessRate"},
	{"limit_session_rate", "Configured session rate limit.", gauge, "SessRateLimit"},
	{"max_session_rate", "Highest session rate seen.", gauge, "MaxSessRate"},
	{"current_ssl_rate", "SSL sessions per second over the last second.", gauge, "SslRate"},
	{"limit_ssl_rate", "Configured SSL session rate limit.", gauge, "SslRateLimit"},
	{"max_ssl_rate", "Highest SSL session rate seen.", gauge, "MaxSslRate"},
	{"current_frontend_ssl_key_rate", "Frontend SSL key computations per second.", gauge, "SslFrontendKeyRate"},
	{"max_frontend_ssl_key_rate", "Highest frontend SSL key computation rate seen.", gauge, "SslFrontendMaxKeyRate"},
	{"frontend_ssl_reuse", "Frontend SSL session reuse, in percent.", gauge, "SslFrontendSessionReuse_pct"},
	{"current_backend_ssl_key_rate", "Backend SSL key computations per second.", gauge, "SslBackendKeyRate"},
	{"max_backend_ssl_key_rate", "Highest backend SSL key computation rate seen.", gauge, "SslBackendMaxKeyRate"},
	{"ssl_cache_lookups_total", "SSL session cache lookups.", counter, "SslCacheLookups"},
	{"ssl_cache_misses_total", "SSL session cache misses.", counter, "SslCacheMisses"},
	{"http_comp_bytes_in_total", "Compressor input bytes per second.", counter, "CompressBpsIn"},
	{"http_comp_bytes_out_total", "Compressor output bytes per second.", counter, "CompressBpsOut"},
	{"limit_http_comp", "Configured compression rate limit.", gauge, "CompressBpsRateLim"},
	{"current_zlib_memory", "Bytes used by zlib.", gauge, "ZlibMemUsage"},
	{"max_zlib_memory", "zlib memory limit.", gauge, "MaxZlibMemUsage"},
	{"current_tasks", "Current tasks.", gauge, "Tasks"},
	{"current_run_queue", "Tasks in the run queue.", gauge, "Run_queue"},
	{"idle_time_percent", "Idle time of the last second, in percent.", gauge, "Idle_pct"},
	{"stopping", "1 while the worker is stopping.", gauge, "Stopping"},
	{"jobs", "Active jobs (listeners, sessions, …).", gauge, "Jobs"},
	{"unstoppable_jobs", "Jobs that cannot be stopped during a soft stop.", gauge, "Unstoppable Jobs"},
	{"listeners", "Listeners.", gauge, "Listeners"},
	{"active_peers", "Active peers.", gauge, "ActivePeers"},
	{"connected_peers", "Connected peers.", gauge, "ConnectedPeers"},
	{"dropped_logs_total", "Dropped log messages.", counter, "DroppedLogs"},
	{"busy_polling_enabled", "1 when busy polling is enabled.", gauge, "BusyPolling"},
	// HAProxy's exporter names this counter without _total; lbpilot keeps
	// Prometheus naming (promtool refuses the bare name).
	{"failed_resolutions_total", "Failed DNS resolutions.", counter, "FailedResolutions"},
	{"bytes_out_total", "Total bytes sent.", counter, "TotalBytesOut"},
	{"spliced_bytes_out_total", "Total bytes sent with splicing.", counter, "TotalSplicdedBytesOut"},
	{"bytes_out_rate", "Bytes sent over the last second.", gauge, "BytesOutRate"},
	{"recv_logs_total", "Log messages received by log forwarders.", counter, "CumRecvLogs"},
	// In promex from HAProxy 3.x; absent from older show info.
	{"patterns_added_total", "ACL and map entries added (HAProxy 3.x).", counter, "PatternsAdded"},
	{"patterns_freed_total", "ACL and map entries freed (HAProxy 3.x).", counter, "PatternsFreed"},
	{"nb_thread_groups", "Started thread groups (HAProxy 3.x).", gauge, "NbThreadGroups"},
	// promex names it total_warnings; a counter needs the _total suffix.
	{"warnings_total", "Warnings issued (HAProxy 3.x).", counter, "TotalWarnings"},
}

const (
	gauge   = prometheus.GaugeValue
	counter = prometheus.CounterValue
)

// States as HAProxy's exporter labels them.
var (
	frontendStates = []string{"DOWN", "UP"}
	serverStates   = []string{"DOWN", "UP", "MAINT", "DRAIN", "NOLB"}
	checkStates    = []string{"HANA", "SOCKERR", "L4OK", "L4TOUT", "L4CON", "L6OK", "L6TOUT", "L6RSP", "L7TOUT", "L7RSP", "L7OK", "L7OKC", "L7STS", "PROCERR", "PROCTOUT", "PROCOK"}
	httpClasses    = []struct{ code, col string }{{"1xx", "hrsp_1xx"}, {"2xx", "hrsp_2xx"}, {"3xx", "hrsp_3xx"}, {"4xx", "hrsp_4xx"}, {"5xx", "hrsp_5xx"}, {"other", "hrsp_other"}}
	adminStates    = []string{"ready", "drain", "maint"}
	listenerStates = []string{"WAITING", "OPEN", "FULL"}
)
