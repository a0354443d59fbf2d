/* SPDX-License-Identifier: MIT */
/* ledger.c - the notifier's ledger: MarkSending, RecordSent, ForgetSending, RecordDeadLetter. */
#include <stdio.h>
#include <string.h>

#include "cqrs_int.h"

static int check_notif(struct tw_cqrs_op *op, const char *id)
{
	size_t n = id ? strlen(id) : 0;

	if (n == 0 || n > TW_CQRS_NOTIF_ID_MAX)
		return tw_cqrs_op_fail(op, TW_ERR_CQRS_INVALID, "notification_id",
				       "notification_id must have 1 to 128 characters");
	return TW_OK;
}

/* Start a sent_notifications write: the op, then the id and the e-mail checked.
 * @return 0, or the op's failure (nothing submitted). */
static int begin_sent_record(struct tw_cqrs *q, struct tw_cqrs_op *op, int kind, const char *id,
			     const char *email, tw_cqrs_done_fn done, void *arg)
{
	char why[TW_CQRS_MSG_MAX];

	tw_cqrs_op_begin(op, q, kind, done, arg);
	if (check_notif(op, id) != TW_OK)
		return op->rc;
	if (tw_cqrs_check_email(email, why, sizeof why) != TW_OK)
		return tw_cqrs_op_fail(op, TW_ERR_CQRS_INVALID, "email", "email %s", why);
	return TW_OK;
}

int tw_cqrs_record_sent(struct tw_cqrs *q, struct tw_cqrs_op *op, const char *notification_id,
			const char *email, tw_cqrs_done_fn done, void *arg)
{
	const char *p[2] = {notification_id, email};

	if (begin_sent_record(q, op, TW_CQRS_K_SENT, notification_id, email, done, arg) != TW_OK)
		return op->rc;
	return tw_cqrs_submit_write(op,
				    "INSERT INTO sent_notifications (notification_id, email, state) "
				    "VALUES ($1, $2, 'sent') ON CONFLICT (notification_id) DO UPDATE SET "
				    "state = 'sent', email = EXCLUDED.email, sent_at = now()",
				    2, p);
}

int tw_cqrs_mark_sending(struct tw_cqrs *q, struct tw_cqrs_op *op, const char *notification_id,
			 const char *email, tw_cqrs_done_fn done, void *arg)
{
	const char *p[2] = {notification_id, email};

	if (begin_sent_record(q, op, TW_CQRS_K_SENDING, notification_id, email, done, arg) != TW_OK)
		return op->rc;
	/* A 'sent' row is never downgraded: the WHERE leaves it alone (0 rows). */
	return tw_cqrs_submit_write(op,
				    "INSERT INTO sent_notifications (notification_id, email, state) "
				    "VALUES ($1, $2, 'sending') ON CONFLICT (notification_id) DO UPDATE SET "
				    "email = EXCLUDED.email, sent_at = now() "
				    "WHERE sent_notifications.state = 'sending'",
				    2, p);
}

int tw_cqrs_forget_sending(struct tw_cqrs *q, struct tw_cqrs_op *op, const char *notification_id,
			   tw_cqrs_done_fn done, void *arg)
{
	const char *p[1] = {notification_id};

	tw_cqrs_op_begin(op, q, TW_CQRS_K_FORGET, done, arg);
	if (check_notif(op, notification_id) != TW_OK)
		return op->rc;
	return tw_cqrs_submit_write(op,
				    "DELETE FROM sent_notifications WHERE notification_id = $1 "
				    "AND state = 'sending'",
				    1, p);
}

int tw_cqrs_record_dead_letter(struct tw_cqrs *q, struct tw_cqrs_op *op,
			       const char *notification_id, const char *email,
			       const char *payload, const char *reason, int attempts,
			       tw_cqrs_done_fn done, void *arg)
{
	char ab[16];
	const char *p[5] = {notification_id, email, payload ? payload : "", reason ? reason : "",
			    ab};

	tw_cqrs_op_begin(op, q, TW_CQRS_K_DEAD, done, arg);
	if (check_notif(op, notification_id) != TW_OK)
		return op->rc;
	if (email == NULL || *email == '\0' || strlen(email) > TW_CQRS_EMAIL_MAX)
		return tw_cqrs_op_fail(op, TW_ERR_CQRS_INVALID, "email",
				       "email must have 1 to 254 characters");
	if (attempts < 0)
		return tw_cqrs_op_fail(op, TW_ERR_CQRS_INVALID, "attempts", "attempts must be >= 0");
	snprintf(ab, sizeof ab, "%d", attempts);
	return tw_cqrs_submit_write(op,
				    "INSERT INTO dead_letters (notification_id, email, payload, reason, "
				    "attempts) VALUES ($1, $2, $3, $4, $5)",
				    5, p);
}
