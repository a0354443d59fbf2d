/* SPDX-License-Identifier: MIT */
/* version.c - reports tickwatch's version, the roles built into it and its linked libraries. */
#include <libpq-fe.h>
#include <librdkafka/rdkafka.h>
#include <mbedtls/version.h>
#include <stdio.h>

#include "core/role.h"
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
	printf("roles");
	for (size_t i = 0; i < TW_ROLES_ALL; i++) {
		if (tw_roles_all[i])
			printf(" %s", tw_roles_all[i]->name);
	}
	printf("\n");
}
