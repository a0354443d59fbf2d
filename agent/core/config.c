/* SPDX-License-Identifier: MIT */
/* config.c - parses the INI file (inih) and the environment through one declarative key table. */
#include "config.h"
#include "role_list.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <ini.h>
#include <math.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>
#include <arpa/inet.h>

#include "hal.h"
#include "log.h"

/* NOLINTNEXTLINE(bugprone-macro-parentheses): a member designator cannot be parenthesised */
#define OFF(sec, field) offsetof(struct tw_config, sec.field)
#define STR(sec, field) TW_CFG_STR, OFF(sec, field), sizeof(((struct tw_config *)0)->sec.field)
#define NUM(t, sec, field) t, OFF(sec, field), 0

#define MS_S 1000LL
#define MS_MIN (60 * MS_S)
#define MS_H (60 * MS_MIN)
#define MS_D (24 * MS_H)

static const char *const levels[] = {"error", "warn", "info", "debug", NULL};
static const char *const securities[] = {"PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL", NULL};
static const char *const mechanisms[] = {"PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512", NULL};
static const char *const smtp_modes[] = {"starttls", "tls", "plain", NULL};

/* The one table: parsing, "config show", "config save", the errors and the
 * README reference all come from here. Keep it in section order. */
static const struct tw_cfg_key keys[] = {
	{"agent", "name", STR(agent, name), "tickwatch", 0, 0, NULL, 0,
	 "name of this agent in logs, Kafka client ids and the SMTP EHLO: a host name (letters, "
	 "digits, '-', '.') or an address literal such as [192.0.2.1]"},
	{"agent", "log_level", NUM(TW_CFG_ENUM, agent, log_level), "info", 0, 0, levels, TW_CFG_LIVE,
	 "least severe level logged: error, warn, info or debug"},
	{"agent", "board", STR(agent, board), "host", 0, 0, NULL, 0,
	 "board profile this configuration was written for"},
	{"agent", "roles", STR(agent, roles), "all", 0, 0, NULL, 0,
	 "roles to run: a comma list of" TW_ROLE_NAMES " or \"all\""},
	{"agent", "console", STR(agent, console), "-", 0, 0, NULL, 0,
	 "console device: \"-\" for stdin/stdout, \"none\", or a serial device such as /dev/ttyS0"},
	{"agent", "console_baud", NUM(TW_CFG_INT, agent, console_baud), "115200", 9600, 921600, NULL,
	 TW_CFG_BAUD, "baud rate of a serial console"},
	{"agent", "stop_timeout", NUM(TW_CFG_DURATION, agent, stop_timeout_ms), "10s", 0, 5 * MS_MIN,
	 NULL, 0, "on SIGTERM or quit, how long in-flight work may take to finish"},
	{"agent", "state_dir", STR(agent, state_dir), "", 0, 0, NULL, 0,
	 "folder for the agent's own files (empty: none needed)"},

	{"kafka", "bootstrap", STR(kafka, bootstrap), "127.0.0.1:9092", 0, 0, NULL, 0,
	 "comma list of host:port of the Kafka brokers"},
	{"kafka", "security", NUM(TW_CFG_ENUM, kafka, security), "PLAINTEXT", 0, 0, securities, 0,
	 "security.protocol: PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL"},
	{"kafka", "sasl_mechanism", NUM(TW_CFG_ENUM, kafka, sasl_mechanism), "SCRAM-SHA-512", 0, 0,
	 mechanisms, 0, "SASL mechanism: PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512"},
	{"kafka", "username", STR(kafka, username), "", 0, 0, NULL, 0, "SASL user name"},
	{"kafka", "password", STR(kafka, password), "", 0, 0, NULL, TW_CFG_SECRET, "SASL password"},
	{"kafka", "ca_file", STR(kafka, ca_file), "", 0, 0, NULL, 0,
	 "PEM CA bundle that signs the brokers' certificates (SSL, SASL_SSL)"},
	{"kafka", "partitions", NUM(TW_CFG_INT, kafka, partitions), "1", 1, 1000, NULL, 0,
	 "partitions of both topics: the admin role creates them so and grows smaller ones "
	 "(never shrinks); the collectors wake each one (docs/scale.md)"},
	{"kafka", "replication", NUM(TW_CFG_INT, kafka, replication), "3", 1, 16, NULL, 0,
	 "replication factor of the topics the admin role creates"},
	{"kafka", "queue_kbytes", NUM(TW_CFG_INT, kafka, queue_kbytes), "4096", 64, 1048576, NULL, 0,
	 "cap of librdkafka's producer queue and consumer prefetch, KiB"},
	{"kafka", "fetch_max_bytes", NUM(TW_CFG_SIZE, kafka, fetch_max_bytes), "1m", 65536,
	 104857600, NULL, 0, "largest fetch response accepted (fetch.max.bytes)"},
	{"kafka", "report_interval", NUM(TW_CFG_DURATION, kafka, report_interval_ms), "120s",
	 1 * MS_S, 1 * MS_D, NULL, 0, "how often the admin role logs brokers and topic layouts"},

	{"db", "write_url", STR(db, write_url),
	 "postgresql://tickwatch@127.0.0.1:5432/tickwatch", 0, 0, NULL, TW_CFG_URLPASS,
	 "PostgreSQL URL of the command (write) side"},
	{"db", "read_url", STR(db, read_url), "", 0, 0, NULL, TW_CFG_URLPASS,
	 "PostgreSQL URL of the query (read) side; empty: same as write_url"},
	{"db", "connect_timeout", NUM(TW_CFG_DURATION, db, connect_timeout_ms), "10s", 1 * MS_S,
	 5 * MS_MIN, NULL, 0, "time-out of a database connect"},
	{"db", "statement_timeout", NUM(TW_CFG_DURATION, db, statement_timeout_ms), "15s", 100,
	 10 * MS_MIN, NULL, 0, "time-out of one statement"},
	{"db", "retain_sent", NUM(TW_CFG_DURATION, db, retain_sent_ms), "30d", 8 * MS_D,
	 3650 * MS_D, NULL, 0,
	 "sent_notifications rows older than this are pruned; keep it above to-notifier's Kafka "
	 "retention (7 days by default), so no message still on the topic loses its ledger row"},
	{"db", "retain_dead_letters", NUM(TW_CFG_DURATION, db, retain_dead_letters_ms), "90d",
	 1 * MS_D, 3650 * MS_D, NULL, 0, "dead_letters rows older than this are pruned"},
	{"db", "retain_quotes", NUM(TW_CFG_DURATION, db, retain_quotes_ms), "30d", 1 * MS_D,
	 3650 * MS_D, NULL, 0,
	 "quotes older than this (market time) are pruned, except each ticker's latest"},
	{"db", "prune_batch", NUM(TW_CFG_INT, db, prune_batch), "500", 1, 10000, NULL, 0,
	 "rows deleted per prune statement (rpc_requests go after [rpc] request_ttl)"},
	{"db", "prune_interval", NUM(TW_CFG_DURATION, db, prune_interval_ms), "10m", 1 * MS_S,
	 1 * MS_D, NULL, 0, "how often the collector role prunes the tables past retention"},
	{"db", "write_connections", NUM(TW_CFG_INT, db, write_connections), "4", 1, 16, NULL, 0,
	 "write connections of the rpc role's commands, on top of the shared write and read ones"},

	{"smtp", "host", STR(smtp, host), "127.0.0.1", 0, 0, NULL, 0, "SMTP relay host"},
	{"smtp", "port", NUM(TW_CFG_INT, smtp, port), "587", 1, 65535, NULL, 0, "SMTP relay port"},
	{"smtp", "mode", NUM(TW_CFG_ENUM, smtp, mode), "starttls", 0, 0, smtp_modes, 0,
	 "starttls (587), tls (implicit, 465) or plain"},
	{"smtp", "user", STR(smtp, user), "", 0, 0, NULL, 0, "AUTH user name (empty: no AUTH)"},
	{"smtp", "password", STR(smtp, password), "", 0, 0, NULL, TW_CFG_SECRET, "AUTH password"},
	{"smtp", "from", STR(smtp, from), "tickwatch@localhost", 0, 0, NULL, 0,
	 "envelope and header sender address"},
	{"smtp", "ca_file", STR(smtp, ca_file), "/etc/ssl/certs/ca-certificates.crt", 0, 0, NULL, 0,
	 "PEM CA bundle that signs the relay's certificate"},
	{"smtp", "verify", NUM(TW_CFG_BOOL, smtp, verify), "true", 0, 1, NULL, 0,
	 "verify the relay's certificate and host name"},
	{"smtp", "timeout", NUM(TW_CFG_DURATION, smtp, timeout_ms), "30s", 1 * MS_S, 10 * MS_MIN,
	 NULL, 0, "time-out of each SMTP step"},
	{"smtp", "batch_linger", NUM(TW_CFG_DURATION, smtp, batch_linger_ms), "1s", 10, 1 * MS_MIN,
	 NULL, 0, "longest wait for a batch of 10 to fill before it is sent"},
	{"smtp", "breaker_failures", NUM(TW_CFG_INT, smtp, breaker_failures), "3", 1, 1000, NULL, 0,
	 "consecutive failed SMTP sessions that open the relay's circuit breaker"},
	{"smtp", "breaker_recovery", NUM(TW_CFG_DURATION, smtp, breaker_recovery_ms), "30s", 1 * MS_S,
	 1 * MS_D, NULL, 0, "time an open SMTP breaker waits before one trial session"},
	{"smtp", "retry_interval", NUM(TW_CFG_DURATION, smtp, retry_interval_ms), "1m", 1 * MS_S,
	 1 * MS_D, NULL, 0, "wait before the first re-drive of an e-mail deferred by a 4xx (doubling)"},
	{"smtp", "retry_max_interval", NUM(TW_CFG_DURATION, smtp, retry_max_interval_ms), "1h",
	 1 * MS_S, 1 * MS_D, NULL, 0, "longest wait between two re-drives of a deferred e-mail"},
	{"smtp", "max_retry_age", NUM(TW_CFG_DURATION, smtp, max_retry_age_ms), "24h", 1 * MS_S,
	 30 * MS_D, NULL, 0, "a deferred e-mail still failing this long after its first attempt is "
	 "a dead letter"},
	{"smtp", "html", NUM(TW_CFG_BOOL, smtp, html), "false", 0, 1, NULL, 0,
	 "send multipart/alternative: the text and a small HTML part (else text only)"},
	{"smtp", "max_rate", NUM(TW_CFG_INT, smtp, max_rate), "0", 0, 100000, NULL, 0,
	 "most e-mails sent a second (a token bucket; burst: one second's worth, at most one batch "
	 "of 10), for a relay's quota such as Amazon SES's; 0: unlimited"},

	{"quotes", "source", STR(quotes, source), "yahoo", 0, 0, NULL, 0,
	 "quote source: yahoo, stooq, a failover list such as yahoo,stooq, or replay:FILE"},
	{"quotes", "base", STR(quotes, base), "https://query1.finance.yahoo.com", 0, 0, NULL, 0,
	 "base URL of the Yahoo chart API"},
	{"quotes", "ca_file", STR(quotes, ca_file), "/etc/ssl/certs/ca-certificates.crt", 0, 0,
	 NULL, 0, "PEM CA bundle that signs the quote server's certificate"},
	{"quotes", "interval", NUM(TW_CFG_DURATION, quotes, interval_ms), "60s", 1 * MS_S, 1 * MS_D,
	 NULL, 0, "time between two collection cycles"},
	{"quotes", "timeout", NUM(TW_CFG_DURATION, quotes, timeout_ms), "10s", 100, 5 * MS_MIN,
	 NULL, 0, "connect and read time-out of one quote request"},
	{"quotes", "max_age", NUM(TW_CFG_DURATION, quotes, max_age_ms), "7d", 1 * MS_MIN,
	 3650 * MS_D, NULL, 0, "a quote whose market time is older than this is rejected as stale"},
	{"quotes", "breaker_failures", NUM(TW_CFG_INT, quotes, breaker_failures), "3", 1, 1000, NULL,
	 0, "consecutive source failures that open the circuit breaker"},
	{"quotes", "breaker_recovery", NUM(TW_CFG_DURATION, quotes, breaker_recovery_ms), "30s",
	 1 * MS_S, 1 * MS_D, NULL, 0, "time an open breaker waits before one trial request"},
	{"quotes", "cookie_url", STR(quotes, cookie_url), "", 0, 0, NULL, 0,
	 "yahoo: URL whose answer sets the session cookie (empty: / of the base host, as "
	 "yfinance does; or https://fc.yahoo.com)"},
	{"quotes", "crumb", NUM(TW_CFG_BOOL, quotes, crumb), "true", 0, 1, NULL, 0,
	 "yahoo: fetch the cookie and crumb first and add crumb= to each request"},
	{"quotes", "rate", NUM(TW_CFG_INT, quotes, rate), "5", 1, 10000, NULL, 0,
	 "most requests per second to one quote source (token bucket)"},
	{"quotes", "connections", NUM(TW_CFG_INT, quotes, connections), "2", 1, 8, NULL, 0,
	 "keep-alive connections per quote source, fetching in parallel"},
	{"quotes", "stooq_base", STR(quotes, stooq_base), "https://stooq.com", 0, 0, NULL, 0,
	 "base URL of the Stooq CSV quote endpoint"},
	{"quotes", "stooq_map", STR(quotes, stooq_map), "", 0, 0, NULL, 0,
	 "Stooq symbols of tickers: TICKER=symbol,... (others: lower case, .us if no dot)"},
	{"quotes", "shards", NUM(TW_CFG_INT, quotes, shards), "16", 1, 256, NULL, 0,
	 "buckets the tickers are split into across collectors (PostgreSQL advisory locks; the "
	 "same on every agent: docs/scale.md)"},
	{"quotes", "regular_hours_only", NUM(TW_CFG_BOOL, quotes, regular_hours_only), "false", 0, 1,
	 NULL, 0, "yahoo: a quote whose market time is outside its currentTradingPeriod.regular is "
	 "not a new quote (not stored, no wake-up)"},

	{"rpc", "listen", STR(rpc, listen), "127.0.0.1:7070", 0, 0, NULL, 0,
	 "host:port the JSON-RPC server listens on (\"none\": console only)"},
	{"rpc", "token", STR(rpc, token), "", 0, 0, NULL, TW_CFG_SECRET,
	 "token clients must present; required when listen is not loopback"},
	{"rpc", "request_ttl", NUM(TW_CFG_DURATION, rpc, request_ttl_ms), "24h", 1 * MS_MIN,
	 30 * MS_D, NULL, 0, "how long a request id and its answer are kept"},
	{"rpc", "idle_timeout", NUM(TW_CFG_DURATION, rpc, idle_timeout_ms), "5m", 1 * MS_S, 1 * MS_D,
	 NULL, 0, "idle connections are closed after this"},
	{"rpc", "slow_timeout", NUM(TW_CFG_DURATION, rpc, slow_timeout_ms), "10s", 100, 10 * MS_MIN,
	 NULL, 0, "a started request line must arrive, and a response be taken, within this"},
	{"rpc", "tls_cert", STR(rpc, tls_cert), "", 0, 0, NULL, 0,
	 "PEM certificate chain the RPC port serves TLS with (required when listen is not "
	 "loopback; empty: plaintext)"},
	{"rpc", "tls_key", STR(rpc, tls_key), "", 0, 0, NULL, 0,
	 "PEM private key of tls_cert (keep it mode 0600)"},
	{"rpc", "tls_client_ca", STR(rpc, tls_client_ca), "", 0, 0, NULL, 0,
	 "PEM CA bundle: when set, RPC clients must present a certificate it signs"},
	{"rpc", "tls_handshake_timeout", NUM(TW_CFG_DURATION, rpc, tls_handshake_timeout_ms), "10s",
	 100, 5 * MS_MIN, NULL, 0, "a client's TLS handshake must complete within this"},
	{"rpc", "auth_failures", NUM(TW_CFG_INT, rpc, auth_failures), "5", 1, 10000, NULL, 0,
	 "failed authentications from one address within auth_window that ban it"},
	{"rpc", "auth_window", NUM(TW_CFG_DURATION, rpc, auth_window_ms), "1m", 1 * MS_S, 1 * MS_D,
	 NULL, 0, "the window auth_failures are counted in, from an address's first failure"},
	{"rpc", "auth_ban", NUM(TW_CFG_DURATION, rpc, auth_ban_ms), "5m", 1 * MS_S, 30 * MS_D, NULL,
	 0, "how long a banned address's connections are refused"},
	{"rpc", "check_tickers", NUM(TW_CFG_BOOL, rpc, check_tickers), "true", 0, 1, NULL, 0,
	 "user.register and user.update_ticker ask the quote source whether the ticker exists "
	 "(unknown: -32002; source unreachable: accepted, marked unverified)"},

	{"http", "listen", STR(http, listen), "", 0, 0, NULL, 0,
	 "host:port of the operators' HTTP endpoint (/healthz, /metrics); empty: off"},
	{"http", "slots", NUM(TW_CFG_INT, http, slots), "4", 1, 256, NULL, 0,
	 "concurrent HTTP connections (one more gets a 503)"},
	{"http", "timeout", NUM(TW_CFG_DURATION, http, timeout_ms), "10s", 100, 5 * MS_MIN, NULL, 0,
	 "a request must arrive and its answer be taken within this"},
	{"http", "out_kb", NUM(TW_CFG_INT, http, out_kb), "64", 4, 16384, NULL, 0,
	 "largest answer (the /metrics page), KiB per slot"},
	{"http", "public_url", STR(http, public_url), "", 0, 0, NULL, 0,
	 "base URL users reach the http role at (e.g. https://alerts.example.com): e-mails carry "
	 "one-click unsubscribe links to <public_url>/unsubscribe; empty: no links"},

	{"limits", "arena_kb", NUM(TW_CFG_INT, limits, arena_kb), "8192", 64, 1048576, NULL, 0,
	 "size of the one memory arena all buffers are carved from, KiB"},
	{"limits", "log_lines", NUM(TW_CFG_INT, limits, log_lines), "200", 8, 100000, NULL, 0,
	 "log lines kept for the console's log command"},
	{"limits", "log_line_len", NUM(TW_CFG_INT, limits, log_line_len), "256", 64, 512, NULL, 0,
	 "bytes kept of each log line"},
	{"limits", "max_fds", NUM(TW_CFG_INT, limits, max_fds), "64", 8, 256, NULL, 0,
	 "fds the event loop can watch"},
	{"limits", "max_timers", NUM(TW_CFG_INT, limits, max_timers), "64", 8, 4096, NULL, 0,
	 "timers the event loop can hold"},
	{"limits", "console_line", NUM(TW_CFG_INT, limits, console_line), "1024", 128, 1048576, NULL,
	 0, "longest console input line, bytes"},
	{"limits", "console_out_kb", NUM(TW_CFG_INT, limits, console_out_kb), "64", 4, 65536, NULL, 0,
	 "console output buffer, KiB (output beyond it is dropped and counted)"},
	{"limits", "alert_inflight", NUM(TW_CFG_INT, limits, alert_inflight), "512", 16, 1000000,
	 NULL, 0, "alert notifications between their produce and their advance (~300 bytes each)"},
	{"limits", "alert_page", NUM(TW_CFG_INT, limits, alert_page), "1000", 1, 100000, NULL, 0,
	 "users per statement of an alert pass (crossing page, re-arm page, advance batch)"},
	{"limits", "rpc_slots", NUM(TW_CFG_INT, limits, rpc_slots), "32", 1, 4096, NULL, 0,
	 "concurrent RPC connections"},
	{"limits", "rpc_max_line", NUM(TW_CFG_INT, limits, rpc_max_line), "65536", 1024, 16777216,
	 NULL, 0, "longest JSON-RPC request line, bytes"},
	{"limits", "rpc_long_lines", NUM(TW_CFG_INT, limits, rpc_long_lines), "2", 0, 64, NULL, 0,
	 "RPC lines longer than 2 KiB borrow one of this many rpc_max_line buffers"},
	{"limits", "quote_response_kb", NUM(TW_CFG_INT, limits, quote_response_kb), "64", 4, 4096,
	 NULL, 0, "largest quote server response accepted, KiB"},
	{"limits", "tickers", NUM(TW_CFG_INT, limits, tickers), "2048", 1, 1000000, NULL, 0,
	 "distinct tickers the collector fetches per cycle"},
	{"limits", "replay_rows", NUM(TW_CFG_INT, limits, replay_rows), "10000", 1, 1000000, NULL, 0,
	 "quotes a replay:FILE source may hold"},
	{"limits", "smtp_buffer_kb", NUM(TW_CFG_INT, limits, smtp_buffer_kb), "64", 16, 4096, NULL, 0,
	 "SMTP output buffer, KiB: the largest e-mail (headers + encoded body) sent"},
	{"limits", "tls_heap_kb", NUM(TW_CFG_INT, limits, tls_heap_kb), "4096", 256, 1048576, NULL, 0,
	 "Mbed TLS heap carved at start when the board's Mbed TLS uses a static heap, KiB"},
	{"limits", "alerts_per_user", NUM(TW_CFG_INT, limits, alerts_per_user), "20", 1, 1000, NULL,
	 0, "alerts one user may have, the first one (users row) included (alert.add refuses more)"},
};

