/* SPDX-License-Identifier: MIT */
/* selftest.c - proves a deps prefix links statically and its three libraries work. */
#include <stdio.h>
#include <string.h>

#include <librdkafka/rdkafka.h>
#include <libpq-fe.h>
#include <mbedtls/sha256.h>
#include <mbedtls/version.h>

/* Sets one librdkafka property; returns 0, or -1 after printing why. */
static int kafka_set(rd_kafka_conf_t *conf, const char *key, const char *value)
{
    char err[256];

    if (rd_kafka_conf_set(conf, key, value, err, sizeof err) != RD_KAFKA_CONF_OK) {
        fprintf(stderr, "selftest: librdkafka %s=%s: %s\n", key, value, err);
        return -1;
    }
    return 0;
}

int main(void)
{
    static const unsigned char want[32] = {
        0xba, 0x78, 0x16, 0xbf, 0x8f, 0x01, 0xcf, 0xea, 0x41, 0x41, 0x40, 0xde, 0x5d, 0xae, 0x22, 0x23,
        0xb0, 0x03, 0x61, 0xa3, 0x96, 0x17, 0x7a, 0x9c, 0xb4, 0x10, 0xff, 0x61, 0xf2, 0x00, 0x15, 0xad,
    };
    unsigned char got[32];
    char mbed[32] = "";
    char features[512] = "";
    size_t flen = sizeof features;
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    int fail = 0;

    /* Features the agent relies on must be compiled in. */
    fail |= kafka_set(conf, "security.protocol", "sasl_ssl");
    fail |= kafka_set(conf, "sasl.mechanisms", "SCRAM-SHA-512");
    fail |= kafka_set(conf, "compression.codec", "zstd");
    rd_kafka_conf_get(conf, "builtin.features", features, &flen);
    rd_kafka_conf_destroy(conf);

    if (mbedtls_sha256((const unsigned char *)"abc", 3, got, 0) != 0 || memcmp(got, want, sizeof want) != 0) {
        fprintf(stderr, "selftest: mbedtls_sha256(\"abc\") is wrong\n");
        fail = 1;
    }
    mbedtls_version_get_string(mbed);

    printf("librdkafka %s\n", rd_kafka_version_str());
    printf("librdkafka features %s\n", features);
    printf("libpq %d (thread-safe %d)\n", PQlibVersion(), PQisthreadsafe());
    printf("mbedtls %s\n", mbed);
    return fail ? 1 : 0;
}
