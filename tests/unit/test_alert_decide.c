/* SPDX-License-Identifier: MIT */
/* test_alert_decide.c - the alert role's pure logic: crossing conditions, row checks, the
 * duplicate-suppression rule, and the message a decision becomes (ids, numbers, text: built by
 * agent/notif from a row; its reader is tested in test_notif.c). */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "alert/alert.h"
#include "notif/notif.h"

static struct tw_crossing row(const char *email, const char *ticker, double value, int cond,
			      double threshold)
{
	struct tw_crossing c;

	memset(&c, 0, sizeof c);
	c.email = email;
	c.ticker = ticker;
	c.value = value;
	c.quote_ms = 1767225600000LL;
	c.condition = cond;
	c.threshold = threshold;
	c.last_ticker = "";
	return c;
}

static void conditions(void **state)
{
	(void)state;
	assert_int_equal(tw_alert_condition(191, 1, 190, 1, 150), TW_COND_HIGHER);
	assert_int_equal(tw_alert_condition(149, 1, 190, 1, 150), TW_COND_LOWER);
	assert_int_equal(tw_alert_condition(170, 1, 190, 1, 150), TW_COND_NONE);
	/* on a threshold is inside: strictly greater / strictly less */
	assert_int_equal(tw_alert_condition(190, 1, 190, 1, 150), TW_COND_NONE);
	assert_int_equal(tw_alert_condition(150, 1, 190, 1, 150), TW_COND_NONE);
	/* only one set */
	assert_int_equal(tw_alert_condition(1000, 1, 190, 0, 0), TW_COND_HIGHER);
	assert_int_equal(tw_alert_condition(1, 1, 190, 0, 0), TW_COND_NONE);
	assert_int_equal(tw_alert_condition(1, 0, 0, 1, 150), TW_COND_LOWER);
	assert_int_equal(tw_alert_condition(1000, 0, 0, 1, 150), TW_COND_NONE);
	/* none set: never */
	assert_int_equal(tw_alert_condition(1e9, 0, 0, 0, 0), TW_COND_NONE);
	assert_int_equal(tw_alert_condition(0.01, 0, 0, 0, 0), TW_COND_NONE);
}

static void int_parts(void **state)
{
	(void)state;
	assert_int_equal(tw_alert_int_part(191.99), 191);
	assert_int_equal(tw_alert_int_part(191.0), 191);
	assert_int_equal(tw_alert_int_part(0.5), 0);
	assert_int_equal(tw_alert_int_part(1e9), 1000000000);
}

static void row_checks(void **state)
{
	char why[256];
	struct tw_crossing c = row("alice@example.com", "AAPL", 191.23, TW_COND_HIGHER, 190);
	char big[300];

	(void)state;
	assert_int_equal(tw_alert_check_row(&c, why, sizeof why), TW_OK);
	c.value = 189;
	assert_int_equal(tw_alert_check_row(&c, why, sizeof why), TW_ERR_ALERT_ROW);
	assert_non_null(strstr(why, "not above"));
	c = row("alice@example.com", "AAPL", 151, TW_COND_LOWER, 150);
	assert_int_equal(tw_alert_check_row(&c, why, sizeof why), TW_ERR_ALERT_ROW);
	assert_non_null(strstr(why, "not below"));
	c = row("alice@example.com", "AAPL", 150, TW_COND_LOWER, 150);
	assert_int_equal(tw_alert_check_row(&c, why, sizeof why), TW_ERR_ALERT_ROW);
	c = row("alice@example.com", "AAPL", 191, TW_COND_NONE, 190);
	assert_int_equal(tw_alert_check_row(&c, why, sizeof why), TW_ERR_ALERT_ROW);
	assert_non_null(strstr(why, "neither"));
	c = row("alice@example.com", "AAPL", NAN, TW_COND_HIGHER, 190);
	assert_int_equal(tw_alert_check_row(&c, why, sizeof why), TW_ERR_ALERT_ROW);
	c = row("alice@example.com", "AAPL", 2e9, TW_COND_HIGHER, 190);
	assert_int_equal(tw_alert_check_row(&c, why, sizeof why), TW_ERR_ALERT_ROW);
	c = row("alice@example.com", "", 191, TW_COND_HIGHER, 190);
	assert_int_equal(tw_alert_check_row(&c, why, sizeof why), TW_ERR_ALERT_ROW);
	c = row("alice@example.com", "ABCDEFGHIJKLMNOP", 191, TW_COND_HIGHER, 190);
	assert_int_equal(tw_alert_check_row(&c, why, sizeof why), TW_ERR_ALERT_ROW);
	c = row(NULL, "AAPL", 191, TW_COND_HIGHER, 190);
	assert_int_equal(tw_alert_check_row(&c, why, sizeof why), TW_ERR_ALERT_ROW);
	memset(big, 'a', sizeof big - 1);
	big[sizeof big - 1] = '\0';
	c = row(big, "AAPL", 191, TW_COND_HIGHER, 190);
	assert_int_equal(tw_alert_check_row(&c, why, sizeof why), TW_ERR_ALERT_ROW);
	c = row("alice@example.com", "AAPL", 191, TW_COND_HIGHER, 190);
	c.episode = -1;
	assert_int_equal(tw_alert_check_row(&c, NULL, 0), TW_ERR_ALERT_ROW);
}