#define NKEYS (sizeof keys / sizeof keys[0])
_Static_assert(NKEYS <= TW_CFG_MAX_KEYS, "raise TW_CFG_MAX_KEYS");

/* The rates hal/posix/console.c maps to termios speeds: the only ones a tty takes. */
static const int64_t baud_rates[] = {9600, 19200, 38400, 57600, 115200, 230400, 460800, 921600};
#define NBAUD (sizeof baud_rates / sizeof baud_rates[0])

int tw_config_baud_ok(int64_t baud)
{
	for (size_t i = 0; i < NBAUD; i++) {
		if (baud_rates[i] == baud)
			return 1;
	}
	return 0;
}

/* librdkafka's sensitive properties (_RK_SENSITIVE in its rdkafka_conf.c, the ones its
 * CONFIGURATION.md lists as secrets), plus the Java client's sasl.jaas.config that
 * people copy over. Names containing secret, key, password, token, pem or jaas are
 * masked as well (see tw_config_kafka_secret). */
static const char *const kafka_secrets[] = {
	"sasl.password",
	"sasl.oauthbearer.config",
	"sasl.oauthbearer.client.secret",
	"sasl.oauthbearer.assertion.private.key.passphrase",
	"sasl.oauthbearer.assertion.private.key.pem",
	"ssl.key.password",
	"ssl.key.pem",
	"ssl_key",
	"ssl.keystore.password",
	"sasl.jaas.config",
	NULL,
};

