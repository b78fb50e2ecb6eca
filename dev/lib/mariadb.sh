# shellcheck shell=bash disable=SC2034 # variables here are used by the other dev/lib files and dev/stack
# A private MariaDB on 127.0.0.1:3307 with TLS from the stack CA. The machine's own MariaDB
# (3306) is left alone: --no-defaults everywhere keeps /etc/mysql out of it.

MYSQL_PORT=3307
MYSQL_DIR=$D/mariadb
MYSQL_SOCKET=$MYSQL_DIR/mysqld.sock
MYSQL_ADMIN_USER=tenantry_admin

mariadb_root() {
  mariadb --no-defaults --protocol=socket -S "$MYSQL_SOCKET" -u root
}

mariadb_admin_tls() {
  MYSQL_PWD=$(secret mysql-admin-password) mariadb --no-defaults --protocol=tcp --ssl --ssl-verify-server-cert \
    --ssl-ca="$CA_CRT" -h 127.0.0.1 -P "$MYSQL_PORT" -u "$MYSQL_ADMIN_USER" --connect-timeout=3 "$@"
}

mariadb_pinged() {
  mariadb-admin --no-defaults --protocol=socket -S "$MYSQL_SOCKET" -u root --connect-timeout=2 ping && port_open "$MYSQL_PORT"
}

mariadb_healthy() {
  service_pid mariadb >/dev/null && mariadb_admin_tls -N -e 'select 1' >/dev/null 2>&1
}

mariadb_provision_user() {
  # The password travels on stdin, never on a command line.
  mariadb_root <<SQL
CREATE USER IF NOT EXISTS '$MYSQL_ADMIN_USER'@'%' IDENTIFIED BY '$(secret mysql-admin-password)' REQUIRE SSL;
ALTER USER '$MYSQL_ADMIN_USER'@'%' IDENTIFIED BY '$(secret mysql-admin-password)' REQUIRE SSL;
GRANT ALL PRIVILEGES ON *.* TO '$MYSQL_ADMIN_USER'@'%' WITH GRANT OPTION;
FLUSH PRIVILEGES;
SQL
}

mariadb_start() {
  CURRENT_SERVICE=mariadb
  local cert_state
  cert_state=$(ensure_server_cert mariadb)
  if [[ -z $cert_state ]] && mariadb_healthy; then
    CURRENT_SERVICE=""
    return 0
  fi
  mariadb_stop
  if [[ ! -d $MYSQL_DIR/mysql ]]; then
    note "initialising MariaDB datadir $MYSQL_DIR"
    rm -rf "$MYSQL_DIR"
    mkdir -p "$MYSQL_DIR"
    mariadb-install-db --no-defaults --datadir="$MYSQL_DIR" --user=root \
      --auth-root-authentication-method=socket --skip-test-db >>"$LOGS/mariadb.log" 2>&1 ||
      die_service mariadb "mariadb-install-db failed"
  fi
  spawn mariadb mariadbd --no-defaults --datadir="$MYSQL_DIR" --socket="$MYSQL_SOCKET" \
    --pid-file="$RUN/mariadbd.pid" --port="$MYSQL_PORT" --bind-address=127.0.0.1 --user=root \
    --skip-name-resolve --ssl-ca="$CA_CRT" --ssl-cert="$CERTS/mariadb.crt" --ssl-key="$CERTS/mariadb.key" \
    --log-error="$LOGS/mariadb.log"
  wait_until 60 mariadb_pinged || die_service mariadb "not answering on $MYSQL_SOCKET / 127.0.0.1:$MYSQL_PORT"
  mariadb_provision_user
  wait_until 10 mariadb_healthy ||
    die_service mariadb "TLS login as $MYSQL_ADMIN_USER (verifying the server cert) does not work"
  CURRENT_SERVICE=""
}

mariadb_stop() {
  local pid
  if pid=$(service_pid mariadb); then
    mariadb-admin --no-defaults --protocol=socket -S "$MYSQL_SOCKET" -u root shutdown >/dev/null 2>&1 || true
    kill_pid_wait "$pid" 30
  fi
  rm -f "$(pid_file mariadb)"
  for pid in $(listener_pids "$MYSQL_PORT" "$MYSQL_DIR"); do kill_pid_wait "$pid" 30; done
  wait_ports_closed 30 "$MYSQL_PORT" || die_service mariadb "port $MYSQL_PORT still in use after stop: $(port_holder "$MYSQL_PORT")"
}

mariadb_summary() {
  say "mariadb   127.0.0.1:$MYSQL_PORT (TLS, CA $CA_CRT)  user $MYSQL_ADMIN_USER  password: see $SECRETS/mysql-admin-password  root via socket $MYSQL_SOCKET"
}
