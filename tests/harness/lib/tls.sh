# shellcheck shell=bash
# The harness's TLS material (DIR/tls): a throwaway CA, a server certificate it signed for
# localhost and 127.0.0.1 (PostgreSQL's, and the SCRAM broker's SASL_SSL listener's), and a CA
# that signed nothing. Made afresh by every `start`, valid for a week, never reused. Sourced by
# harness.sh after common.sh; uses DIR.

# DIR/tls/NAME if it exists ("" for a harness started before TLS existed).
tls_file() { if [[ -f "$DIR/tls/$1" ]]; then printf '%s/tls/%s' "$DIR" "$1"; fi; }

make_tls() {
  local tls="$DIR/tls"
  mkdir -p "$tls"
  chmod 755 "$tls"  # certificates are public; every key file is created 0600
  cat >"$tls/openssl.cnf" <<'CNF'
[req]
distinguished_name = dn
prompt = no
[dn]
CN = placeholder
[ca]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
[server]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = DNS:localhost, IP:127.0.0.1
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
CNF
  # P-256 keys: clients that negotiate TLS by default (libpq's sslmode=prefer) pay next to
  # nothing for the handshake.
  local new_key=(-newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes)
  if ! (
    set -e
    umask 077
    openssl req -x509 -new -config "$tls/openssl.cnf" -extensions ca -days 7 "${new_key[@]}" \
      -subj "/CN=outbox-relay harness CA $(random_hex 4)" -keyout "$tls/ca.key" -out "$tls/ca.crt"
    openssl req -x509 -new -config "$tls/openssl.cnf" -extensions ca -days 7 "${new_key[@]}" \
      -subj "/CN=outbox-relay harness unrelated CA $(random_hex 4)" \
      -keyout "$tls/unrelated-ca.key" -out "$tls/unrelated-ca.crt"
    openssl req -new -config "$tls/openssl.cnf" "${new_key[@]}" -subj "/CN=localhost" \
      -keyout "$tls/server.key" -out "$tls/server.csr"
    openssl x509 -req -in "$tls/server.csr" -CA "$tls/ca.crt" -CAkey "$tls/ca.key" \
      -set_serial "0x$(random_hex 8)" -days 7 -extfile "$tls/openssl.cnf" -extensions server \
      -out "$tls/server.crt"
    # Kafka reads a PEM keystore file only with an encrypted PKCS#8 key and ssl.key.password,
    # and Java 17 decrypts no PBES2 key: PKCS#12's SHA-1/3DES it is, for a throwaway key.
    random_hex >"$tls/kafka-key.password"
    openssl pkcs8 -topk8 -in "$tls/server.key" -v1 PBE-SHA1-3DES \
      -passout "file:$tls/kafka-key.password" -out "$tls/kafka-keystore.pem"
    cat "$tls/server.crt" >>"$tls/kafka-keystore.pem"
  ) >"$tls/openssl.log" 2>&1; then
    cat "$tls/openssl.log" >&2
    die "could not make the test CA and certificates"
  fi
  chmod 644 "$tls/ca.crt" "$tls/unrelated-ca.crt" "$tls/server.crt"
  rm -f "$tls/server.csr" "$tls/unrelated-ca.key"  # the unrelated CA never signs anything
}
