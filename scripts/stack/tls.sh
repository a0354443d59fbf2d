# SPDX-License-Identifier: MIT
# shellcheck shell=bash
# tls.sh - a fresh test CA and server certificate per stack, in $STATE/tls (sourced by
# scripts/stack.sh); the SMTP and quote servers, the Kafka brokers' SASL_SSL listeners and
# PostgreSQL present it, clients trust $STATE/tls/ca.crt. The certificate is valid for
# 127.0.0.1, localhost and the names of TLS_NAMES (the production-like attach of
# docs/device.md: resolved through /etc/hosts, see docs/stack.md "SASL_SSL and TLS").
# The quote server presents its own chain instead, like Yahoo's and Stooq's front ends: an
# RSA-2048 leaf under an RSA intermediate under an RSA root (three levels, tls_make_quotes);
# that root is appended to ca.crt, so clients trust both with the one bundle.
TLS_NAMES=(kafka1.tickwatch.test kafka2.tickwatch.test kafka3.tickwatch.test db.tickwatch.test
    smtp.tickwatch.test)

tls_make() {
    local d=$STATE/tls
    [ -f "$d/server.crt" ] && [ -f "$d/ca.crt" ] && { tls_make_quotes; return; }
    mkdir -p "$d"
    (
        cd "$d"
        umask 077
        openssl ecparam -name prime256v1 -genkey -noout -out ca.key 2>/dev/null
        openssl req -x509 -new -key ca.key -sha256 -days 30 -subj "/CN=tickwatch stack test CA $(date -u +%Y%m%dT%H%M%SZ)" \
            -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
            -out ca.crt 2>/dev/null
        openssl ecparam -name prime256v1 -genkey -noout -out server.key 2>/dev/null
        openssl req -new -key server.key -subj "/CN=localhost" -out server.csr 2>/dev/null
        printf '%s\n' "basicConstraints=critical,CA:FALSE" "keyUsage=critical,digitalSignature,keyEncipherment" \
            "extendedKeyUsage=serverAuth" \
            "subjectAltName=IP:127.0.0.1,DNS:localhost$(printf ',DNS:%s' "${TLS_NAMES[@]}")" >server.ext
        openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 30 -sha256 \
            -extfile server.ext -out server.crt 2>/dev/null
        cat server.crt ca.crt >server-chain.crt
        # Kafka's PEM key store: the key in PKCS#8, then the certificate chain.
        { openssl pkcs8 -topk8 -nocrypt -in server.key; cat server.crt ca.crt; } >kafka-keystore.pem
        chmod 644 ca.crt server.crt server-chain.crt
        rm -f server.csr server.ext ca.srl
    ) || die "could not make the test CA / server certificate with openssl"
    tls_make_quotes
}

tls_make_quotes() {  # $STATE/tls/quotes-chain.crt (leaf + intermediate), quotes.key; root in ca.crt
    local d=$STATE/tls
    [ -f "$d/quotes-chain.crt" ] && return 0
    (
        cd "$d"
        umask 077
        openssl req -x509 -newkey rsa:2048 -nodes -keyout q-root.key -sha256 -days 30 \
            -subj "/O=tickwatch stack/CN=tickwatch stack quote root CA $(date -u +%Y%m%dT%H%M%SZ)" \
            -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
            -out q-root.crt 2>/dev/null
        openssl req -new -newkey rsa:2048 -nodes -keyout q-int.key -subj "/O=tickwatch stack/CN=tickwatch stack quote intermediate CA" \
            -out q-int.csr 2>/dev/null
        printf '%s\n' "basicConstraints=critical,CA:TRUE,pathlen:0" "keyUsage=critical,keyCertSign,cRLSign" >q-int.ext
        openssl x509 -req -in q-int.csr -CA q-root.crt -CAkey q-root.key -CAcreateserial -days 30 -sha256 \
            -extfile q-int.ext -out q-int.crt 2>/dev/null
        openssl req -new -newkey rsa:2048 -nodes -keyout quotes.key -subj "/CN=localhost" -out q-leaf.csr 2>/dev/null
        printf '%s\n' "basicConstraints=critical,CA:FALSE" "keyUsage=critical,digitalSignature,keyEncipherment" \
            "extendedKeyUsage=serverAuth" "subjectAltName=IP:127.0.0.1,DNS:localhost" >q-leaf.ext
        openssl x509 -req -in q-leaf.csr -CA q-int.crt -CAkey q-int.key -CAcreateserial -days 30 -sha256 \
            -extfile q-leaf.ext -out q-leaf.crt 2>/dev/null
        cat q-leaf.crt q-int.crt >quotes-chain.crt
        cat q-root.crt >>ca.crt
        chmod 644 ca.crt quotes-chain.crt q-root.crt
        rm -f q-*.csr q-*.ext q-*.srl q-root.key q-int.key
    ) || die "could not make the quote server's RSA chain with openssl"
}