static int contains_ci(const char *s, const char *needle)
{
	size_t n = strlen(needle);

	for (; *s; s++) {
		if (strncasecmp(s, needle, n) == 0)
			return 1;
	}
	return 0;
}

int tw_config_kafka_secret(const char *name)
{
	static const char *const words[] = {"secret", "key", "password", "token", "pem", "jaas",
					    "credential", NULL};

	for (size_t i = 0; kafka_secrets[i]; i++) {
		if (strcasecmp(name, kafka_secrets[i]) == 0)
			return 1;
	}
	for (size_t i = 0; words[i]; i++) {
		if (contains_ci(name, words[i]))
			return 1;
	}
	return 0;
}

const struct tw_cfg_key *tw_config_keys(size_t *n)
{
	*n = NKEYS;
	return keys;
}

int tw_config_find(const char *name)
{
	const char *dot = strchr(name, '.');

	if (dot == NULL)
		return -1;
	for (size_t i = 0; i < NKEYS; i++) {
		size_t sl = strlen(keys[i].section);

		if ((size_t)(dot - name) == sl && strncmp(name, keys[i].section, sl) == 0 &&
		    strcmp(dot + 1, keys[i].key) == 0)
			return (int)i;
	}
	return -1;
}

int tw_config_parse_duration(const char *s, int64_t *ms)
{
	char *end;
	double v;
	double mul = MS_S;

	errno = 0;
	v = strtod(s, &end);
	if (end == s || errno || !isfinite(v) || v < 0)
		return TW_ERR_ARG;
	if (*end == '\0' || strcmp(end, "s") == 0)
		mul = MS_S;
	else if (strcmp(end, "ms") == 0)
		mul = 1;
	else if (strcmp(end, "m") == 0)
		mul = MS_MIN;
	else if (strcmp(end, "h") == 0)
		mul = MS_H;
	else if (strcmp(end, "d") == 0)
		mul = MS_D;
	else
		return TW_ERR_ARG;
	if (v * mul > 9.0e15)
		return TW_ERR_ARG;
	*ms = (int64_t)(v * mul + 0.5);
	return TW_OK;
}

static int parse_int(const char *s, int64_t *out)
{
	char *end;
	long long v;

	errno = 0;
	v = strtoll(s, &end, 10);
	if (end == s || *end != '\0' || errno)
		return TW_ERR_ARG;
	*out = v;
	return TW_OK;
}

static int parse_size(const char *s, int64_t *out)
{
	char *end;
	long long v;
	int64_t mul = 1;

	errno = 0;
	v = strtoll(s, &end, 10);
	if (end == s || errno || v < 0)
		return TW_ERR_ARG;
	if (*end == 'k' || *end == 'K')
		mul = 1024;
	else if (*end == 'm' || *end == 'M')
		mul = (int64_t)1024 * 1024;
	else if (*end == 'g' || *end == 'G')
		mul = 1024LL * 1024 * 1024;
	else if (*end != '\0')
		return TW_ERR_ARG;
	if (*end != '\0' && end[1] != '\0' && strcmp(end + 1, "b") != 0 && strcmp(end + 1, "B") != 0)
		return TW_ERR_ARG;
	if (v > INT64_MAX / mul)
		return TW_ERR_ARG;
	*out = v * mul;
	return TW_OK;
}

static void format_duration(int64_t ms, char *out, size_t len)
{
	if (ms % MS_D == 0 && ms)
		snprintf(out, len, "%lldd", (long long)(ms / MS_D));
	else if (ms % MS_H == 0 && ms)
		snprintf(out, len, "%lldh", (long long)(ms / MS_H));
	else if (ms % MS_MIN == 0 && ms)
		snprintf(out, len, "%lldm", (long long)(ms / MS_MIN));
	else if (ms % MS_S == 0)
		snprintf(out, len, "%llds", (long long)(ms / MS_S));
	else
		snprintf(out, len, "%lldms", (long long)ms);
}

