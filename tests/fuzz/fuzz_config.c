/* SPDX-License-Identifier: MIT */
/* fuzz_config.c - the configuration (agent/core/config.c): the INI file reader over inih, and
 * the console's "config set" path.
 *
 * Input byte 0, bit 0 clear: the rest is a configuration file. Set: the rest is
 * "section.key" NUL value, set on the defaults with tw_config_set(). A configuration taken
 * either way has every key within its bounds (numbers in [min, max], booleans 0/1, an enum
 * one of its choices, strings within their size and free of control characters); and it
 * round-trips: tw_config_write() (what "config save" writes) loads back to the same values. */
#include <sys/mman.h>
#include <unistd.h>

#include "config.h"
#include "fuzz_common.h"
#include "hal.h"
#include "log.h"

static struct tw_config c1, c2;
static struct tw_cfg_origin o1[256], o2[256];

static int memfd_path(int *fd, char *path, size_t len, const char *name)
{
	if (*fd < 0) {
		*fd = memfd_create(name, 0);
		FZ_CHECK(*fd >= 0, "memfd");
	}
	snprintf(path, len, "/proc/self/fd/%d", *fd);
	return *fd;
}

static void put(int fd, const void *d, size_t n)
{
	FZ_CHECK(ftruncate(fd, 0) == 0 && pwrite(fd, d, n, 0) == (ssize_t)n, "memfd write");
}

static void check_bounds(const struct tw_config *c)
{
	size_t nk;
	const struct tw_cfg_key *k = tw_config_keys(&nk);

	for (size_t i = 0; i < nk; i++) {
		const char *f = (const char *)c + k[i].offset;
		int64_t v;

		if (k[i].type == TW_CFG_STR) {
			size_t n = strnlen(f, k[i].size);

			FZ_CHECK(n < k[i].size, "%s.%s not terminated", k[i].section, k[i].key);
			for (size_t j = 0; j < n; j++)
				FZ_CHECK((unsigned char)f[j] >= 0x20, "%s.%s: control character",
					 k[i].section, k[i].key);
			continue;
		}
		memcpy(&v, f, sizeof v);
		if (k[i].type == TW_CFG_BOOL) {
			FZ_CHECK(v == 0 || v == 1, "%s.%s = %lld", k[i].section, k[i].key, (long long)v);
		} else if (k[i].type == TW_CFG_ENUM) {
			int64_t n = 0;

			while (k[i].choices[n])
				n++;
			FZ_CHECK(v >= 0 && v < n, "%s.%s = %lld", k[i].section, k[i].key, (long long)v);
		} else {
			FZ_CHECK(v >= k[i].min && v <= k[i].max, "%s.%s = %lld outside [%lld, %lld]",
				 k[i].section, k[i].key, (long long)v, (long long)k[i].min,
				 (long long)k[i].max);
		}
	}
}

/* What "config save" writes loads back to the same configuration. */
static void round_trip(const struct tw_config *c, const char *how)
{
	static int fd = -1;
	char path[64], err[TW_CFG_ERR_LEN], a[700], b[700];
	char *text = NULL;
	size_t tlen = 0, nk;
	const struct tw_cfg_key *k = tw_config_keys(&nk);
	FILE *f = open_memstream(&text, &tlen);
	int rc;

	FZ_CHECK(f != NULL, "open_memstream");
	tw_config_write(c, f);
	fclose(f);
	memfd_path(&fd, path, sizeof path, "fuzz_config_saved");
	put(fd, text, tlen);
	rc = tw_config_load(&c2, o2, path, NULL, err, sizeof err);
	FZ_CHECK(rc == TW_OK, "%s: the saved configuration does not load: %s", how, err);
	for (size_t i = 0; i < nk; i++) {
		tw_config_format(c, &k[i], a, sizeof a, 1);
		tw_config_format(&c2, &k[i], b, sizeof b, 1);
		FZ_CHECK(strcmp(a, b) == 0, "%s: %s.%s saved as '%s', loads as '%s'", how,
			 k[i].section, k[i].key, a, b);
	}
	FZ_CHECK(c->kafka.nextra == c2.kafka.nextra, "%s: kafka properties %zu, %zu", how,
		 c->kafka.nextra, c2.kafka.nextra);
	for (size_t i = 0; i < c->kafka.nextra; i++)
		FZ_CHECK(strcmp(c->kafka.extra[i].key, c2.kafka.extra[i].key) == 0 &&
				 strcmp(c->kafka.extra[i].value, c2.kafka.extra[i].value) == 0,
			 "%s: kafka %s = '%s' loads as '%s'", how, c->kafka.extra[i].key,
			 c->kafka.extra[i].value, c2.kafka.extra[i].value);
	free(text);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int fd = -1;
	char path[64], err[TW_CFG_ERR_LEN];
	int rc;

	if (size < 1 || size > 65536)
		return 0;
	tw_log_set_stderr(0);
	FZ_CHECK(tw_config_keys(&(size_t){0}) != NULL, "keys");
	if (data[0] & 1) {
		char *name = fz_cstr(data + 1, size - 1), *value;
		size_t nl = strlen(name);

		value = nl + 2 <= size ? fz_cstr(data + nl + 2, size - nl - 2) : fz_cstr(data, 0);
		tw_config_defaults(&c1, o1);
		err[0] = '\0';
		rc = tw_config_set(&c1, o1, name, value, err, sizeof err);
		if (rc >= 0) {
			check_bounds(&c1);
			round_trip(&c1, "config set");
		} else {
			FZ_CHECK(err[0], "refused without a reason");
		}
		free(name);
		free(value);
		return 0;
	}
	memfd_path(&fd, path, sizeof path, "fuzz_config");
	put(fd, data + 1, size - 1);
	err[0] = '\0';
	rc = tw_config_load(&c1, o1, path, NULL, err, sizeof err);
	if (rc == TW_OK) {
		check_bounds(&c1);
		round_trip(&c1, "file");
	} else {
		FZ_CHECK(err[0], "refused without a reason");
	}
	return 0;
}