static void suppression(void **state)
{
	struct tw_crossing c = row("alice@example.com", "AAPL", 191.23, TW_COND_HIGHER, 190);

	(void)state;
	/* never notified (or re-armed): send */
	assert_int_equal(tw_alert_decide(&c), TW_ALERT_SEND);
	/* the same ticker, condition and integer part: suppressed */
	c.has_last = 1;
	c.last_ticker = "AAPL";
	c.last_condition = TW_COND_HIGHER;
	c.last_int = 191;
	assert_int_equal(tw_alert_decide(&c), TW_ALERT_SUPPRESS);
	c.value = 191.99;
	assert_int_equal(tw_alert_decide(&c), TW_ALERT_SUPPRESS);
	/* a new integer part, up or down: send */
	c.value = 192.01;
	assert_int_equal(tw_alert_decide(&c), TW_ALERT_SEND);
	c.value = 190.5;
	assert_int_equal(tw_alert_decide(&c), TW_ALERT_SEND);
	/* another condition at the same integer part: send */
	c.value = 191.5;
	c.last_condition = TW_COND_LOWER;
	assert_int_equal(tw_alert_decide(&c), TW_ALERT_SEND);
	/* another ticker (the user changed it): send */
	c.last_condition = TW_COND_HIGHER;
	c.last_ticker = "MSFT";
	assert_int_equal(tw_alert_decide(&c), TW_ALERT_SEND);
	/* re-armed: the state is gone, so the same integer part sends again */
	c.last_ticker = "AAPL";
	assert_int_equal(tw_alert_decide(&c), TW_ALERT_SUPPRESS);
	c.has_last = 0;
	c.last_ticker = "";
	assert_int_equal(tw_alert_decide(&c), TW_ALERT_SEND);
}

/* The signing key of the golden files (tests/unit/data/alert/higher-v2.json). */
#define TEST_KEY "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
static struct tw_notif_key key;
/* sha256("bob@example.org|SAP.DE|lower|149|0|g7")[0:16], computed independently */
#define GEN7_ID "7fdb9c45e7fae0d8be286ea3a3c7c4e2"

static void ids(void **state)
{
	char id[TW_NOTIF_ID_LEN + 1], id2[TW_NOTIF_ID_LEN + 1];

	(void)state;
	/* sha256("alice@example.com|AAPL|higher|191|3")[0:16]: generation 0 (a user registered
	 * before migration 4) keeps the ids earlier builds gave */
	assert_int_equal(tw_notif_id("alice@example.com", "AAPL", TW_COND_HIGHER, 191, 3, 0, 0, id),
			 TW_OK);
	assert_string_equal(id, "a2b0ae4793baa64383def2dc8dc853a2");
	assert_int_equal(tw_notif_id("bob@example.org", "SAP.DE", TW_COND_LOWER, 149, 0, 0, 0, id), TW_OK);
	assert_string_equal(id, "488b8811a400e7e6ae5d02748a54ef61");
	/* each part matters: a new episode is a new id */
	assert_int_equal(tw_notif_id("bob@example.org", "SAP.DE", TW_COND_LOWER, 149, 1, 0, 0, id2),
			 TW_OK);
	assert_string_not_equal(id, id2);
	assert_int_equal(tw_notif_id("bob@example.org", "SAP.DE", TW_COND_HIGHER, 149, 0, 0, 0, id2),
			 TW_OK);
	assert_string_not_equal(id, id2);
	/* and the generation: the same user deleted and registered again (episodes restart at
	 * 0) gets ids its earlier life never had; sha256("...|149|0|g7")[0:16] */
	assert_int_equal(tw_notif_id("bob@example.org", "SAP.DE", TW_COND_LOWER, 149, 0, 7, 0, id2),
			 TW_OK);
	assert_string_not_equal(id, id2);
	assert_string_equal(id2, GEN7_ID);
	assert_int_equal(tw_notif_id("bob@example.org", "SAP.DE", TW_COND_LOWER, 149, 0, 8, 0, id),
			 TW_OK);
	assert_string_not_equal(id, id2);
	/* deterministic: a re-run pass gives the same id */
	assert_int_equal(tw_notif_id("bob@example.org", "SAP.DE", TW_COND_LOWER, 149, 0, 7, 0, id),
			 TW_OK);
	assert_string_equal(id, id2);
	/* an alert of the alerts table: "|a<id>" after everything else (docs/alerts.md);
	 * sha256("alice@example.com|AAPL|higher|191|3|a5")[0:16] and "...|149|0|g7|a12" */
	assert_int_equal(tw_notif_id("alice@example.com", "AAPL", TW_COND_HIGHER, 191, 3, 0, 5, id),
			 TW_OK);
	assert_string_equal(id, "891e23952d90aeb1886c65fb159adc11");
	assert_int_equal(tw_notif_id("bob@example.org", "SAP.DE", TW_COND_LOWER, 149, 0, 7, 12, id),
			 TW_OK);
	assert_string_equal(id, "947eb31ae5e4328e09a6add71482da78");
	/* a negative alert id is alert 0's id (never stored: alerts.id is a bigserial) */
	assert_int_equal(tw_notif_id("alice@example.com", "AAPL", TW_COND_HIGHER, 191, 3, 0, -1, id),
			 TW_OK);
	assert_string_equal(id, "a2b0ae4793baa64383def2dc8dc853a2");
}

