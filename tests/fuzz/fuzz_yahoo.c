/* SPDX-License-Identifier: MIT */
/* fuzz_yahoo.c - the Yahoo chart extraction (agent/quotes/yahoo.c) over the lenient tokenizer.
 *
 * Input: byte 0 picks the ticker asked for (bits 0-1) and the token budget (bits 2-4); the
 * rest is the answer's body. A quote taken is for that ticker, a finite price > 0 and a whole
 * market time within [now - max_age, now + 1 day], with no regular period or one of two Unix
 * times start < end, and an optional previous close (0, or finite in (0, 1e9]), currency ("" or
 * three of A-Z) and exchange ("" or 1..32 printable ASCII bytes, no blank at either end); a
 * refusal is REJECTED or BAD_JSON with a text that is printable ASCII (it goes to the log: the
 * answer's bytes are shown as '?'). */
#include <math.h>

#include "fuzz_common.h"
#include "json/json.h"
#include "quotes/quotes.h"

#define NOW 1764363600LL
#define MAX_AGE 86400LL

static tw_jtok toks[1024];

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const tickers[4] = {"MSFT", "AAPL", "^GSPC", "brk-b"};
	static const unsigned budgets[8] = {1, 4, 16, 32, 64, 128, 512, 1024};
	struct tw_quotes_item q;
	char err[TW_QUOTES_ERR_LEN], *in;
	const char *ticker;
	int rc;

	if (size < 1)
		return 0;
	ticker = tickers[data[0] & 3];
	in = fz_exact(data + 1, size - 1);
	memset(&q, 0, sizeof q);
	err[0] = '\0';
	rc = tw_yahoo_extract(in, size - 1, toks, budgets[(data[0] >> 2) & 7], ticker, NOW, MAX_AGE,
			      &q, err, sizeof err);
	if (rc == TW_OK) {
		FZ_CHECK(strcmp(q.ticker, ticker) == 0, "quote for %s, asked %s", q.ticker, ticker);
		FZ_CHECK(isfinite(q.price) && q.price > 0, "price %g", q.price);
		FZ_CHECK(q.time_s >= NOW - MAX_AGE && q.time_s <= NOW + 86400, "time %lld",
			 (long long)q.time_s);
		FZ_CHECK((q.reg_start == 0 && q.reg_end == 0) ||
				 (q.reg_start > 0 && q.reg_start < q.reg_end && q.reg_end <= 1000000000000LL),
			 "period %lld-%lld", (long long)q.reg_start, (long long)q.reg_end);
		FZ_CHECK(tw_quotes_off_hours(&q) == (q.reg_start != 0 &&
						     (q.time_s < q.reg_start || q.time_s > q.reg_end)),
			 "off hours");
		FZ_CHECK(q.prev_close == 0 || (isfinite(q.prev_close) && q.prev_close > 0 &&
						q.prev_close <= 1e9),
			 "previous close %g", q.prev_close);
		FZ_CHECK(q.currency[0] == '\0' ||
				 (strlen(q.currency) == 3 &&
				  strspn(q.currency, "ABCDEFGHIJKLMNOPQRSTUVWXYZ") == 3),
			 "currency %s", q.currency);
		FZ_CHECK(q.exchange[0] == '\0' || tw_quotes_exchange_ok(q.exchange), "exchange");
		for (const char *p = q.exchange; *p; p++)
			FZ_CHECK((unsigned char)*p >= 0x20 && (unsigned char)*p < 0x7f,
				 "byte 0x%02x in the exchange", (unsigned char)*p);
		FZ_CHECK(strlen(q.exchange) <= 32 && (q.exchange[0] == '\0' ||
						      (q.exchange[0] != ' ' &&
						       q.exchange[strlen(q.exchange) - 1] != ' ')),
			 "exchange '%s'", q.exchange);
	} else {
		FZ_CHECK(rc == TW_ERR_QUOTES_REJECTED || rc == TW_ERR_QUOTES_BAD_JSON, "rc %d", rc);
		FZ_CHECK(err[0] != '\0', "refused without text");
		for (const char *p = err; *p; p++)
			FZ_CHECK((unsigned char)*p >= 0x20 && (unsigned char)*p < 0x7f,
				 "byte 0x%02x in the error text: %s", (unsigned char)*p, err);
	}
	free(in);
	return 0;
}
