# shellcheck shell=bash disable=SC2034 # variables here are used by the other dev/lib files and dev/stack
# The dev OIDC provider (dev/idp/server.mjs) at http://127.0.0.1:9000, issuer exactly that.
# Restarted when its code or lockfile differs from what the running one was started from.

IDP_PORT=9000
OIDC_ISSUER=http://127.0.0.1:$IDP_PORT

idp_healthy() {
  service_pid idp >/dev/null &&
    curl --noproxy "*" -fs --max-time 3 "$OIDC_ISSUER/.well-known/openid-configuration" |
    grep -qF "\"issuer\":\"$OIDC_ISSUER\""
}

idp_start() {
  CURRENT_SERVICE=idp
  local app_hash
  mkdir -p "$D/idp"
  chmod 0700 "$D/idp"
  app_hash=$(node_app_sync idp "$STACK_SRC/idp" server.mjs)
  if idp_healthy && [[ $(cat "$RUN/idp.sha256" 2>/dev/null) == "$app_hash" ]]; then
    CURRENT_SERVICE=""
    return 0
  fi
  idp_stop
  spawn idp env TENANTRY_STACK_DIR="$D" IDP_STATE_DIR="$D/idp" IDP_PORT="$IDP_PORT" \
    OIDC_ISSUER="$OIDC_ISSUER" STACK_CA="$CA_CRT" LDAPS_URL="$LDAPS_URL" LDAP_BASE_DN="$AD_BASE_DN" \
    AD_UPN_SUFFIX="$AD_DNS_DOMAIN" LDAP_BIND_DN="$LDAP_BIND_DN" \
    LDAP_BIND_PASSWORD_FILE="$SECRETS/ldap-bind-password" \
    OIDC_CLIENT_SECRET_FILE="$SECRETS/oidc-client-secret" \
    node "$D/idp/app/server.mjs"
  printf '%s' "$app_hash" >"$RUN/idp.sha256"
  wait_until 30 idp_healthy || die_service idp "no discovery document at $OIDC_ISSUER/.well-known/openid-configuration"
  CURRENT_SERVICE=""
}

idp_stop() {
  local pid
  stop_recorded idp
  for pid in $(listener_pids "$IDP_PORT" "$D/idp/app/server.mjs"); do kill_pid_wait "$pid"; done
  rm -f "$RUN/idp.sha256"
  wait_ports_closed 20 "$IDP_PORT" || die_service idp "port $IDP_PORT still in use after stop: $(port_holder "$IDP_PORT")"
}

idp_summary() {
  say "idp       $OIDC_ISSUER (issuer)  client tenantry secret: see $SECRETS/oidc-client-secret; client other-client secret other-secret  users mmosley/jjackson/pplatt password start123"
}