static void numbers(void **state)
{
	char b[40];

	(void)state;
	assert_string_equal(tw_notif_number(191.23, b, sizeof b), "191.23");
	assert_string_equal(tw_notif_number(190.0, b, sizeof b), "190");
	assert_string_equal(tw_notif_number(0.1, b, sizeof b), "0.1");
	assert_string_equal(tw_notif_number(123456789.125, b, sizeof b), "123456789.125");
}

static void golden_message(void **state)
{
	char path[512], want[1024], got[TW_NOTIF_MAX_BYTES];
	struct tw_crossing c = row("alice@example.com", "AAPL", 191.23, TW_COND_HIGHER, 190);
	FILE *f;
	size_t n;
	long len;

	(void)state;
	c.episode = 3;
	tw_notif_key_set(&key, TEST_KEY);
	snprintf(path, sizeof path, "%s/alert/higher-v2.json", TW_TEST_DATA);
	f = fopen(path, "r");
	assert_non_null(f);
	n = fread(want, 1, sizeof want - 1, f);
	fclose(f);
	while (n && want[n - 1] == '\n')
		n--;
	want[n] = '\0';
	len = tw_notif_build(&c, tw_alert_int_part(c.value), &key, got, sizeof got);
	assert_true(len > 0);
	assert_int_equal((size_t)len, strlen(got));
	assert_string_equal(got, want);
}

static void lower_message_and_escapes(void **state)
{
	char got[TW_NOTIF_MAX_BYTES];
	struct tw_crossing c = row("o\"b\\rien@example.com", "SAP.DE", 149.1, TW_COND_LOWER, 150);

	(void)state;
	tw_notif_key_set(&key, TEST_KEY);
	assert_true(tw_notif_build(&c, tw_alert_int_part(c.value), &key, got, sizeof got) > 0);
	assert_non_null(strstr(got, "\"email\":\"o\\\"b\\\\rien@example.com\""));
	assert_non_null(strstr(got, "\"condition\":\"lower\""));
	assert_non_null(strstr(got, "\"threshold\":150,"));
	assert_non_null(strstr(got, "\"subject\":\"SAP.DE is below 150.00: 149.10\""));
	assert_non_null(strstr(got, "below your low threshold of 150.00.\\n\""));
	/* a crossing that two decimals would hide shows more digits */
	c = row("a@example.com", "X", 150.001, TW_COND_HIGHER, 150);
	assert_true(tw_notif_build(&c, tw_alert_int_part(c.value), &key, got, sizeof got) > 0);
	assert_non_null(strstr(got, "\"subject\":\"X is above 150.000: 150.001\""));
	/* too small a buffer: an error, never a cut message */
	assert_int_equal(tw_notif_build(&c, tw_alert_int_part(c.value), &key, got, 40), TW_ERR_NOTIF_SIZE);
	assert_int_equal(tw_notif_build(&c, tw_alert_int_part(c.value), &key, got, 0), TW_ERR_NOTIF_SIZE);
	/* no key: no message (the alert role never produces an unsigned one) */
	assert_int_equal(tw_notif_build(&c, tw_alert_int_part(c.value), NULL, got, sizeof got),
			 TW_ERR_NOTIF_KEY);
}

