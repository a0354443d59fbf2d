#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# run.sh - runs test_attach.py in a private mount namespace whose /etc/hosts maps the stack's
# TLS names (kafkaN/db/smtp.tickwatch.test, TW_STACK_TLS_NAMES) to 127.0.0.1, as a device's
# DNS would map them to the real servers; the real /etc/hosts is never changed.
# usage: run.sh TICKWATCH_BINARY
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
src=$(cd "$here/../../.." && pwd)
if [ -z "${TW_STACK_TLS_NAMES:-}" ]; then
	env_out=$("$src/scripts/stack.sh" env) || { echo "FAIL - the stack is not up (scripts/stack.sh up)"; exit 1; }
	eval "$env_out"
fi
[ -n "${TW_STACK_TLS_NAMES:-}" ] || { echo "FAIL - the stack has no SASL_SSL/TLS listeners: restart it (scripts/stack.sh down; up)"; exit 1; }
hosts=$(mktemp /tmp/tw-attach-hosts.XXXXXX)
trap 'rm -f "$hosts"' EXIT
{ cat /etc/hosts; echo "127.0.0.1 $TW_STACK_TLS_NAMES"; } >"$hosts"
chmod 0644 "$hosts"
# shellcheck disable=SC2016 # $1 and $@ belong to the inner sh
unshare -m -- sh -c 'mount --bind "$1" /etc/hosts && shift && exec "$@"' sh "$hosts" \
	python3 "$here/test_attach.py" "$1"
