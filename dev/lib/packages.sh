# shellcheck shell=bash disable=SC2034 # variables here are used by the other dev/lib files and dev/stack
# Debian packages the stack needs. apt cannot pin sensibly across mirrors, so names only;
# `apt-get update` runs only when something is actually missing.

STACK_APT_PACKAGES=(
  ca-certificates curl openssl iproute2 procps
  # Postgres: the machine's own cluster is used when it answers; these let us start one otherwise.
  postgresql
  mariadb-server mariadb-client
  # Samba AD DC. Recommends are kept on purpose: samba-ad-provision (the AD schema) comes that way.
  samba samba-ad-dc samba-ad-provision winbind krb5-user ldb-tools ldap-utils
  # The browser tests drive the real pages in headless Chromium through ChromeDriver.
  chromium chromium-driver
)

missing_apt_packages() {
  local pkg status
  for pkg in "${STACK_APT_PACKAGES[@]}"; do
    status=$(dpkg-query -W -f='${db:Status-Status}' "$pkg" 2>/dev/null || true)
    [[ $status == installed ]] || printf '%s\n' "$pkg"
  done
}

ensure_apt_packages() {
  local missing
  mapfile -t missing < <(missing_apt_packages)
  ((${#missing[@]} == 0)) && return 0
  local svc=$CURRENT_SERVICE
  CURRENT_SERVICE=packages
  apt_install "${missing[@]}"
  CURRENT_SERVICE=$svc
}

apt_install() {
  note "installing Debian packages: $*"
  export DEBIAN_FRONTEND=noninteractive
  {
    apt-get update -q
    apt-get install -y -q "$@"
  } >>"$LOGS/packages.log" 2>&1 || die_service packages "apt-get install $* failed" "$LOGS/packages.log"
}

ensure_node() {
  if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
    die "node and npm are required (the machine image provides Node.js 20+)"
  fi
  local major
  major=$(node -p 'process.versions.node.split(".")[0]')
  ((major >= 20)) || die "Node.js 20 or newer is required (found $(node --version))"
}
