/* SPDX-License-Identifier: MIT */
/* fuzz_stooq.c - the Stooq CSV answer (agent/quotes/stooq.c) and the ticker-to-symbol map.
 *
 * Input: byte 0 picks the ticker asked for (bits 0-1); the rest is the answer's body. A quote
 * taken is for that ticker, a finite price > 0 and a market time within [now - max_age,
 * now + 1 day]; a refusal is REJECTED or BAD_CSV with printable text. The first line of the
 * body, as a map, either fails the check or gives a symbol that fits and is lower case. */
#include <ctype.h>
#include <math.h>

#include "fuzz_common.h"
#include "quotes/quotes.h"

#define NOW 1767258000LL
#define MAX_AGE 86400LL

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const tickers[4] = {"AAPL", "SAP.DE", "^GSPC", "BRK-B"};
	struct tw_quotes_item q;
	char err[TW_QUOTES_ERR_LEN], sym[32], map[256], *in;
	const char *ticker;
	int rc;

	if (size < 1)
		return 0;
	ticker = tickers[data[0] & 3];
	if (tw_stooq_symbol(ticker, "", sym, sizeof sym) != TW_OK)
		abort();
	in = fz_exact(data + 1, size - 1);
	memset(&q, 0, sizeof q);
	err[0] = '\0';
	rc = tw_stooq_extract(in, size - 1, ticker, sym, NOW, MAX_AGE, &q, err, sizeof err);
	if (rc == TW_OK) {
		FZ_CHECK(strcmp(q.ticker, ticker) == 0, "quote for %s, asked %s", q.ticker, ticker);
		FZ_CHECK(isfinite(q.price) && q.price > 0, "price %g", q.price);
		FZ_CHECK(q.time_s >= NOW - MAX_AGE && q.time_s <= NOW + 86400, "time %lld",
			 (long long)q.time_s);
	} else {
		FZ_CHECK(rc == TW_ERR_QUOTES_REJECTED || rc == TW_ERR_QUOTES_BAD_CSV, "rc %d", rc);
		FZ_CHECK(err[0] != '\0', "refusal without text");
		for (const char *p = err; *p; p++)
			FZ_CHECK(*p >= ' ' && *p < 0x7f, "unprintable byte in the text");
	}
	/* the same bytes as a [quotes] stooq_map */
	{
		const char *nl = memchr(in, '\n', size - 1);
		size_t n = nl ? (size_t)(nl - in) : size - 1;

		if (n >= sizeof map)
			n = sizeof map - 1;
		memcpy(map, in, n);
		map[n] = '\0';
		if (memchr(map, '\0', n) == NULL && tw_stooq_check_map(map, err, sizeof err) == TW_OK &&
		    tw_stooq_symbol(ticker, map, sym, sizeof sym) == TW_OK) {
			FZ_CHECK(strlen(sym) > 0 && strlen(sym) < sizeof sym, "symbol length");
			for (const char *p = sym; *p; p++)
				FZ_CHECK(!isupper((unsigned char)*p) && isgraph((unsigned char)*p),
					 "symbol byte 0x%02x", (unsigned char)*p);
		}
	}
	free(in);
	return 0;
}
