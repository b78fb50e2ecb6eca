# shellcheck shell=bash disable=SC2034 # variables here are used by the other dev/lib files and dev/stack
# Shared helpers for dev/stack: paths, logging, failure reporting, process and port handling.
# Clients get every address on their command line: the caller may have stack.env exported
# (MYSQL_HOST, for one, is also read by the mariadb client).
# Sourced by dev/stack; every other dev/lib/*.sh relies on the variables set here.

D=${TENANTRY_STACK_DIR:-/var/lib/tenantry-stack}
CA_CRT=$D/ca/ca.crt
CA_KEY=$D/ca/ca.key
CERTS=$D/certs
SECRETS=$D/secrets
LOGS=$D/logs
RUN=$D/run

# Domain facts shared by the directory, the IdP and stack.env.
AD_REALM=CORP.EXAMPLE.COM
AD_DOMAIN=CORP
AD_DNS_DOMAIN=corp.example.com
AD_BASE_DN=DC=corp,DC=example,DC=com
# A fixed DC name (not the machine's, which varies) keeps DNs, SANs and logs the same everywhere.
AD_DC_HOST=tenantry-dc

# The service whose start is in progress: named in failure reports.
CURRENT_SERVICE=""

say() { printf '%s\n' "$*"; }
note() { printf 'stack: %s\n' "$*" >&2; }

# Print the failing service, the tail of its log, and exit non-zero.
die_service() {
  local svc=$1 reason=$2 log=${3:-$LOGS/$1.log}
  printf 'stack: %s FAILED: %s\n' "$svc" "$reason" >&2
  if [[ -s $log ]]; then
    printf -- '--- last 30 lines of %s ---\n' "$log" >&2
    tail -n 30 "$log" >&2
    printf -- '---\n' >&2
  fi
  exit 1
}

die() {
  printf 'stack: error: %s\n' "$*" >&2
  exit 1
}

# ERR trap: a command failed under `set -e` somewhere inside a service's start.
on_error() {
  local rc=$1 line=$2 cmd=$3
  # In a subshell ($(…)), leave the reporting to the caller, which sees the exit status.
  ((BASHPID == $$)) || exit "$rc"
  trap - ERR
  if [[ -n $CURRENT_SERVICE ]]; then
    die_service "$CURRENT_SERVICE" "command failed (exit $rc, ${BASH_SOURCE[1]##*/}:$line): $cmd"
  fi
  printf 'stack: error: command failed (exit %s, %s:%s): %s\n' "$rc" "${BASH_SOURCE[1]##*/}" "$line" "$cmd" >&2
  exit "$rc"
}

ensure_dirs() {
  mkdir -p "$D" "$LOGS" "$RUN" "$CERTS" "$D/ca"
  install -d -m 0700 "$SECRETS"
}

