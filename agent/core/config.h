/* SPDX-License-Identifier: MIT */
/* config.h - the agent's configuration: typed sections, one declarative key table, checks. */
#ifndef TW_CONFIG_H
#define TW_CONFIG_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define TW_CFG_ERR_LEN 512
#define TW_CFG_KAFKA_EXTRA_MAX 32
#define TW_CFG_MAX_KEYS 128 /* room in the key table (config.c checks it at build time) */

enum tw_kafka_security { TW_KAFKA_PLAINTEXT, TW_KAFKA_SSL, TW_KAFKA_SASL_PLAINTEXT, TW_KAFKA_SASL_SSL };
enum tw_kafka_sasl { TW_SASL_PLAIN, TW_SASL_SCRAM_256, TW_SASL_SCRAM_512 };
enum tw_smtp_mode { TW_SMTP_STARTTLS, TW_SMTP_TLS, TW_SMTP_PLAIN };

/* [agent] name, at most: the delivery ledger's owner is "<name>/<start>" in 64 bytes. */
#define TW_AGENT_NAME_MAX 40

struct tw_config {
	struct {
		char name[64];
		int64_t log_level; /* enum tw_log_level */
		char board[32];
		char roles[128]; /* comma list, or "all" */
		char console[128];
		int64_t console_baud;
		char state_dir[256];
		int64_t stop_timeout_ms;
	} agent;
	struct {
		char bootstrap[512];
		int64_t security; /* enum tw_kafka_security */
		int64_t sasl_mechanism; /* enum tw_kafka_sasl */
		char username[128];
		char password[128];
		char ca_file[256];
		int64_t partitions;
		int64_t replication;
		int64_t queue_kbytes;
		int64_t fetch_max_bytes;
		int64_t report_interval_ms;
		/* librdkafka properties passed through: keys with a dot in [kafka] */
		struct {
			char key[64];
			char value[256];
			int line;
		} extra[TW_CFG_KAFKA_EXTRA_MAX];
		size_t nextra;
	} kafka;
	struct {
		char write_url[512];
		char read_url[512];
		int read_follows; /* read_url was left empty: it is write_url, whatever that becomes */
		int64_t connect_timeout_ms;
		int64_t statement_timeout_ms;
		/* retention (the collector prunes; docs/schema.md, Retention) */
		int64_t retain_sent_ms;
		int64_t retain_dead_letters_ms;
		int64_t retain_quotes_ms;
		int64_t prune_batch;
		int64_t prune_interval_ms;
		int64_t write_connections; /* the rpc role's pool of write connections */
	} db;
	struct {
		char host[256];
		int64_t port;
		int64_t mode; /* enum tw_smtp_mode */
		char user[128];
		char password[128];
		char from[256];
		char ca_file[256];
		int64_t verify;
		int64_t timeout_ms;
		int64_t batch_linger_ms;
		int64_t breaker_failures;
		int64_t breaker_recovery_ms;
		int64_t retry_interval_ms;
		int64_t retry_max_interval_ms;
		int64_t max_retry_age_ms;
		int64_t html;
		int64_t max_rate; /* e-mails a second at most; 0: unlimited */
	} smtp;
	struct {
		char source[256];
		char base[256];
		char ca_file[256];
		int64_t interval_ms;
		int64_t timeout_ms;
		int64_t max_age_ms;
		int64_t breaker_failures;
		int64_t breaker_recovery_ms;
		char cookie_url[256];
		int64_t crumb;
		int64_t rate;
		int64_t connections;
		char stooq_base[256];
		char stooq_map[256];
		int64_t shards;
		int64_t regular_hours_only; /* yahoo: quotes outside currentTradingPeriod.regular are not new */
	} quotes;
	struct {
		char listen[128];
		char token[128];
		int64_t request_ttl_ms;
		int64_t idle_timeout_ms;
		int64_t slow_timeout_ms;
		char tls_cert[256];
		char tls_key[256];
		char tls_client_ca[256];
		int64_t tls_handshake_timeout_ms;
		int64_t auth_failures;
		int64_t auth_window_ms;
		int64_t auth_ban_ms;
		int64_t check_tickers; /* register/update_ticker ask the quote source first */
	} rpc;
	struct {
		char listen[128]; /* "" : off */
		int64_t slots;
		int64_t timeout_ms;
		int64_t out_kb;
		char public_url[256];
	} http;
	struct {
		int64_t arena_kb;
		int64_t log_lines;
		int64_t log_line_len;
		int64_t max_fds;
		int64_t max_timers;
		int64_t console_line;
		int64_t console_out_kb;
		int64_t alert_inflight;
		int64_t alert_page;
		int64_t rpc_slots;
		int64_t rpc_max_line;
		int64_t rpc_long_lines;
		int64_t quote_response_kb;
		int64_t tickers;
		int64_t replay_rows;
		int64_t smtp_buffer_kb;
		int64_t tls_heap_kb;
		int64_t alerts_per_user;
	} limits;
};

