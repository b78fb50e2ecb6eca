# shellcheck shell=bash disable=SC2034 # variables here are used by the other dev/lib files and dev/stack
# The in-repo Kubernetes API-server simulator (workspace member kube-sim/) on https://127.0.0.1:6443.
# Built from this checkout; restarted when the running one came from a different binary.
# While the simulator cannot `serve` yet, it is reported as not available and the rest goes on.

KUBE_PORT=6443
KUBE_API=https://127.0.0.1:$KUBE_PORT
KUBECONFIG_ADMIN=$D/kube/admin.kubeconfig
KUBE_SIM_BIN=${CARGO_TARGET_DIR:-$REPO_ROOT/target}/debug/kube-sim
KUBE_SIM_UNAVAILABLE=""

kube_sim_healthy() {
  service_pid kube-sim >/dev/null &&
    curl --noproxy "*" -fs -o /dev/null --max-time 3 --cacert "$CA_CRT" "$KUBE_API/readyz"
}

kube_sim_build() {
  local log=$LOGS/kube-sim-build.log
  note "kube-sim: cargo build -p kube-sim --bin kube-sim"
  : >"$log"
  # Progress to the terminal (stderr) and the log; a failed build is "not yet available".
  if ! (cd "$REPO_ROOT" && cargo build -p kube-sim --bin kube-sim 2>&1) | tee -a "$log" >&2; then
    KUBE_SIM_UNAVAILABLE="build failed: see $log"
    return 1
  fi
  if [[ ! -x $KUBE_SIM_BIN ]]; then
    KUBE_SIM_UNAVAILABLE="no binary at $KUBE_SIM_BIN"
    return 1
  fi
  if ! "$KUBE_SIM_BIN" --help 2>&1 | grep -qw serve; then
    KUBE_SIM_UNAVAILABLE="the binary has no 'serve' subcommand yet"
    return 1
  fi
}

kube_sim_start() {
  CURRENT_SERVICE=kube-sim
  KUBE_SIM_UNAVAILABLE=""
  local sha
  if ! kube_sim_build; then
    # Not ours to judge: a sim already running from an earlier binary is left as it is.
    CURRENT_SERVICE=""
    return 0
  fi
  # The host trusts the portal's own issuer (http on the local stack, so the dev-only flag). Like
  # the OpenBao dev server it keeps its state in memory: a restart starts from a clean cluster.
  local args=(serve --listen "127.0.0.1:$KUBE_PORT" --ca-cert "$CA_CRT" --ca-key "$CA_KEY"
    --kubeconfig-out "$KUBECONFIG_ADMIN" --state-dir "$D/kube"
    --oidc-issuer-url "http://127.0.0.1:8080/oidc" --oidc-client-id kubernetes
    --oidc-username-claim preferred_username --oidc-username-prefix - --oidc-groups-claim groups
    --oidc-allow-http-issuer)
  sha=$( (sha256_of "$KUBE_SIM_BIN"; printf '%s\n' "${args[@]}") | sha256_of -)
  if kube_sim_healthy && [[ $(cat "$RUN/kube-sim.sha256" 2>/dev/null) == "$sha" ]]; then
    # Seeding is a server-side apply: cheap, and it brings a running simulator up to date.
    kube_sim_seed
    CURRENT_SERVICE=""
    return 0
  fi
  kube_sim_stop
  mkdir -p "$D/kube"
  spawn kube-sim "$KUBE_SIM_BIN" "${args[@]}"
  printf '%s' "$sha" >"$RUN/kube-sim.sha256"
  printf '%s' "$KUBE_SIM_BIN" >"$RUN/kube-sim.bin"
  wait_until 60 kube_sim_healthy || die_service kube-sim "GET $KUBE_API/readyz is not 200"
  kube_sim_seed
  CURRENT_SERVICE=""
}

# What a platform team prepares on a host cluster before Tenantry runs: cert-manager's CA
# ClusterIssuer (signing with the stack CA, so MariaDB trusts the client certificates it issues),
# and the chart's host role for tenant admins, as a release named `tenantry` would install it.
kube_sim_seed() {
  local crt key rules
  crt=$(sed 's/^/    /' "$CA_CRT")
  key=$(sed 's/^/    /' "$CA_KEY")
  rules=$(grep -v '^#' "$REPO_ROOT/charts/tenantry/files/tenant-host-rules.yaml")
  kubectl --kubeconfig "$KUBECONFIG_ADMIN" apply --server-side --field-manager=tenantry-stack -f - \
    >>"$LOGS/kube-sim.log" 2>&1 <<EOF || die_service kube-sim "seeding the cert-manager ClusterIssuer failed"
apiVersion: v1
kind: Namespace
metadata:
  name: cert-manager
---
apiVersion: v1
kind: Secret
type: kubernetes.io/tls
metadata:
  name: tenantry-ca
  namespace: cert-manager
stringData:
  tls.crt: |
$crt
  tls.key: |
$key
---
apiVersion: cert-manager.io/v1
kind: ClusterIssuer
metadata:
  name: tenantry-ca
spec:
  ca:
    secretName: tenantry-ca
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata:
  name: tenantry-tenant-host
rules:
$rules
EOF
}

kube_sim_stop() {
  local pid
  stop_recorded kube-sim
  for pid in $(listener_pids "$KUBE_PORT" "kube-sim"); do kill_pid_wait "$pid"; done
  rm -f "$RUN/kube-sim.sha256"
  wait_ports_closed 20 "$KUBE_PORT" || die_service kube-sim "port $KUBE_PORT still in use after stop: $(port_holder "$KUBE_PORT")"
}

kube_sim_summary() {
  if [[ -n $KUBE_SIM_UNAVAILABLE ]]; then
    say "kube-sim  not yet available ($KUBE_SIM_UNAVAILABLE)"
  else
    say "kube-sim  $KUBE_API (CA $CA_CRT)  kubeconfig $KUBECONFIG_ADMIN"
  fi
}