/* "what is allowed" for a key, for error messages and the reference. */
void tw_config_allowed(const struct tw_cfg_key *k, char *out, size_t len)
{
	char a[32], b[32];
	size_t o = 0;

	switch (k->type) {
	case TW_CFG_STR:
		snprintf(out, len, "text of at most %zu bytes", k->size - 1);
		break;
	case TW_CFG_INT:
		if (k->flags & TW_CFG_BAUD) {
			out[0] = '\0';
			for (size_t i = 0; i < NBAUD && o + 1 < len; i++) {
				int n = snprintf(out + o, len - o, "%s%lld", i ? ", " : "one of ",
						 (long long)baud_rates[i]);
				if (n < 0)
					break;
				o += (size_t)n;
			}
			break;
		}
		snprintf(out, len, "a whole number from %lld to %lld", (long long)k->min,
			 (long long)k->max);
		break;
	case TW_CFG_SIZE:
		snprintf(out, len, "a size from %lld to %lld bytes (suffix k, m or g allowed)",
			 (long long)k->min, (long long)k->max);
		break;
	case TW_CFG_BOOL:
		snprintf(out, len, "true or false (also yes/no, on/off, 1/0; any case)");
		break;
	case TW_CFG_DURATION:
		format_duration(k->min, a, sizeof a);
		format_duration(k->max, b, sizeof b);
		snprintf(out, len,
			 "a duration from %s to %s: a number and a unit ms, s, m, h or d (500ms, "
			 "1.5s, 2m); a bare number is seconds, as in systemd",
			 a, b);
		break;
	case TW_CFG_ENUM:
		out[0] = '\0';
		for (size_t i = 0; k->choices[i] && o + 1 < len; i++) {
			int n = snprintf(out + o, len - o, "%s%s", i ? ", " : "one of ",
					 k->choices[i]);
			if (n < 0)
				break;
			o += (size_t)n;
		}
		break;
	}
}

/* inih reads lines into INI_MAX_LINE bytes, including CR, LF and NUL. */
#define INI_LINE_LIMIT (INI_MAX_LINE - 3)

/* Whether the line "@p key = @p value" that tw_config_write() writes loads back as @p value:
 * inih strips blanks around a value, takes a ';' first or after a blank as a comment, and reads
 * lines of at most INI_LINE_LIMIT characters. A value taken that fails this would change (or
 * stop the agent) at the next start after "config save". @return 0, or -1 with @p why. */
static int savable(const char *key, const char *v, char *why, size_t whylen)
{
	size_t n = strlen(v);

	if (strlen(key) + 3 + n > INI_LINE_LIMIT) {
		snprintf(why, whylen, "too long to be saved (%zu bytes: a line of the file holds at "
			 "most %d characters, '%s = ' and the value)", n, INI_LINE_LIMIT, key);
		return -1;
	}
	if (n && (v[0] == ' ' || v[0] == '\t' || v[0] == ';' || v[0] == '#' || v[n - 1] == ' ' ||
		  v[n - 1] == '\t' || strstr(v, " ;") || strstr(v, "\t;") || strstr(v, " #") ||
		  strstr(v, "\t#"))) {
		snprintf(why, whylen, "a blank at either end, or a ';' or '#' first or after a blank "
			 "(an inline comment in the file), cannot be saved in the file");
		return -1;
	}
	return 0;
}

/* Parse @p value into the field of @p k. @p savable_only: the value may be written to the file
 * by "config save" (file, console, defaults), so it must load back the same; a value from the
 * environment is never saved and may be longer than a line of the file.
 * @return 0, or an error with the reason in @p why. */
static int set_value(struct tw_config *c, const struct tw_cfg_key *k, const char *value,
		     int savable_only, char *why, size_t whylen)
{
	char *field = (char *)c + k->offset;
	int64_t v = 0;
	int rc = TW_OK;

	switch (k->type) {
	case TW_CFG_STR:
		if (strlen(value) >= k->size) {
			snprintf(why, whylen, "too long (%zu bytes)", strlen(value));
			return TW_ERR_ARG;
		}
		for (const char *p = value; *p; p++) {
			if ((unsigned char)*p < 0x20) {
				snprintf(why, whylen, "control character in value");
				return TW_ERR_ARG;
			}
		}
		if (savable_only && savable(k->key, value, why, whylen) != 0)
			return TW_ERR_ARG;
		memcpy(field, value, strlen(value) + 1);
		/* read_url set from any source (file, environment, console) follows write_url
		 * only when it is set empty */
		if (field == c->db.read_url)
			c->db.read_follows = value[0] == '\0';
		return TW_OK;
	case TW_CFG_INT:
		rc = parse_int(value, &v);
		break;
	case TW_CFG_SIZE:
		rc = parse_size(value, &v);
		break;
	case TW_CFG_DURATION:
		rc = tw_config_parse_duration(value, &v);
		break;
	case TW_CFG_BOOL:
		/* inih's own ini_parse_bool words, in any case (TRUE, Yes, off) */
		if (!strcasecmp(value, "true") || !strcasecmp(value, "yes") ||
		    !strcasecmp(value, "on") || !strcmp(value, "1"))
			v = 1;
		else if (!strcasecmp(value, "false") || !strcasecmp(value, "no") ||
			 !strcasecmp(value, "off") || !strcmp(value, "0"))
			v = 0;
		else
			rc = TW_ERR_ARG;
		break;
	case TW_CFG_ENUM:
		rc = TW_ERR_ARG;
		for (int64_t i = 0; k->choices[i]; i++) {
			if (strcasecmp(value, k->choices[i]) == 0) {
				v = i;
				rc = TW_OK;
			}
		}
		break;
	}
	if (rc != TW_OK) {
		snprintf(why, whylen, "'%s' is not valid", value);
		return rc;
	}
	if ((k->type == TW_CFG_INT || k->type == TW_CFG_SIZE || k->type == TW_CFG_DURATION) &&
	    (v < k->min || v > k->max)) {
		snprintf(why, whylen, "'%s' is out of range", value);
		return TW_ERR_ARG;
	}
	if ((k->flags & TW_CFG_BAUD) && !tw_config_baud_ok(v)) {
		snprintf(why, whylen, "'%s' is not a rate the serial console takes", value);
		return TW_ERR_ARG;
	}
	memcpy(field, &v, sizeof v);
	return TW_OK;
}

void tw_config_defaults(struct tw_config *c, struct tw_cfg_origin *origins)
{
	char why[128];

	memset(c, 0, sizeof *c);
	for (size_t i = 0; i < NKEYS; i++) {
		/* Defaults are checked by the unit tests; a bad one is a build bug. */
		if (set_value(c, &keys[i], keys[i].def, 1, why, sizeof why) != TW_OK)
			abort();
		if (origins)
			memset(&origins[i], 0, sizeof origins[i]);
	}
	/* As after a load: the empty read_url follows write_url (tw_config_check's rule). */
	c->db.read_follows = 1;
	memcpy(c->db.read_url, c->db.write_url, sizeof c->db.read_url);
}

struct parse_ctx {
	struct tw_config *c;
	struct tw_cfg_origin *origins;
	FILE *f;
	const char *path;
	int line;      /* line the reader handed out last */
	int long_line; /* first line that did not fit inih's buffer */
	int failed;
	char *err;
	size_t errlen;
};

/* inih (as Debian builds it) strips an inline comment only after ';'. A '#' preceded by
 * whitespace starts one too, so both are treated alike: it becomes ';' before inih sees
 * the line. A line that begins with '#' or ';' is a whole-line comment either way. */
static void inline_comments(char *s)
{
	for (char *q = s + 1; *q; q++) {
		if (*q == '#' && (q[-1] == ' ' || q[-1] == '\t'))
			*q = ';';
	}
}