/* The quote's currency and exchange in the text (docs/notifications.md, Texts): the exchange
 * after the ticker, the currency after each price; one alone; invalid ones left out; the JSON
 * fields and the id unchanged. */
static void currency_and_exchange(void **state)
{
	char got[TW_NOTIF_MAX_BYTES], plain[TW_NOTIF_MAX_BYTES], f[TW_NOTIF_MAX_BYTES];
	struct tw_crossing c = row("alice@example.com", "AAPL", 191.23, TW_COND_HIGHER, 190);
	static const char *const bad_cur[] = {"usd", "US", "USDX", "U$D", ""};
	static const char *const bad_exch[] = {"", " NMS", "NMS ", "N\tS", "N\xc3\xa9S",
					       "abcdefghijklmnopqrstuvwxyz0123456"};
	struct tw_notif n;

	(void)state;
	c.episode = 3;
	tw_notif_key_set(&key, TEST_KEY);
	assert_true(tw_notif_build(&c, tw_alert_int_part(c.value), &key, plain, sizeof plain) > 0);
	c.currency = "USD";
	c.exchange = "NMS";
	assert_true(tw_notif_build(&c, tw_alert_int_part(c.value), &key, got, sizeof got) > 0);
	assert_int_equal(tw_notif_parse(&n, got, strlen(got), c.email, strlen(c.email), &key, f,
					sizeof f),
			 0);
	assert_string_equal(n.subject, "AAPL (NMS) is above 190.00 USD: 191.23 USD");
	assert_string_equal(n.body, "AAPL (NMS) traded at 191.23 USD at 2026-01-01 00:00 UTC, above "
				    "your high threshold of 190.00 USD.\n");
	/* the fields and the id are the same as without them: only the text changes */
	assert_memory_equal(got, plain, (size_t)(strstr(plain, "\"subject\"") - plain));
	/* a further alert's body names it, with the same exchange and currency */
	c.alert_id = 7;
	assert_true(tw_notif_build(&c, tw_alert_int_part(c.value), &key, got, sizeof got) > 0);
	assert_int_equal(tw_notif_parse(&n, got, strlen(got), c.email, strlen(c.email), &key, f,
					sizeof f),
			 0);
	assert_string_equal(n.subject, "AAPL (NMS) is above 190.00 USD: 191.23 USD");
	assert_string_equal(n.body, "AAPL (NMS) traded at 191.23 USD at 2026-01-01 00:00 UTC, above "
				    "the level of 190.00 USD of your alert 7.\n");
	/* one alone; a lower crossing */
	c = row("bob@example.com", "SAP.DE", 149.1, TW_COND_LOWER, 150);
	c.currency = "EUR";
	assert_true(tw_notif_build(&c, tw_alert_int_part(c.value), &key, got, sizeof got) > 0);
	assert_int_equal(tw_notif_parse(&n, got, strlen(got), c.email, strlen(c.email), &key, f,
					sizeof f),
			 0);
	assert_string_equal(n.subject, "SAP.DE is below 150.00 EUR: 149.10 EUR");
	assert_string_equal(n.body, "SAP.DE traded at 149.10 EUR at 2026-01-01 00:00 UTC, below "
				    "your low threshold of 150.00 EUR.\n");
	c.currency = NULL;
	c.exchange = "a very long exchange name 32 byt"; /* the longest, with blanks inside */
	assert_true(tw_notif_build(&c, tw_alert_int_part(c.value), &key, got, sizeof got) > 0);
	assert_non_null(strstr(got, "\"subject\":\"SAP.DE (a very long exchange name 32 byt) is "
				    "below 150.00: 149.10\""));
	/* invalid ones are left out: the seed's text, byte for byte */
	c = row("alice@example.com", "AAPL", 191.23, TW_COND_HIGHER, 190);
	c.episode = 3;
	for (size_t i = 0; i < sizeof bad_cur / sizeof bad_cur[0]; i++) {
		c.currency = bad_cur[i];
		c.exchange = bad_exch[i];
		assert_true(tw_notif_build(&c, tw_alert_int_part(c.value), &key, got, sizeof got) > 0);
		assert_string_equal(got, plain);
	}
	c.exchange = bad_exch[5];
	assert_true(tw_notif_build(&c, tw_alert_int_part(c.value), &key, got, sizeof got) > 0);
	assert_string_equal(got, plain);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(conditions),     cmocka_unit_test(int_parts),
		cmocka_unit_test(row_checks),     cmocka_unit_test(suppression),
		cmocka_unit_test(ids),            cmocka_unit_test(numbers),
		cmocka_unit_test(golden_message), cmocka_unit_test(lower_message_and_escapes),
		cmocka_unit_test(currency_and_exchange),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
