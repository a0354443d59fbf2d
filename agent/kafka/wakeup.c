/* SPDX-License-Identifier: MIT */
/* wakeup.c - produce the per-partition wake-ups and read their header; list an assignment. */
#include "kafka/wakeup.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "hal.h"

int tw_wakeup_parts(const rd_kafka_message_t *m)
{
	rd_kafka_headers_t *h = NULL;
	const void *v = NULL;
	size_t len = 0;

	if (rd_kafka_message_headers(m, &h) != RD_KAFKA_RESP_ERR_NO_ERROR || h == NULL)
		return 0;
	if (rd_kafka_header_get_last(h, TW_WAKEUP_HEADER, &v, &len) != RD_KAFKA_RESP_ERR_NO_ERROR)
		return 0;
	return tw_wakeup_parse_parts(v, len);
}

int tw_wakeup_produce(struct tw_kafka *k, int32_t partition, int parts, const void *key,
		      size_t keylen, const void *payload, size_t len, void *msg_opaque, char *err,
		      size_t errlen)
{
	char pv[16];
	rd_kafka_resp_err_t e;

	if (k->rk == NULL || k->o.kind != TW_KAFKA_PRODUCER) {
		snprintf(err, errlen, "kafka %s: not a producer", k->role);
		return TW_ERR_KAFKA_PRODUCE;
	}
	if (parts < 1 || parts > TW_WAKEUP_PARTS_MAX || partition < 0 || partition >= parts) {
		snprintf(err, errlen, "kafka %s: wake-up partition %d of %d out of range", k->role,
			 (int)partition, parts);
		return TW_ERR_KAFKA_PRODUCE;
	}
	snprintf(pv, sizeof pv, "%d", parts);
	e = rd_kafka_producev(k->rk, RD_KAFKA_V_TOPIC(TW_KAFKA_TOPIC_ALERT),
			      RD_KAFKA_V_PARTITION(partition),
			      RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_KEY(key, keylen),
			      RD_KAFKA_V_VALUE((void *)(uintptr_t)payload, len),
			      RD_KAFKA_V_HEADER(TW_WAKEUP_HEADER, pv, (ssize_t)strlen(pv)),
			      RD_KAFKA_V_OPAQUE(msg_opaque), RD_KAFKA_V_END);
	if (e == RD_KAFKA_RESP_ERR__QUEUE_FULL) {
		snprintf(err, errlen, "kafka %s: producer queue full (%d waiting)", k->role,
			 rd_kafka_outq_len(k->rk));
		return TW_ERR_KAFKA_FULL;
	}
	if (e) {
		snprintf(err, errlen, "kafka %s: cannot queue the wake-up to %s partition %d: %s",
			 k->role, TW_KAFKA_TOPIC_ALERT, (int)partition, rd_kafka_err2str(e));
		return TW_ERR_KAFKA_PRODUCE;
	}
	return TW_OK;
}

int tw_wakeup_produce_all(struct tw_kafka *k, int parts, const void *key, size_t keylen,
			  const void *payload, size_t len, void *msg_opaque, size_t *queued,
			  char *err, size_t errlen)
{
	int rc = TW_OK;

	*queued = 0;
	if (parts < 1 || parts > TW_WAKEUP_PARTS_MAX) {
		snprintf(err, errlen, "kafka %s: %d partitions out of range", k->role, parts);
		return TW_ERR_KAFKA_PRODUCE;
	}
	for (int p = 0; p < parts; p++) {
		int r = tw_wakeup_produce(k, p, parts, key, keylen, payload, len, msg_opaque,
					  rc == TW_OK ? err : NULL, rc == TW_OK ? errlen : 0);

		if (r == TW_OK)
			(*queued)++;
		else if (rc == TW_OK)
			rc = r;
	}
	return rc;
}

char *tw_kafka_assignment_list(const struct tw_kafka *k, char *buf, size_t len)
{
	const rd_kafka_topic_partition_list_t *l = k->assigned;
	size_t off = 0;
	int32_t last = -1;

	if (len == 0)
		return buf;
	snprintf(buf, len, "?");
	if (k->rk == NULL || k->o.kind != TW_KAFKA_CONSUMER || l == NULL)
		return buf;
	buf[0] = '\0';
	/* in partition order without sorting (or copying) the kept list: the next larger each turn */
	for (int n = 0; n < l->cnt && off + 8 < len; n++) {
		int32_t next = INT32_MAX;
		int w;

		for (int i = 0; i < l->cnt; i++)
			if (l->elems[i].partition > last && l->elems[i].partition < next)
				next = l->elems[i].partition;
		if (next == INT32_MAX)
			break;
		w = snprintf(buf + off, len - off, "%s%d", off ? "," : "", (int)next);
		if (w < 0)
			break;
		off += (size_t)w;
		last = next;
	}
	if (l->cnt == 0)
		snprintf(buf, len, "none");
	else if (off + 8 >= len)
		snprintf(buf + off, len - off, ",...");
	return buf;
}
