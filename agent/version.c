/* SPDX-License-Identifier: MIT */
/* version.c - reports tickwatch's version and those of the libraries linked into it. */
#include <libpq-fe.h>
#include <librdkafka/rdkafka.h>
#include <mbedtls/version.h>
#include <stdio.h>

#include "root.h"

void tw_version_print(void)
{
	char mbed[32];
	int pq = PQlibVersion();

	mbedtls_version_get_string(mbed);
	printf("tickwatch %s\n", TW_VERSION);
	printf("librdkafka %s\n", rd_kafka_version_str());
	printf("Mbed TLS %s\n", mbed);
	printf("libpq %d.%d\n", pq / 10000, pq % 10000);
}