static int fail(struct parse_ctx *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* "[agent" with no ']': inih would keep the previous section and report the next key. */
static void check_header(struct parse_ctx *p, const char *s)
{
	const char *b = s, *e;
	size_t n;

	while (*b == ' ' || *b == '\t')
		b++;
	if (*b != '[')
		return;
	e = strchr(b, ']');
	if (e != NULL) {
		const char *c = strchr(b, ';');

		if (c == NULL || c > e)
			return;
	}
	n = strcspn(b, ";\r\n");
	while (n > 1 && (b[n - 1] == ' ' || b[n - 1] == '\t'))
		n--;
	fail(p, "section header '%.*s' is missing ']'", (int)(n > 60 ? 60 : n), b);
}

static char *read_line(char *str, int num, void *stream)
{
	struct parse_ctx *p = stream;
	char *s = fgets(str, num, p->f);

	if (s == NULL)
		return NULL;
	p->line++;
	if (strchr(s, '\n') == NULL && !feof(p->f)) {
		int ch;

		if (!p->long_line)
			p->long_line = p->line;
		while ((ch = fgetc(p->f)) != EOF && ch != '\n')
			;
	}
	inline_comments(s);
	check_header(p, s);
	return s;
}

/* Record the first error with its file and line. @return 0 (inih: stop this entry). */
static int fail(struct parse_ctx *p, const char *fmt, ...)
{
	va_list ap;

	if (!p->failed) {
		int n = snprintf(p->err, p->errlen, "%s:%d: ", p->path, p->line);

		if (n > 0 && (size_t)n < p->errlen) {
			va_start(ap, fmt);
			vsnprintf(p->err + n, p->errlen - (size_t)n, fmt, ap);
			va_end(ap);
		}
		p->failed = 1;
	}
	return 0;
}

static int known_section(const char *s)
{
	for (size_t i = 0; i < NKEYS; i++) {
		if (strcmp(keys[i].section, s) == 0)
			return 1;
	}
	return 0;
}

static void section_keys(const char *section, char *out, size_t len)
{
	size_t o = 0;

	out[0] = '\0';
	for (size_t i = 0; i < NKEYS && o + 1 < len; i++) {
		if (strcmp(keys[i].section, section) == 0) {
			int n = snprintf(out + o, len - o, "%s%s", o ? ", " : "", keys[i].key);

			if (n < 0)
				break;
			o += (size_t)n;
		}
	}
}

static int add_kafka_extra(struct parse_ctx *p, const char *name, const char *value)
{
	struct tw_config *c = p->c;

	for (size_t i = 0; i < c->kafka.nextra; i++) {
		if (strcmp(c->kafka.extra[i].key, name) == 0) {
			char first[16];

			snprintf(first, sizeof first, "%d", c->kafka.extra[i].line);
			return fail(p, "[kafka] %s: set twice (first at line %s)", name, first);
		}
	}
	if (c->kafka.nextra == TW_CFG_KAFKA_EXTRA_MAX)
		return fail(p, "[kafka] %s: too many librdkafka properties (at most %d)", name,
			    TW_CFG_KAFKA_EXTRA_MAX);
	if (strlen(name) >= sizeof c->kafka.extra[0].key ||
	    strlen(value) >= sizeof c->kafka.extra[0].value)
		return fail(p, "[kafka] %s: name or value too long (name < 64, value < 256 bytes)",
			    name);
	{
		char why[160];

		if (savable(name, value, why, sizeof why) != 0)
			return fail(p, "[kafka] %s: %s", name, why);
	}
	strcpy(c->kafka.extra[c->kafka.nextra].key, name);
	strcpy(c->kafka.extra[c->kafka.nextra].value, value);
	c->kafka.extra[c->kafka.nextra].line = p->line;
	c->kafka.nextra++;
	return 1;
}

static int on_entry(void *user, const char *section, const char *name, const char *value)
{
	struct parse_ctx *p = user;
	char full[160], why[160], allow[256];
	int idx;

	if (p->failed)
		return 0;
	if (p->long_line == p->line)
		return fail(p, "line too long (at most %d characters)", INI_LINE_LIMIT);
	if (!known_section(section))
		return fail(p, "unknown section [%s] (sections: agent, kafka, db, smtp, quotes, rpc, "
			       "http, limits)",
			    section);
	snprintf(full, sizeof full, "%s.%s", section, name);
	idx = tw_config_find(full);
	if (idx < 0) {
		/* librdkafka's own properties all contain a dot; ours never do. */
		if (strcmp(section, "kafka") == 0 && strchr(name, '.'))
			return add_kafka_extra(p, name, value);
		section_keys(section, allow, sizeof allow);
		return fail(p, "[%s] unknown key '%s' (known: %s)", section, name, allow);
	}
	if (p->origins && p->origins[idx].line > 0 &&
	    strcmp(p->origins[idx].file, p->path) == 0) {
		char first[16];

		snprintf(first, sizeof first, "%d", p->origins[idx].line);
		return fail(p, "[%s] %s: set twice (first at line %s)", section, name, first);
	}
	if (set_value(p->c, &keys[idx], value, 1, why, sizeof why) != TW_OK) {
		char msg[sizeof why + sizeof allow + 16];

		tw_config_allowed(&keys[idx], allow, sizeof allow);
		if (keys[idx].flags & TW_CFG_SECRET)
			snprintf(why, sizeof why, "value is not valid");
		snprintf(msg, sizeof msg, "%s (allowed: %s)", why, allow);
		return fail(p, "[%s] %s: %s", section, name, msg);
	}
	if (p->origins) {
		snprintf(p->origins[idx].file, sizeof p->origins[idx].file, "%s", p->path);
		p->origins[idx].line = p->line;
	}
	return 1;
}

static int load_file(struct parse_ctx *p)
{
	int rc;

	p->f = fopen(p->path, "r");
	if (p->f == NULL) {
		snprintf(p->err, p->errlen, "%s: cannot open: %s", p->path, strerror(errno));
		return TW_ERR_IO;
	}
	rc = ini_parse_stream(read_line, p, on_entry, p);
	fclose(p->f);
	p->f = NULL;
	if (p->long_line && !p->failed) {
		snprintf(p->err, p->errlen, "%s:%d: line too long (at most %d characters)", p->path,
			 p->long_line, INI_LINE_LIMIT);
		return TW_ERR_ARG;
	}
	if (rc > 0 && !p->failed) {
		snprintf(p->err, p->errlen,
			 "%s:%d: syntax error: expected '[section]', 'key = value' or a comment",
			 p->path, rc);
		return TW_ERR_ARG;
	}
	return p->failed ? TW_ERR_ARG : TW_OK;
}

static int load_env(struct tw_config *c, struct tw_cfg_origin *origins, char *const *envp,
		    char *err, size_t errlen)
{
	char name[96], why[160], allow[256];

	for (char *const *e = envp; *e; e++) {
		const char *eq = strchr(*e, '=');
		int found = 0;

		if (strncmp(*e, "TICKWATCH_", 10) != 0 || eq == NULL)
			continue;
		for (size_t i = 0; i < NKEYS; i++) {
			size_t o = (size_t)snprintf(name, sizeof name, "TICKWATCH_%s_%s",
						    keys[i].section, keys[i].key);

			for (size_t j = 0; j < o; j++)
				name[j] = (char)toupper((unsigned char)name[j]);
			if ((size_t)(eq - *e) != o || strncmp(*e, name, o) != 0)
				continue;
			found = 1;
			if (set_value(c, &keys[i], eq + 1, 0, why, sizeof why) != TW_OK) {
				tw_config_allowed(&keys[i], allow, sizeof allow);
				if (keys[i].flags & TW_CFG_SECRET)
					snprintf(why, sizeof why, "value is not valid");
				snprintf(err, errlen, "environment %s: %s (allowed: %s)", name, why,
					 allow);
				return TW_ERR_ARG;
			}
			if (origins) {
				snprintf(origins[i].file, sizeof origins[i].file, "%s", name);
				origins[i].line = -1;
			}
		}
		if (!found && strncmp(*e, "TICKWATCH_CONFIG=", 17) != 0)
			tw_log(TW_LOG_WARN, "config", "ignoring unknown variable %.*s", (int)(eq - *e),
			       *e);
	}
	return TW_OK;
}

int tw_config_load(struct tw_config *c, struct tw_cfg_origin *origins, const char *path,
		   char *const *envp, char *err, size_t errlen)
{
	struct parse_ctx p;
	int rc;

	tw_config_defaults(c, origins);
	if (path) {
		memset(&p, 0, sizeof p);
		p.c = c;
		p.origins = origins;
		p.path = path;
		p.err = err;
		p.errlen = errlen;
		rc = load_file(&p);
		if (rc != TW_OK)
			return rc;
	}
	if (envp) {
		rc = load_env(c, origins, envp, err, errlen);
		if (rc != TW_OK)
			return rc;
	}
	rc = tw_config_check(c, err, errlen);
	if (rc != TW_OK && path) {
		/* Name the file the rule was broken in. */
		char tmp[TW_CFG_ERR_LEN];

		snprintf(tmp, sizeof tmp, "%s", err);
		snprintf(err, errlen, "%s: %s", path, tmp);
	}
	return rc;
}

int tw_config_is_loopback(const char *hostport)
{
	char host[128];
	const char *colon;
	size_t n;
	struct in_addr a4;
	struct in6_addr a6;

	if (hostport[0] == '[') {
		const char *end = strchr(hostport, ']');

		n = end ? (size_t)(end - hostport - 1) : 0;
		hostport++;
	} else {
		colon = strrchr(hostport, ':');
		n = colon ? (size_t)(colon - hostport) : strlen(hostport);
		if (colon && memchr(hostport, ':', n))
			n = strlen(hostport); /* a bare IPv6 address without a port */
	}
	if (n == 0 || n >= sizeof host)
		return 0;
	memcpy(host, hostport, n);
	host[n] = '\0';
	/* Decided on the parsed address, never on how the text begins: "127.evil.example"
	 * is a DNS name that may resolve anywhere. The only name taken is "localhost",
	 * which RFC 6761 reserves for the loopback interface. */
	if (strcasecmp(host, "localhost") == 0)
		return 1;
	if (inet_pton(AF_INET, host, &a4) == 1)
		return (ntohl(a4.s_addr) >> 24) == 127;
	if (inet_pton(AF_INET6, host, &a6) == 1)
		return IN6_IS_ADDR_LOOPBACK(&a6) ||
		       (IN6_IS_ADDR_V4MAPPED(&a6) && a6.s6_addr[12] == 127);
	return 0;
}

/* A domain (LDH labels of 1..63, dots between) or an address literal [IPv4] / [IPv6:...],
 * what RFC 5321 allows after EHLO. */
static int valid_ehlo(const char *s)
{
	size_t n = strlen(s);

	if (n == 0)
		return 0;
	if (s[0] == '[') {
		char lit[64];
		struct in_addr a4;
		struct in6_addr a6;

		if (n < 3 || s[n - 1] != ']' || n - 2 >= sizeof lit)
			return 0;
		memcpy(lit, s + 1, n - 2);
		lit[n - 2] = '\0';
		if (strncasecmp(lit, "IPv6:", 5) == 0)
			return inet_pton(AF_INET6, lit + 5, &a6) == 1;
		return inet_pton(AF_INET, lit, &a4) == 1;
	}
	for (const char *label = s, *p = s;; p++) {
		if (*p == '.' || *p == '\0') {
			size_t l = (size_t)(p - label);

			if (l == 0 || l > 63 || label[0] == '-' || p[-1] == '-')
				return 0;
			if (*p == '\0')
				return 1;
			label = p + 1;
		} else if (!isalnum((unsigned char)*p) && *p != '-') {
			return 0;
		}
	}
}

/* Visible ASCII only (0x21..0x7e): what a link in a mail header may hold. */
static int printable_ascii(const char *s)
{
	for (; *s; s++) {
		if ((unsigned char)*s <= 0x20 || (unsigned char)*s >= 0x7f)
			return 0;
	}
	return 1;
}

static int split_hostport(const char *s, int allow_none)
{
	const char *colon = strrchr(s, ':');
	char *end;
	long port;

	if (allow_none && strcmp(s, "none") == 0)
		return 0;
	if (colon == NULL || colon == s)
		return -1;
	errno = 0;
	port = strtol(colon + 1, &end, 10);
	return (*end == '\0' && !errno && port > 0 && port <= 65535) ? 0 : -1;
}

static int valid_pg_url(const char *u)
{
	return strncmp(u, "postgresql://", 13) == 0 || strncmp(u, "postgres://", 11) == 0;
}

/* [quotes] source: replay:FILE, or one or two distinct names of yahoo, stooq, comma-separated. */
int tw_config_check_sources(const char *v)
{
	const char *p = v;
	int n = 0, seen[2] = {0, 0};

	if (strncmp(v, "replay:", 7) == 0)
		return v[7] != '\0' ? 0 : -1;
	for (;;) {
		size_t l = strcspn(p, ",");
		int k = (l == 5 && strncmp(p, "yahoo", 5) == 0)   ? 0
			: (l == 5 && strncmp(p, "stooq", 5) == 0) ? 1
								  : -1;

		if (k < 0 || seen[k] || ++n > 2)
			return -1;
		seen[k] = 1;
		if (p[l] == '\0')
			return 0;
		p += l + 1;
	}
}

int tw_config_check(struct tw_config *c, char *err, size_t errlen)
{
	char *tok, *save = NULL, roles[sizeof c->agent.roles];
#define TW_ROLE_NAME_STR(name) #name,
	static const char *const role_names[] = {TW_ROLE_LIST(TW_ROLE_NAME_STR)};
#undef TW_ROLE_NAME_STR

	/* An empty read_url follows write_url, also after a "config set db.write_url". */
	if (c->db.read_url[0] == '\0')
		c->db.read_follows = 1;
	if (c->db.read_follows)
		memcpy(c->db.read_url, c->db.write_url, sizeof c->db.read_url);
	if (strlen(c->agent.name) > TW_AGENT_NAME_MAX) {
		snprintf(err, errlen, "[agent] name: '%.64s' is longer than %d characters: the "
			 "delivery ledger tells agents apart by it (docs/scale.md)", c->agent.name,
			 TW_AGENT_NAME_MAX);
		return TW_ERR_ARG;
	}
	if (!valid_ehlo(c->agent.name)) {
		snprintf(err, errlen,
			 "[agent] name: '%.64s' is not a host name (letters, digits, '-' and '.') "
			 "or an address literal such as [192.0.2.1]: it is sent as the SMTP EHLO",
			 c->agent.name);
		return TW_ERR_ARG;
	}
	if (!valid_pg_url(c->db.write_url) || !valid_pg_url(c->db.read_url)) {
		snprintf(err, errlen,
			 "[db] write_url/read_url: must be postgresql://user[:password]@host[:port]/db");
		return TW_ERR_ARG;
	}
	if (split_hostport(c->rpc.listen, 1) != 0) {
		snprintf(err, errlen, "[rpc] listen: '%s' is not host:port or none",
			 c->rpc.listen);
		return TW_ERR_ARG;
	}
	if (c->http.public_url[0] && ((strncmp(c->http.public_url, "https://", 8) != 0 &&
					strncmp(c->http.public_url, "http://", 7) != 0) ||
				       strpbrk(c->http.public_url, "\"<>?#") != NULL ||
				       !printable_ascii(c->http.public_url))) {
		snprintf(err, errlen, "[http] public_url: '%s' is not an http(s):// base URL "
			 "(visible ASCII only: an IDN host in its xn-- form; no quotes, <, >, ? or #)",
			 c->http.public_url);
		return TW_ERR_ARG;
	}
	if (c->http.listen[0] && split_hostport(c->http.listen, 0) != 0) {
		snprintf(err, errlen, "[http] listen: '%s' is not host:port (empty: off)",
			 c->http.listen);
		return TW_ERR_ARG;
	}
	if (strcmp(c->rpc.listen, "none") != 0 && !tw_config_is_loopback(c->rpc.listen) &&
	    c->rpc.token[0] == '\0') {
		snprintf(err, errlen,
			 "[rpc] token: required when [rpc] listen (%s) is not a loopback address",
			 c->rpc.listen);
		return TW_ERR_ARG;
	}
	if ((c->kafka.security == TW_KAFKA_SASL_SSL || c->kafka.security == TW_KAFKA_SASL_PLAINTEXT) &&
	    (c->kafka.username[0] == '\0' || c->kafka.password[0] == '\0')) {
		snprintf(err, errlen, "[kafka] username/password: required with security = %s",
			 securities[c->kafka.security]);
		return TW_ERR_ARG;
	}
	if (c->smtp.user[0] && c->smtp.password[0] == '\0') {
		snprintf(err, errlen, "[smtp] password: required when [smtp] user is set");
		return TW_ERR_ARG;
	}
	if (c->smtp.mode == TW_SMTP_PLAIN && c->smtp.user[0] &&
	    !tw_config_is_loopback(c->smtp.host)) {
		snprintf(err, errlen,
			 "[smtp] mode: plain would send the password in clear to %s; use starttls "
			 "or tls",
			 c->smtp.host);
		return TW_ERR_ARG;
	}
	if (tw_config_check_sources(c->quotes.source) != 0) {
		snprintf(err, errlen, "[quotes] source: '%s' is not replay:FILE or a list of up to "
			 "two of yahoo, stooq (e.g. yahoo,stooq)", c->quotes.source);
		return TW_ERR_ARG;
	}
	if (strncmp(c->quotes.base, "https://", 8) != 0 && strncmp(c->quotes.base, "http://", 7) != 0) {
		snprintf(err, errlen, "[quotes] base: '%s' is not an http(s):// URL", c->quotes.base);
		return TW_ERR_ARG;
	}
	if (c->kafka.bootstrap[0] == '\0') {
		snprintf(err, errlen, "[kafka] bootstrap: must list at least one host:port");
		return TW_ERR_ARG;
	}
	memcpy(roles, c->agent.roles, sizeof roles);
	if (strspn(roles, ", \t") == strlen(roles)) {
		snprintf(err, errlen,
			 "[agent] roles: names no role (give a comma list of" TW_ROLE_NAMES
			 " or all)");
		return TW_ERR_ARG;
	}
	if (strcmp(roles, "all") != 0) {
		for (tok = strtok_r(roles, ", ", &save); tok; tok = strtok_r(NULL, ", ", &save)) {
			size_t i;

			for (i = 0; i < sizeof role_names / sizeof role_names[0]; i++) {
				if (strcmp(tok, role_names[i]) == 0)
					break;
			}
			if (i == sizeof role_names / sizeof role_names[0]) {
				snprintf(err, errlen,
					 "[agent] roles: unknown role '%s' (allowed: a comma list of"
					 TW_ROLE_NAMES " or all)",
					 tok);
				return TW_ERR_ARG;
			}
		}
	}
	int64_t ring_bytes = c->limits.log_line_len * c->limits.log_lines;

	if (ring_bytes > c->limits.arena_kb * 1024 / 2) {
		snprintf(err, errlen,
			 "[limits] log_lines x log_line_len (%lld bytes) must fit in half of "
			 "arena_kb (%lld KiB)",
			 (long long)ring_bytes, (long long)c->limits.arena_kb);
		return TW_ERR_ARG;
	}
	return TW_OK;
}

/* "config set kafka.<property> VALUE": a librdkafka property, checked by librdkafka itself
 * when the agent builds its clients (the console runs that check before taking it). */
static int set_kafka_extra(struct tw_config *c, const char *key, const char *value, char *err,
			   size_t errlen)
{
	size_t i;

	if (strlen(key) >= sizeof c->kafka.extra[0].key ||
	    strlen(value) >= sizeof c->kafka.extra[0].value) {
		snprintf(err, errlen, "kafka.%.64s: name or value too long (name < 64, value < 256 bytes)",
			 key);
		return TW_ERR_ARG;
	}
	for (const char *q = key; *q; q++) {
		if (!((*q >= 'a' && *q <= 'z') || (*q >= 'A' && *q <= 'Z') || (*q >= '0' && *q <= '9') ||
		      *q == '.' || *q == '_' || *q == '-')) {
			snprintf(err, errlen, "kafka.%.64s: a librdkafka property name holds only "
				 "letters, digits, '.', '_' and '-'", key);
			return TW_ERR_ARG;
		}
	}
	for (const char *q = value; *q; q++) {
		if ((unsigned char)*q < 0x20) {
			snprintf(err, errlen, "kafka.%.64s: control character in value", key);
			return TW_ERR_ARG;
		}
	}
	{
		char why[160];

		/* config save writes it into the file: it must load back the same */
		if (savable(key, value, why, sizeof why) != 0) {
			snprintf(err, errlen, "kafka.%.64s: %.160s", key, why);
			return TW_ERR_ARG;
		}
	}
	for (i = 0; i < c->kafka.nextra; i++) {
		if (strcmp(c->kafka.extra[i].key, key) == 0)
			break;
	}
	if (i == TW_CFG_KAFKA_EXTRA_MAX) {
		snprintf(err, errlen, "kafka.%.64s: too many librdkafka properties (at most %d)", key,
			 TW_CFG_KAFKA_EXTRA_MAX);
		return TW_ERR_ARG;
	}
	if (i == c->kafka.nextra) {
		c->kafka.nextra++;
		memcpy(c->kafka.extra[i].key, key, strlen(key) + 1);
	}
	memcpy(c->kafka.extra[i].value, value, strlen(value) + 1);
	c->kafka.extra[i].line = -2;
	return 0;
}

int tw_config_set(struct tw_config *c, struct tw_cfg_origin *origins, const char *name,
		  const char *value, char *err, size_t errlen)
{
	struct tw_config trial;
	char why[160], allow[256];
	int idx = tw_config_find(name);

	if (idx < 0 && strncmp(name, "kafka.", 6) == 0 && strchr(name + 6, '.'))
		return set_kafka_extra(c, name + 6, value, err, errlen);
	if (idx < 0) {
		snprintf(err, errlen, "unknown key '%s' (use section.key, see 'config show')", name);
		return TW_ERR_ARG;
	}
	/* Validate on a copy, so a value that breaks a cross-key rule changes nothing. */
	memcpy(&trial, c, sizeof trial);
	if (strcmp(name, "db.read_url") == 0)
		trial.db.read_follows = value[0] == '\0';
	if (set_value(&trial, &keys[idx], value, 1, why, sizeof why) != TW_OK) {
		tw_config_allowed(&keys[idx], allow, sizeof allow);
		if (keys[idx].flags & TW_CFG_SECRET)
			snprintf(why, sizeof why, "value is not valid");
		snprintf(err, errlen, "%s: %s (allowed: %s)", name, why, allow);
		return TW_ERR_ARG;
	}
	if (tw_config_check(&trial, err, errlen) != TW_OK)
		return TW_ERR_ARG;
	memcpy(c, &trial, sizeof trial);
	if (origins) {
		snprintf(origins[idx].file, sizeof origins[idx].file, "console");
		origins[idx].line = -2;
	}
	return (keys[idx].flags & TW_CFG_LIVE) ? 1 : 0;
}

char *tw_config_format(const struct tw_config *c, const struct tw_cfg_key *k, char *out,
		       size_t len, int reveal)
{
	const char *field = (const char *)c + k->offset;
	int64_t v;

	if (k->type == TW_CFG_STR) {
		/* A read_url that follows write_url is configured empty (its effective value is
		 * write_url): shown, written and saved as such, never pinned. */
		if (c->db.read_follows && field == c->db.read_url)
			snprintf(out, len, "%s", "");
		else if ((k->flags & TW_CFG_SECRET) && !reveal)
			snprintf(out, len, "%s", field[0] ? "***" : "");
		else if ((k->flags & TW_CFG_URLPASS) && !reveal)
			tw_log_redact(field, out, len);
		else
			snprintf(out, len, "%s", field);
		return out;
	}
	memcpy(&v, field, sizeof v);
	switch (k->type) {
	case TW_CFG_BOOL:
		snprintf(out, len, "%s", v ? "true" : "false");
		break;
	case TW_CFG_ENUM:
		snprintf(out, len, "%s", k->choices[v]);
		break;
	case TW_CFG_DURATION:
		format_duration(v, out, len);
		break;
	default:
		snprintf(out, len, "%lld", (long long)v);
		break;
	}
	return out;
}

void tw_config_write(const struct tw_config *c, FILE *f)
{
	const char *section = "";
	char val[600];

	fprintf(f, "; tickwatch configuration. Every key, its default and its bounds: README.md.\n");
	for (size_t i = 0; i < NKEYS; i++) {
		if (strcmp(section, keys[i].section) != 0) {
			section = keys[i].section;
			fprintf(f, "\n[%s]\n", section);
			if (strcmp(section, "kafka") == 0) {
				for (size_t j = 0; j < c->kafka.nextra; j++)
					fprintf(f, "%s = %s\n", c->kafka.extra[j].key,
						c->kafka.extra[j].value);
			}
		}
		fprintf(f, "; %s\n%s = %s\n", keys[i].help, keys[i].key,
			tw_config_format(c, &keys[i], val, sizeof val, 1));
	}
}

/* ---- config save: the user's file, edited in place ---- */

static const char *const sections[] = {"agent", "kafka", "db", "smtp", "quotes", "rpc", "http",
					    "limits"};
#define NSECTIONS (sizeof sections / sizeof sections[0])
#define SAVE_LINE 1024 /* lines longer than this are copied through, never edited */

struct save_ctx {
	const struct tw_config *c;
	const struct tw_cfg_origin *origins;
	/* one item space: key i is i, librdkafka property j is TW_CFG_MAX_KEYS + j */
	unsigned char done[TW_CFG_MAX_KEYS + TW_CFG_KAFKA_EXTRA_MAX];
	int last_line[NSECTIONS]; /* last key (or header) line of each section in the file */
	FILE *out;
	int ends_nl; /* the output so far ends with a newline (or is empty) */
};

static int section_index(const char *name, size_t n)
{
	for (size_t i = 0; i < NSECTIONS; i++) {
		if (strlen(sections[i]) == n && strncmp(sections[i], name, n) == 0)
			return (int)i;
	}
	return -1;
}

/* What a line is: -1 other (comment, blank, junk); -2 a header (section in *sec);
 * else the offset of the key separator, the key in [*kb, *ke). */
static int classify(const char *line, int *sec, const char **kb, const char **ke)
{
	const char *b = line, *sep, *e;

	while (*b == ' ' || *b == '\t')
		b++;
	if (*b == '\0' || *b == '\n' || *b == '\r' || *b == ';' || *b == '#')
		return -1;
	if (*b == '[') {
		e = strchr(b, ']');
		if (e == NULL)
			return -1;
		b++;
		while (*b == ' ' || *b == '\t')
			b++;
		while (e > b && (e[-1] == ' ' || e[-1] == '\t'))
			e--;
		*sec = section_index(b, (size_t)(e - b));
		return -2;
	}
	sep = b + strcspn(b, "=:");
	if (*sep == '\0')
		return -1;
	e = sep;
	while (e > b && (e[-1] == ' ' || e[-1] == '\t'))
		e--;
	*kb = b;
	*ke = e;
	return (int)(sep - line);
}

#define EXTRA TW_CFG_MAX_KEYS /* first item number of the librdkafka properties */

/* The console-set item of section @p sec named [kb, ke): a key index, or EXTRA + property index. */
static int console_item(const struct save_ctx *x, int sec, const char *kb, const char *ke)
{
	size_t n = (size_t)(ke - kb);

	if (sec < 0)
		return -1;
	for (size_t i = 0; i < NKEYS; i++) {
		if (strcmp(keys[i].section, sections[sec]) == 0 && strlen(keys[i].key) == n &&
		    strncmp(keys[i].key, kb, n) == 0)
			return x->origins[i].line == -2 ? (int)i : -1;
	}
	if (strcmp(sections[sec], "kafka") != 0)
		return -1;
	for (size_t i = 0; i < x->c->kafka.nextra; i++) {
		if (strlen(x->c->kafka.extra[i].key) == n &&
		    strncmp(x->c->kafka.extra[i].key, kb, n) == 0)
			return x->c->kafka.extra[i].line == -2 ? EXTRA + (int)i : -1;
	}
	return -1;
}

static const char *item_value(const struct save_ctx *x, int item, char *buf, size_t len)
{
	if ((size_t)item >= NKEYS) /* a property: EXTRA + j */
		return x->c->kafka.extra[item - EXTRA].value;
	return tw_config_format(x->c, &keys[item], buf, len, 1);
}

static const char *item_name(const struct save_ctx *x, int item)
{
	if ((size_t)item >= NKEYS) /* a property: EXTRA + j */
		return x->c->kafka.extra[item - EXTRA].key;
	return keys[item].key;
}

/* Whether console-set item @p item belongs in section @p sec. */
static int item_in(const struct save_ctx *x, int item, int sec)
{
	if ((size_t)item >= NKEYS) /* a property: EXTRA + j */
		return sec == 1 && x->c->kafka.extra[item - EXTRA].line == -2;
	return strcmp(keys[item].section, sections[sec]) == 0 && x->origins[item].line == -2;
}

static void put(struct save_ctx *x, const char *s, size_t n)
{
	if (n == 0)
		return;
	fwrite(s, 1, n, x->out);
	x->ends_nl = s[n - 1] == '\n';
}

/* Append "key = value" for every console-set item of @p sec not written yet. */
static void append_section(struct save_ctx *x, int sec, int with_header)
{
	char val[600];
	int header = with_header;

	for (size_t i = 0; i < NKEYS + x->c->kafka.nextra; i++) {
		int item = i < NKEYS ? (int)i : EXTRA + (int)(i - NKEYS);

		if (!item_in(x, item, sec) || x->done[item])
			continue;
		if (!x->ends_nl)
			put(x, "\n", 1);
		if (header) {
			fprintf(x->out, "\n[%s]\n", sections[sec]);
			header = 0;
		}
		const char *v = item_value(x, item, val, sizeof val);

		fprintf(x->out, "%s =%s%s\n", item_name(x, item), v[0] ? " " : "", v);
		x->ends_nl = 1;
		x->done[item] = 1;
	}
}

/* A value the file could not hold as it is: inih would strip or cut it. */
static int unsavable(const char *v)
{
	size_t n = strlen(v);

	if (n && (v[0] == ' ' || v[0] == '\t' || v[n - 1] == ' ' || v[n - 1] == '\t'))
		return 1;
	for (size_t i = 1; i < n; i++) {
		if ((v[i] == ';' || v[i] == '#') && (v[i - 1] == ' ' || v[i - 1] == '\t'))
			return 1;
	}
	return 0;
}

/* Write the edited copy of @p in (may be NULL: no file yet) to x->out. */
static void save_copy(struct save_ctx *x, FILE *in)
{
	char line[SAVE_LINE], val[600];
	int lineno = 0, sec = -1, midline = 0, seen[NSECTIONS] = {0};

	/* pass 1: where each section's last key line is */
	for (size_t i = 0; i < NSECTIONS; i++)
		x->last_line[i] = 0;
	while (in && fgets(line, sizeof line, in)) {
		const char *kb, *ke;
		int whole = strchr(line, '\n') != NULL, k;

		if (!midline) {
			lineno++;
			k = classify(line, &sec, &kb, &ke);
			/* a header counts until the section's first key line */
			if (sec >= 0 && (k >= 0 || (k == -2 && x->last_line[sec] == 0)))
				x->last_line[sec] = lineno;
		}
		midline = !whole;
	}
	if (in)
		rewind(in);
	/* pass 2: copy, replacing the values set from the console */
	lineno = 0;
	sec = -1;
	midline = 0;
	while (in && fgets(line, sizeof line, in)) {
		const char *kb, *ke;
		int whole = strchr(line, '\n') != NULL, k, item = -1;

		if (midline) {
			put(x, line, strlen(line));
			midline = !whole;
			continue;
		}
		lineno++;
		midline = !whole;
		k = classify(line, &sec, &kb, &ke);
		if (k == -2 && sec >= 0)
			seen[sec] = 1;
		if (k >= 0 && whole)
			item = console_item(x, sec, kb, ke);
		if (item >= 0 && !x->done[item]) {
			const char *vb = line + k + 1, *tail, *v;

			while (*vb == ' ' || *vb == '\t')
				vb++;
			/* the tail kept: whitespace and an inline comment, or the line end */
			tail = vb + strcspn(vb, "\r\n");
			for (const char *q = vb; *q && *q != '\n' && *q != '\r'; q++) {
				if ((*q == ';' || *q == '#') && q > line + k + 1 &&
				    (q[-1] == ' ' || q[-1] == '\t')) {
					tail = q;
					while (tail > vb && (tail[-1] == ' ' || tail[-1] == '\t'))
						tail--;
					break;
				}
			}
			v = item_value(x, item, val, sizeof val);
			put(x, line, (size_t)k + 1);
			if (vb == line + k + 1 && v[0])
				put(x, " ", 1);
			else
				put(x, line + k + 1, (size_t)(vb - (line + k + 1)));
			put(x, v, strlen(v));
			if (*tail == ';' || *tail == '#')
				put(x, " ", 1);
			put(x, tail, strlen(tail));
			x->done[item] = 1;
		} else {
			put(x, line, strlen(line));
		}
		if (!midline && sec >= 0 && lineno == x->last_line[sec])
			append_section(x, sec, 0);
	}
	/* sections the file does not have yet */
	for (size_t i = 0; i < NSECTIONS; i++)
		append_section(x, (int)i, !seen[i]);
}

int tw_config_save(const struct tw_config *c, const struct tw_cfg_origin *origins,
		   const char *path, char *err, size_t errlen)
{
	static struct save_ctx x; /* no stack for the bitmaps; one save at a time */
	char tmp[512], val[600];
	struct stat st;
	FILE *in = NULL, *f;
	int fd, exists = lstat(path, &st) == 0;

	if (exists && S_ISLNK(st.st_mode)) {
		snprintf(err, errlen,
			 "config save: %s is a symbolic link: refusing to write through it (start "
			 "with --config naming the file itself)",
			 path);
		return TW_ERR_ARG;
	}
	if (exists && !S_ISREG(st.st_mode)) {
		snprintf(err, errlen, "config save: %s is not a regular file", path);
		return TW_ERR_ARG;
	}
	for (size_t i = 0; i < NKEYS; i++) {
		if (origins[i].line == -2 &&
		    unsavable(tw_config_format(c, &keys[i], val, sizeof val, 1))) {
			snprintf(err, errlen,
				 "config save: %s.%s: a value that begins or ends with a blank, or has "
				 "' ;' or ' #', cannot be kept in an INI file",
				 keys[i].section, keys[i].key);
			return TW_ERR_ARG;
		}
	}
	for (size_t i = 0; i < c->kafka.nextra; i++) {
		if (c->kafka.extra[i].line == -2 && unsavable(c->kafka.extra[i].value)) {
			snprintf(err, errlen, "config save: kafka.%s: value cannot be kept in an INI file",
				 c->kafka.extra[i].key);
			return TW_ERR_ARG;
		}
	}
	if ((size_t)snprintf(tmp, sizeof tmp, "%s.tmp", path) >= sizeof tmp) {
		snprintf(err, errlen, "config save: path too long");
		return TW_ERR_ARG;
	}
	if (exists) {
		int ifd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);

		if (ifd < 0 || (in = fdopen(ifd, "r")) == NULL) {
			snprintf(err, errlen, "config save: cannot read %s: %s", path, strerror(errno));
			if (ifd >= 0)
				close(ifd);
			return TW_ERR_IO;
		}
	}
	/* O_EXCL | O_NOFOLLOW: never through a link planted at the temp name */
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0 && errno == EEXIST && unlink(tmp) == 0)
		fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0 || fchmod(fd, 0600) != 0 || (f = fdopen(fd, "w")) == NULL) {
		snprintf(err, errlen, "config save: cannot write %s: %s", tmp, strerror(errno));
		if (fd >= 0) {
			close(fd);
			unlink(tmp);
		}
		if (in)
			fclose(in);
		return TW_ERR_IO;
	}
	memset(&x, 0, sizeof x);
	x.c = c;
	x.origins = origins;
	x.out = f;
	x.ends_nl = 1;
	save_copy(&x, in);
	if (in && ferror(in)) {
		snprintf(err, errlen, "config save: reading %s: %s", path, strerror(errno));
		fclose(in);
		fclose(f);
		unlink(tmp);
		return TW_ERR_IO;
	}
	if (in)
		fclose(in);
	if (fflush(f) != 0 || ferror(f) || fsync(fd) != 0) {
		snprintf(err, errlen, "config save: writing %s: %s", tmp, strerror(errno));
		fclose(f);
		unlink(tmp);
		return TW_ERR_IO;
	}
	fclose(f);
	if (rename(tmp, path) != 0) {
		snprintf(err, errlen, "config save: rename to %s: %s", path, strerror(errno));
		unlink(tmp);
		return TW_ERR_IO;
	}
	return TW_OK;
}