enum tw_cfg_type { TW_CFG_STR, TW_CFG_INT, TW_CFG_BOOL, TW_CFG_ENUM, TW_CFG_DURATION, TW_CFG_SIZE };

enum {
	TW_CFG_SECRET = 1u << 0,  /* never printed */
	TW_CFG_URLPASS = 1u << 1, /* printed with its password masked */
	TW_CFG_LIVE = 1u << 2,    /* "config set" takes effect at once, not at restart */
	TW_CFG_BAUD = 1u << 3,    /* an int that must be one of the serial console's rates */
};

struct tw_cfg_key {
	const char *section;
	const char *key;
	enum tw_cfg_type type;
	size_t offset;
	size_t size; /* bytes of a string field */
	const char *def;
	int64_t min, max; /* ints, durations (ms) and sizes */
	const char *const *choices; /* enums: NULL-terminated */
	unsigned flags;
	const char *help;
};

/* Where a value came from, for "config show" and duplicate-key errors. */
struct tw_cfg_origin {
	char file[128];
	int line; /* > 0: file line; 0: default; -1: environment; -2: console; -3: command line */
};

/** The key table; its length in *n. */
const struct tw_cfg_key *tw_config_keys(size_t *n);

/** Fill @p c with every default. */
void tw_config_defaults(struct tw_config *c, struct tw_cfg_origin *origins);

/**
 * Load defaults, then @p path (NULL: none), then TICKWATCH_<SECTION>_<KEY>
 * from the environment (@p envp, NULL-terminated; NULL: none), then check.
 * @p origins has one entry per key (may be NULL).
 * @return 0, or a negative error with one line in @p err naming the file,
 *         line, key and what is allowed.
 */
int tw_config_load(struct tw_config *c, struct tw_cfg_origin *origins, const char *path,
		   char *const *envp, char *err, size_t errlen);

/** Cross-key rules. @return 0 or an error naming the keys involved. */
int tw_config_check(struct tw_config *c, char *err, size_t errlen);

/**
 * Set "section.key" to @p value (console "config set"). Validates like the
 * file does (a text value, wherever it comes from, must be one "config save" can write as
 * given: no blank at either end, no ';' first or after a blank, "key = value" within inih's
 * line length). @return 1 when it takes effect now, 0 when at restart, negative
 * on error (text in @p err).
 */
int tw_config_set(struct tw_config *c, struct tw_cfg_origin *origins, const char *name,
		  const char *value, char *err, size_t errlen);

/** Format one key's value, secrets masked. @return @p out. */
char *tw_config_format(const struct tw_config *c, const struct tw_cfg_key *k, char *out,
		       size_t len, int reveal);

/** Write the whole configuration, commented, as an INI file to @p f (secrets included). */
void tw_config_write(const struct tw_config *c, FILE *f);

/**
 * Save the keys set from the console (origin line -2; kafka.* properties with line -2)
 * into the file at @p path, keeping everything else as the user wrote it: order,
 * comments, blank lines and every other value. A console-set key present in the file
 * has its value replaced (its inline comment kept); one absent is added at the end
 * of its section (the section is added at the end of the file when missing). Values
 * from the environment, the command line or the defaults are never written.
 * Atomic (temp file, fsync, rename), mode 0600; refuses a path that is a symbolic
 * link or not a regular file, and a value an INI file cannot hold.
 * @return 0 or an error with text in @p err.
 */
int tw_config_save(const struct tw_config *c, const struct tw_cfg_origin *origins,
		   const char *path, char *err, size_t errlen);

/** Describe what @p k accepts ("a whole number from 1 to 65535"). */
void tw_config_allowed(const struct tw_cfg_key *k, char *out, size_t len);

/** Find a key by "section.key". @return its index or -1. */
int tw_config_find(const char *name);

/** Parse a duration ("250ms", "1.5s", "2m", "1h", "1d"; a bare number is seconds, as
 *  systemd takes it) into ms. */
int tw_config_parse_duration(const char *s, int64_t *ms);

/** 1 if @p hostport's host parses as a loopback address (127.0.0.0/8, ::1, ::ffff:127.x)
 *  or is "localhost"; any other name is not (it may resolve anywhere). */
int tw_config_is_loopback(const char *hostport);

/** 1 if @p baud is a rate the serial console takes (9600 ... 921600, see the reference). */
int tw_config_baud_ok(int64_t baud);

/** 1 if the librdkafka property @p name holds a secret: librdkafka's sensitive
 *  properties, and any name containing secret, key, password, token, pem, jaas or
 *  credential (any case). "config show" masks those. */
int tw_config_kafka_secret(const char *name);

/** @return 0 when @p v is a valid [quotes] source (replay:FILE, yahoo, stooq, yahoo,stooq...). */
int tw_config_check_sources(const char *v);

#endif
