#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# make-test-certs.sh DIR - throw-away CA and "localhost" server certificate for the TLS unit test.
set -euo pipefail
d=$1
mkdir -p "$d"
cd "$d"
q() { openssl "$@" 2>/dev/null; }
for ca in ca other-ca; do
	q req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 30 \
		-subj "/CN=tickwatch test $ca" -keyout "$ca.key" -out "$ca.pem"
done
q req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=localhost" \
	-keyout server.key -out server.csr
printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\n' >ext.cnf
q x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 30 \
	-extfile ext.cnf -out server.pem
echo "test certificates in $d"
