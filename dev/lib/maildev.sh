# shellcheck shell=bash disable=SC2034 # variables here are used by the other dev/lib files and dev/stack
# maildev 3 (npm, pinned by dev/maildev/package-lock.json): SMTP capture on 127.0.0.1:1025,
# web UI and REST (GET /api/email, DELETE /api/email/all, GET /api/healthz) on 127.0.0.1:1080.

SMTP_PORT=1025
MAILDEV_PORT=1080
MAILDEV_URL=http://127.0.0.1:$MAILDEV_PORT

maildev_healthy() {
  service_pid maildev >/dev/null && http_ok "$MAILDEV_URL/api/healthz" && port_open "$SMTP_PORT"
}

maildev_start() {
  CURRENT_SERVICE=maildev
  local app_hash
  app_hash=$(node_app_sync maildev "$STACK_SRC/maildev")
  if maildev_healthy && [[ $(cat "$RUN/maildev.sha256" 2>/dev/null) == "$app_hash" ]]; then
    CURRENT_SERVICE=""
    return 0
  fi
  maildev_stop
  mkdir -p "$D/maildev/mail"
  # Run from its own directory: maildev reads config files from the cwd and its parents.
  spawn maildev env --chdir="$D/maildev" node "$D/maildev/app/node_modules/maildev/dist/bin/maildev.js" \
    --ip 127.0.0.1 --web-ip 127.0.0.1 --smtp "$SMTP_PORT" --web "$MAILDEV_PORT" \
    --mail-directory "$D/maildev/mail"
  printf '%s' "$app_hash" >"$RUN/maildev.sha256"
  wait_until 30 maildev_healthy || die_service maildev "GET $MAILDEV_URL/api/healthz is not 200"
  CURRENT_SERVICE=""
}

maildev_stop() {
  local pid
  stop_recorded maildev
  for pid in $(listener_pids "$MAILDEV_PORT" "$D/maildev/app") $(listener_pids "$SMTP_PORT" "$D/maildev/app"); do
    kill_pid_wait "$pid"
  done
  rm -f "$RUN/maildev.sha256"
  wait_ports_closed 20 "$SMTP_PORT" "$MAILDEV_PORT" || die_service maildev "ports $SMTP_PORT/$MAILDEV_PORT still in use after stop: $(port_holder "$SMTP_PORT") $(port_holder "$MAILDEV_PORT")"
}

maildev_summary() {
  say "maildev   smtp 127.0.0.1:$SMTP_PORT (no auth, no TLS)  web+REST $MAILDEV_URL (GET /api/email, DELETE /api/email/all)"
}
