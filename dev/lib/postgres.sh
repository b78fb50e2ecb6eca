# shellcheck shell=bash disable=SC2034 # variables here are used by the other dev/lib files and dev/stack
# PostgreSQL on 127.0.0.1:5432, trust auth for user postgres.
# Order of preference: whatever already answers there (the machine's pre-started cluster),
# the Debian cluster (pg_ctlcluster), a private initdb cluster under $D/postgres.

PG_PORT=5432
PG_PRIVATE=$D/postgres

postgres_healthy() {
  pg_isready -h 127.0.0.1 -p "$PG_PORT" -t 2 -q
}

pg_bin_dir() {
  local dir
  dir=$(find /usr/lib/postgresql -mindepth 2 -maxdepth 2 -name bin -type d 2>/dev/null | sort -V | tail -n 1)
  [[ -n $dir ]] || return 1
  printf '%s' "$dir"
}

# The Debian cluster "VERSION main", if one exists.
pg_debian_cluster() {
  local v
  v=$(find /etc/postgresql -mindepth 2 -maxdepth 2 -name main -type d 2>/dev/null | sort -V | tail -n 1)
  [[ -n $v ]] || return 1
  v=${v#/etc/postgresql/}
  printf '%s' "${v%/main}"
}

postgres_start_private() {
  local bin
  bin=$(pg_bin_dir) || die_service postgres "no PostgreSQL binaries under /usr/lib/postgresql"
  if [[ ! -s $PG_PRIVATE/data/PG_VERSION ]]; then
    note "initialising a private Postgres cluster in $PG_PRIVATE/data"
    rm -rf "$PG_PRIVATE/data"
    install -d -o postgres -g postgres -m 0700 "$PG_PRIVATE" "$PG_PRIVATE/data"
    runuser -u postgres -- "$bin/initdb" -D "$PG_PRIVATE/data" -U postgres --auth=trust \
      -E UTF8 --locale=C.UTF-8 >>"$LOGS/postgres.log" 2>&1 ||
      die_service postgres "initdb failed"
  fi
  touch "$LOGS/postgres.log"
  chown postgres "$LOGS/postgres.log"
  runuser -u postgres -- "$bin/pg_ctl" -D "$PG_PRIVATE/data" -l "$LOGS/postgres.log" -w -t 30 \
    -o "-p $PG_PORT -k $PG_PRIVATE -c listen_addresses=127.0.0.1" start >/dev/null ||
    die_service postgres "pg_ctl start failed"
  echo private >"$RUN/postgres.owner"
}

postgres_start() {
  CURRENT_SERVICE=postgres
  if ! postgres_healthy; then
    local cluster
    if cluster=$(pg_debian_cluster) && command -v pg_ctlcluster >/dev/null &&
      pg_ctlcluster --skip-systemctl-redirect "$cluster" main start >>"$LOGS/postgres.log" 2>&1; then
      echo "cluster $cluster" >"$RUN/postgres.owner"
    else
      postgres_start_private
    fi
    wait_until 30 postgres_healthy || die_service postgres "not answering on 127.0.0.1:$PG_PORT"
  fi
  psql -h 127.0.0.1 -p "$PG_PORT" -U postgres -d postgres -tAc 'select 1' >/dev/null 2>>"$LOGS/postgres.log" ||
    die_service postgres "cannot connect as postgres without a password (trust auth expected)"
  postgres_ensure_connections
  if [[ -z $(psql -h 127.0.0.1 -p "$PG_PORT" -U postgres -d postgres -tAc \
    "select 1 from pg_database where datname = 'tenantry'") ]]; then
    createdb -h 127.0.0.1 -p "$PG_PORT" -U postgres tenantry
  fi
  CURRENT_SERVICE=""
}

# The test suite runs many portals at once, each with its own pool: 100 connections (the
# default) is not enough. Raising it needs a restart, done once.
PG_MIN_CONNECTIONS=400
postgres_ensure_connections() {
  local current cluster bin
  current=$(psql -h 127.0.0.1 -p "$PG_PORT" -U postgres -d postgres -tAc 'show max_connections')
  ((current >= PG_MIN_CONNECTIONS)) && return 0
  note "raising Postgres max_connections from $current to $PG_MIN_CONNECTIONS (restarts it once)"
  psql -h 127.0.0.1 -p "$PG_PORT" -U postgres -d postgres -qc \
    "ALTER SYSTEM SET max_connections = $PG_MIN_CONNECTIONS" >>"$LOGS/postgres.log" 2>&1
  if [[ -s $PG_PRIVATE/data/postmaster.pid ]] && bin=$(pg_bin_dir); then
    runuser -u postgres -- "$bin/pg_ctl" -D "$PG_PRIVATE/data" -m fast -w restart \
      -o "-p $PG_PORT -k $PG_PRIVATE -c listen_addresses=127.0.0.1" >>"$LOGS/postgres.log" 2>&1
  elif cluster=$(pg_debian_cluster); then
    pg_ctlcluster --skip-systemctl-redirect "$cluster" main restart -m fast >>"$LOGS/postgres.log" 2>&1
  fi
  wait_until 30 postgres_healthy || die_service postgres "not answering after the restart"
}

# Stops only what the stack started, unless named explicitly (FORCE=1):
# the machine's pre-started cluster belongs to the machine.
postgres_stop() {
  local force=${1:-0} owner="" bin cluster
  [[ -s $RUN/postgres.owner ]] && owner=$(<"$RUN/postgres.owner")
  if [[ -s $PG_PRIVATE/data/postmaster.pid ]] && bin=$(pg_bin_dir); then
    runuser -u postgres -- "$bin/pg_ctl" -D "$PG_PRIVATE/data" -m fast -w stop >/dev/null 2>&1 || true
  elif [[ $owner == cluster* || $force == 1 ]] && cluster=$(pg_debian_cluster); then
    pg_ctlcluster --skip-systemctl-redirect "$cluster" main stop -m fast >/dev/null 2>&1 || true
  fi
  rm -f "$RUN/postgres.owner"
  if ((force == 1)) || [[ -n $owner ]]; then
    wait_ports_closed 30 "$PG_PORT" || die_service postgres "port $PG_PORT still in use after stop: $(port_holder "$PG_PORT")"
  fi
}

postgres_summary() {
  say "postgres  127.0.0.1:$PG_PORT  user postgres (trust, no password)  database tenantry  PG_URL=postgres://postgres@127.0.0.1:$PG_PORT"
}
