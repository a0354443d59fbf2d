/* SPDX-License-Identifier: MIT */
/* datefield.h - what the HTTP date (http_date.c) and the Stooq CSV (stooq.c) parsers share to
 * read a written date: a field of a known number of digits, and days from a civil date. Pure,
 * no locale, no libc time zone. */
#ifndef TW_QUOTES_DATEFIELD_H
#define TW_QUOTES_DATEFIELD_H

#include <stddef.h>
#include <stdint.h>

#define TW_QUOTES_DIGITS_MAX 9 /* the widest field tw_quotes_digits reads (fits an int) */

/**
 * The value of exactly @p n decimal digits at @p p (reads p[0..n-1] only).
 * @return the value, or -1 when one of them is not a digit or @p n is 0 or more than
 * TW_QUOTES_DIGITS_MAX.
 */
int tw_quotes_digits(const char *p, size_t n);

/** Days from 1970-01-01 to @p y-@p m-@p d (proleptic Gregorian; H. Hinnant's days_from_civil). */
int64_t tw_quotes_civil_days(int64_t y, int m, int d);

#endif
