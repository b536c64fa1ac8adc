#!/bin/sh
# Regenerates the fixtures of src/tls/ocsp/tests.rs with openssl: a CA, a leaf whose
# Authority Information Access names http://127.0.0.1:8888/ocsp, a leaf without one, a
# delegated responder (OCSPSigning, issued by the CA), another CA under the same name, an
# unrelated root that is neither (root-signer.der is signed by it), and responses made by
# `openssl ocsp` for them (request.der is openssl's request for leaf.pem). The tests take "now" from each response, so they never expire.
set -eu
cd "$(dirname "$0")"
t=$(mktemp -d)
trap 'rm -rf "$t"' EXIT
key() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" 2>/dev/null; }
key ca.key
openssl req -x509 -key ca.key -out ca.pem -subj "/CN=anx OCSP test CA" -days 36500 2>/dev/null
key other-ca.key
openssl req -x509 -key other-ca.key -out other-ca.pem -subj "/CN=anx OCSP test CA" -days 36500 2>/dev/null
key "$t/leaf.key"
openssl req -new -key "$t/leaf.key" -out "$t/leaf.csr" -subj "/CN=a.test" 2>/dev/null
printf 'subjectAltName=DNS:a.test\nauthorityInfoAccess=OCSP;URI:http://127.0.0.1:8888/ocsp,caIssuers;URI:http://127.0.0.1:8888/ca.crt\n' > "$t/leaf.ext"
openssl x509 -req -in "$t/leaf.csr" -CA ca.pem -CAkey ca.key -set_serial 0x1001 -days 36500 -extfile "$t/leaf.ext" -out leaf.pem 2>/dev/null
printf 'subjectAltName=DNS:a.test\n' > "$t/plain.ext"
openssl x509 -req -in "$t/leaf.csr" -CA ca.pem -CAkey ca.key -set_serial 0x1002 -days 36500 -extfile "$t/plain.ext" -out no-aia.pem 2>/dev/null
key responder.key
key third-root.key
openssl req -x509 -key third-root.key -out third-root.pem -subj "/CN=anx OCSP test root" -days 36500 2>/dev/null
openssl req -new -key responder.key -out "$t/responder.csr" -subj "/CN=anx OCSP responder" 2>/dev/null
printf 'extendedKeyUsage=OCSPSigning\n' > "$t/responder.ext"
openssl x509 -req -in "$t/responder.csr" -CA ca.pem -CAkey ca.key -set_serial 0x2001 -days 36500 -extfile "$t/responder.ext" -out responder.pem 2>/dev/null
openssl ocsp -issuer ca.pem -cert leaf.pem -no_nonce -reqout request.der 2>/dev/null
printf 'V\t991231235959Z\t\t1001\tunknown\t/CN=a.test\n' > "$t/good.txt"
printf 'R\t991231235959Z\t240101000000Z\t1001\tunknown\t/CN=a.test\n' > "$t/revoked.txt"
: > "$t/empty.txt"
respond() { # index signer key out [extra]
  openssl ocsp -index "$t/$1" -rsigner "$2" -rkey "$3" -CA ca.pem -reqin request.der -respout "$4" ${5:-} 2>/dev/null >/dev/null
}
respond good.txt ca.pem ca.key good.der "-ndays 1"
respond good.txt ca.pem ca.key good-no-next.der
respond revoked.txt ca.pem ca.key revoked.der "-ndays 1"
respond empty.txt ca.pem ca.key unknown.der "-ndays 1"
respond good.txt other-ca.pem other-ca.key wrong-signer.der "-ndays 1"
respond good.txt responder.pem responder.key delegated.der "-ndays 1"
respond good.txt ca.pem ca.key by-key.der "-ndays 1 -resp_key_id"
respond good.txt third-root.pem third-root.key root-signer.der "-ndays 1"
rm -f ca.key other-ca.key responder.key third-root.key
key third-root.key
openssl req -x509 -key third-root.key -out third-root.pem -subj "/CN=anx OCSP test root" -days 36500 2>/dev/null
