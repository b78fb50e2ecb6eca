# shellcheck shell=bash disable=SC2034 # variables here are used by the other dev/lib files and dev/stack
# The stack's test CA and the server certificates it issues.
# The CA is created once and never replaced: other checkouts, tests and the kube-sim trust it.

CA_SUBJECT="/CN=Tenantry Stack CA"

ensure_ca() {
  if [[ -s $CA_CRT && -s $CA_KEY ]]; then
    return 0
  fi
  [[ -e $CA_CRT || -e $CA_KEY ]] && die "half a CA in $D/ca (one of ca.crt/ca.key missing): refusing to replace it"
  note "creating the stack CA ($CA_CRT)"
  (
    umask 077
    openssl req -x509 -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
      -keyout "$CA_KEY.tmp" -out "$CA_CRT.tmp" -days 3650 -subj "$CA_SUBJECT" \
      -addext "basicConstraints=critical,CA:TRUE" \
      -addext "keyUsage=critical,keyCertSign,cRLSign" \
      -addext "subjectKeyIdentifier=hash" 2>/dev/null
  )
  chmod 0644 "$CA_CRT.tmp"
  mv "$CA_KEY.tmp" "$CA_KEY"
  mv "$CA_CRT.tmp" "$CA_CRT"
}

# cert_usable NAME: the cert exists, is from the current CA and has 30+ days left.
cert_usable() {
  local crt=$CERTS/$1.crt key=$CERTS/$1.key
  [[ -s $crt && -s $key ]] &&
    openssl x509 -in "$crt" -noout -checkend 2592000 >/dev/null 2>&1 &&
    openssl verify -CAfile "$CA_CRT" "$crt" >/dev/null 2>&1
}

# ensure_server_cert NAME SAN...: $CERTS/NAME.crt/.key (EC P-256, key mode 0600) for the
# given subjectAltNames (always plus IP:127.0.0.1 and DNS:localhost).
# Prints "issued" when it made a new one, so callers can restart their server.
ensure_server_cert() {
  local name=$1
  shift
  cert_usable "$name" && return 0
  local sans="IP:127.0.0.1,DNS:localhost" extra
  for extra in "$@"; do sans+=",$extra"; done
  local crt=$CERTS/$name.crt key=$CERTS/$name.key csr ext
  csr=$(mktemp) ext=$(mktemp)
  (
    umask 077
    openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
      -keyout "$key.tmp" -out "$csr" -subj "/CN=$name" 2>/dev/null
  )
  cat >"$ext" <<EOF
basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=serverAuth
subjectAltName=$sans
subjectKeyIdentifier=hash
authorityKeyIdentifier=keyid
EOF
  openssl x509 -req -in "$csr" -CA "$CA_CRT" -CAkey "$CA_KEY" -CAcreateserial \
    -CAserial "$D/ca/ca.srl" -days 825 -sha256 -extfile "$ext" -out "$crt.tmp" 2>/dev/null
  rm -f "$csr" "$ext"
  chmod 0600 "$key.tmp"
  mv "$key.tmp" "$key"
  mv "$crt.tmp" "$crt"
  echo issued
}