# A random value of N alphanumerics (no shell, SQL or LDIF metacharacters to escape).
random_alnum() {
  local n=${1:-32} out=""
  while ((${#out} < n)); do
    out+=$(openssl rand -base64 48 | tr -dc 'A-Za-z0-9')
  done
  printf '%s' "${out:0:n}"
}

# ensure_secret NAME [SUFFIX]: create $SECRETS/NAME once (mode 0600, no trailing newline).
ensure_secret() {
  local file=$SECRETS/$1 suffix=${2:-}
  [[ -s $file ]] && return 0
  (umask 077 && printf '%s%s' "$(random_alnum 28)" "$suffix" >"$file.tmp")
  mv "$file.tmp" "$file"
}

# ensure_fixed_secret NAME VALUE: a credential file with a known value (for config files that
# take every credential from a file, e.g. config/demo.toml).
ensure_fixed_secret() {
  local file=$SECRETS/$1
  [[ -f $file && $(<"$file") == "$2" ]] && return 0
  (umask 077 && printf '%s' "$2" >"$file.tmp")
  mv "$file.tmp" "$file"
}

# An RSA private key (PKCS#8 PEM) kept under secrets/, made once.
ensure_rsa_key() {
  local file=$SECRETS/$1
  [[ -s $file ]] && return 0
  (umask 077 && openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$file.tmp" 2>/dev/null)
  mv "$file.tmp" "$file"
}

secret() { cat "$SECRETS/$1"; }

# --- processes -----------------------------------------------------------------

pid_file() { printf '%s/%s.pid' "$RUN" "$1"; }

# A process's start time (clock ticks since boot): with the pid, it names one process for good.
pid_starttime() {
  local stat
  stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
  stat=${stat##*) }
  # shellcheck disable=SC2086 # word splitting into fields is the point
  set -- $stat
  printf '%s' "${20}"
}

# The live pid recorded for a service, or nothing. A pid file outlives its process (a machine
# reused after its processes were ended): the recorded start time guards against pid reuse.
service_pid() {
  local f pid started
  f=$(pid_file "$1")
  [[ -s $f ]] || return 1
  read -r pid started <"$f" || true
  [[ $pid =~ ^[0-9]+$ ]] || return 1
  [[ $(pid_starttime "$pid") == "$started" ]] || return 1
  printf '%s' "$pid"
}

# spawn SERVICE CMD...: run CMD detached from this shell (own session, survives our exit),
# output appended to the service's log, pid recorded.
spawn() {
  local svc=$1
  shift
  local log=$LOGS/$svc.log
  printf '\n=== %s starting %s ===\n' "$(date -Is)" "$svc" >>"$log"
  setsid nohup "$@" >>"$log" 2>&1 </dev/null &
  printf '%s %s\n' "$!" "$(pid_starttime "$!")" >"$(pid_file "$svc")"
}

# kill_pid_wait PID [SECONDS]: TERM, wait, then KILL.
kill_pid_wait() {
  local pid=$1 secs=${2:-15} deadline
  kill -0 "$pid" 2>/dev/null || return 0
  kill -TERM "$pid" 2>/dev/null || true
  deadline=$((SECONDS + secs))
  while kill -0 "$pid" 2>/dev/null; do
    if ((SECONDS >= deadline)); then
      kill -KILL "$pid" 2>/dev/null || true
      sleep 0.2
      break
    fi
    sleep 0.1
  done
}

# Stop the process recorded for a service (and its process group, which setsid made its own).
stop_recorded() {
  local svc=$1 pid
  if pid=$(service_pid "$svc"); then
    kill -TERM -- "-$pid" 2>/dev/null || true
    kill_pid_wait "$pid" "${2:-15}"
    kill -KILL -- "-$pid" 2>/dev/null || true
  fi
  rm -f "$(pid_file "$svc")"
}

# Pids listening on 127.0.0.1:PORT whose command line contains TOKEN (for state that lost its pid file).
listener_pids() {
  local port=$1 token=$2 pid
  command -v ss >/dev/null || return 0
  { ss -Hltnp "sport = :$port" 2>/dev/null || true; } | { grep -o 'pid=[0-9]*' || true; } | cut -d= -f2 | sort -u |
    while read -r pid; do
      if tr '\0' ' ' 2>/dev/null <"/proc/$pid/cmdline" | grep -qF -- "$token"; then
        printf '%s\n' "$pid"
      fi
    done
}

# --- ports and waiting -----------------------------------------------------------

port_open() {
  timeout 2 bash -c "exec 3<>/dev/tcp/127.0.0.1/$1" 2>/dev/null
}

# wait_until SECONDS CMD...: poll CMD every 0.2 s until it succeeds or the deadline passes.
wait_until() {
  local secs=$1
  shift
  local deadline=$((SECONDS + secs))
  until "$@" >/dev/null 2>&1; do
    ((SECONDS < deadline)) || return 1
    sleep 0.2
  done
}

ports_closed() {
  local p
  for p in "$@"; do
    ! port_open "$p" || return 1
  done
}

wait_ports_closed() {
  local secs=$1
  shift
  wait_until "$secs" ports_closed "$@"
}

# Who listens on PORT, for failure messages ("users:(("python3",pid=123,fd=3))").
port_holder() {
  ss -Hltnp "sport = :$1" 2>/dev/null | grep -o 'users:.*' | head -n 1 || true
}

http_ok() {
  curl --noproxy "*" -fs -o /dev/null --max-time 3 "$@"
}

sha256_of() { sha256sum "$@" | cut -d' ' -f1; }
