# shellcheck shell=bash disable=SC2034 # variables here are used by the other dev/lib files and dev/stack
# Samba as an Active Directory DC for realm CORP.EXAMPLE.COM: ldap://127.0.0.1:389 and
# ldaps://127.0.0.1:636 (simple binds need TLS: the default strong-auth requirement is kept).
# Provisioned once into $D/samba, then seeded idempotently with the demo people and groups.

SAMBA_DIR=$D/samba
SAMBA_CONF=$SAMBA_DIR/etc/smb.conf
SAMBA_PROVISIONED=$SAMBA_DIR/.tenantry-provisioned
LDAPS_URL=ldaps://127.0.0.1:636
LDAP_URL=ldap://127.0.0.1:389
AD_ADMIN_DN="CN=Administrator,CN=Users,$AD_BASE_DN"
LDAP_BIND_USER=svc-tenantry
LDAP_BIND_DN="CN=$LDAP_BIND_USER,CN=Users,$AD_BASE_DN"
DEMO_PASSWORD=start123

# user:given:surname — all with password start123, mail and UPN <user>@corp.example.com.
DEMO_USERS=(mmosley:Matt:Mosley jjackson:Jason:Jackson pplatt:Paul:Platt)
# group:member,member (members are sAMAccountNames of users or groups).
DEMO_GROUPS=(k8s-cluster-admins:mmosley tenant1-admins:jjackson tenant1-viewers:tenant1-admins tenant2-admins:)

user_dn() { printf 'CN=%s,CN=Users,%s' "$1" "$AD_BASE_DN"; }

samba_tool() {
  samba-tool "$@" -s "$SAMBA_CONF" >>"$LOGS/samba-seed.log" 2>&1
}

# ldaps_search BINDUPN PASSWORDFILE ARGS...: an LDAPS search verifying the server cert.
ldaps_search() {
  local who=$1 pwfile=$2
  shift 2
  LDAPTLS_CACERT=$CA_CRT LDAPTLS_REQCERT=demand ldapsearch -LLL -o ldif-wrap=no -o nettimeout=5 \
    -H "$LDAPS_URL" -x -D "$who" -y "$pwfile" "$@"
}

# Written whole rather than edited: the provision copies host settings (a private-address
# DNS forwarder, /var/log paths, PAM password sync, printer shares) that have no place here.
samba_conf() {
  local dir=$SAMBA_DIR
  cat <<EOF
# Written by dev/stack (Tenantry local stack) from its template in dev/lib/samba.sh: edits here are lost.
[global]
	netbios name = $(echo "$AD_DC_HOST" | tr '[:lower:]' '[:upper:]')
	realm = $AD_REALM
	workgroup = $AD_DOMAIN
	server role = active directory domain controller
	idmap_ldb:use rfc2307 = yes
	interfaces = 127.0.0.1
	bind interfaces only = yes
	disable netbios = yes
	smb ports = 445
	server services = -dns
	# A few LDAP workers: the test suite signs dozens of people in at once over LDAPS.
	prefork children = 6
	private dir = $dir/private
	binddns dir = $dir/bind-dns
	lock directory = $dir
	state directory = $dir/state
	cache directory = $dir/cache
	pid directory = $RUN/samba
	log file = $LOGS/samba.d/log.%m
	max log size = 1000
	load printers = no
	printing = bsd
	printcap name = /dev/null
	disable spoolss = yes
	tls enabled = yes
	tls certfile = $CERTS/samba.crt
	tls keyfile = $CERTS/samba.key
	tls cafile = $CA_CRT

[sysvol]
	path = $dir/state/sysvol
	read only = No

[netlogon]
	path = $dir/state/sysvol/$AD_DNS_DOMAIN/scripts
	read only = No
EOF
}

# Writes smb.conf when it differs from the template; prints "changed" then.
samba_write_conf() {
  mkdir -p "$SAMBA_DIR/cache" "$RUN/samba" "$LOGS/samba.d"
  if ! samba_conf | cmp -s - "$SAMBA_CONF"; then
    samba_conf >"$SAMBA_CONF.tmp"
    mv "$SAMBA_CONF.tmp" "$SAMBA_CONF"
    echo changed
  fi
}

samba_provision() {
  [[ -f $SAMBA_PROVISIONED ]] && return 0
  note "provisioning the Samba AD DC in $SAMBA_DIR (realm $AD_REALM)"
  # A provision that did not finish leaves no marker: start it again from nothing.
  rm -rf "$SAMBA_DIR"
  mkdir -p "$SAMBA_DIR"
  samba-tool domain provision --realm="$AD_REALM" --domain="$AD_DOMAIN" --server-role=dc \
    --dns-backend=SAMBA_INTERNAL --adminpass="$(secret ad-admin-password)" --use-rfc2307 \
    --targetdir="$SAMBA_DIR" --host-ip=127.0.0.1 --host-name="$AD_DC_HOST" \
    --option="interfaces=lo" --option="bind interfaces only=yes" >>"$LOGS/samba-provision.log" 2>&1 ||
    die_service samba "samba-tool domain provision failed" "$LOGS/samba-provision.log"
  samba_write_conf >/dev/null
  samba_tool domain passwordsettings set --complexity=off --min-pwd-length=6 --max-pwd-age=0 \
    --min-pwd-age=0 || die_service samba "setting the password policy failed" "$LOGS/samba-seed.log"
  touch "$SAMBA_PROVISIONED"
}

samba_ports_open() { port_open 389 && port_open 636; }

# The rootDSE over LDAPS, anonymously, with the server cert verified against the stack CA.
samba_ldaps_answers() {
  LDAPTLS_CACERT=$CA_CRT LDAPTLS_REQCERT=demand ldapsearch -LLL -o nettimeout=3 -H "$LDAPS_URL" -x \
    -s base -b "" defaultNamingContext | grep -q "defaultNamingContext: $AD_BASE_DN"
}

samba_healthy() {
  service_pid samba >/dev/null && samba_ports_open && samba_ldaps_answers
}

# "user NAME" and "member GROUP MEMBER-DN" lines for the seeded names that already exist.
samba_existing() {
  local filter="(|" entry
  for entry in "${DEMO_USERS[@]}" "${DEMO_GROUPS[@]}" "$LDAP_BIND_USER:"; do
    filter+="(sAMAccountName=${entry%%:*})"
  done
  filter+=")"
  ldaps_search "Administrator@$AD_DNS_DOMAIN" "$SECRETS/ad-admin-password" -b "$AD_BASE_DN" "$filter" \
    sAMAccountName member |
    awk -v RS= -F'\n' '{
      name = ""; n = 0
      for (i = 1; i <= NF; i++) {
        if ($i ~ /^sAMAccountName: /) name = substr($i, 17)
        else if ($i ~ /^member: /) m[++n] = substr($i, 9)
      }
      if (name != "") { print "user " name; for (j = 1; j <= n; j++) print "member " name " " tolower(m[j]) }
    }'
}

samba_seed() {
  local existing entry user given sn group members member
  existing=$(samba_existing) || die_service samba "cannot search the directory as Administrator"
  seed_has() { grep -qxF -- "$1" <<<"$existing"; }

  for entry in "${DEMO_USERS[@]}"; do
    IFS=: read -r user given sn <<<"$entry"
    seed_has "user $user" && continue
    note "samba: creating user $user"
    samba_tool user create "$user" "$DEMO_PASSWORD" --use-username-as-cn --given-name="$given" \
      --surname="$sn" --mail-address="$user@$AD_DNS_DOMAIN" || die_service samba "creating $user failed" "$LOGS/samba-seed.log"
    # samba-tool sets no displayName; the IdP's `name` claim comes from it.
    ldapmodify_admin <<EOF || die_service samba "setting attributes of $user failed" "$LOGS/samba-seed.log"
dn: $(user_dn "$user")
changetype: modify
replace: displayName
displayName: $given $sn
-
replace: userPrincipalName
userPrincipalName: $user@$AD_DNS_DOMAIN
EOF
  done

  if ! seed_has "user $LDAP_BIND_USER"; then
    note "samba: creating service account $LDAP_BIND_USER"
    samba_tool user create "$LDAP_BIND_USER" "$(secret ldap-bind-password)" --use-username-as-cn \
      --description="Tenantry portal LDAP service account" || die_service samba "creating $LDAP_BIND_USER failed" "$LOGS/samba-seed.log"
    samba_tool user setexpiry "$LDAP_BIND_USER" --noexpiry || die_service samba "setexpiry failed" "$LOGS/samba-seed.log"
  fi

  for entry in "${DEMO_GROUPS[@]}"; do
    group=${entry%%:*} members=${entry#*:}
    if ! seed_has "user $group"; then
      note "samba: creating group $group"
      samba_tool group add "$group" || die_service samba "creating group $group failed" "$LOGS/samba-seed.log"
    fi
    for member in ${members//,/ }; do
      seed_has "member $group $(user_dn "$member" | tr '[:upper:]' '[:lower:]')" && continue
      note "samba: adding $member to $group"
      samba_tool group addmembers "$group" "$member" || die_service samba "adding $member to $group failed" "$LOGS/samba-seed.log"
    done
  done
}

ldapmodify_admin() {
  LDAPTLS_CACERT=$CA_CRT LDAPTLS_REQCERT=demand ldapmodify -o nettimeout=5 -H "$LDAPS_URL" -x \
    -D "Administrator@$AD_DNS_DOMAIN" -y "$SECRETS/ad-admin-password" >>"$LOGS/samba-seed.log" 2>&1
}

# The portal's own question: which groups is jjackson in, nested ones included, asked as a user.
samba_verify() {
  local pw out
  pw=$(mktemp)
  printf '%s' "$DEMO_PASSWORD" >"$pw"
  out=$(ldaps_search "mmosley@$AD_DNS_DOMAIN" "$pw" -b "$AD_BASE_DN" \
    "(member:1.2.840.113556.1.4.1941:=$(user_dn jjackson))" cn 2>&1) || true
  rm -f "$pw"
  grep -q '^cn: tenant1-viewers$' <<<"$out" ||
    die_service samba "nested-group search for jjackson did not return tenant1-viewers: $(head -c 300 <<<"$out")"
}

samba_start() {
  CURRENT_SERVICE=samba
  local cert_state conf_state host sans
  sans=("DNS:$AD_DC_HOST.$AD_DNS_DOMAIN" "DNS:$AD_DC_HOST" "DNS:$AD_DNS_DOMAIN")
  host=$(hostname 2>/dev/null || true)
  [[ $host =~ ^[A-Za-z0-9.-]+$ ]] && sans+=("DNS:$host")
  cert_state=$(ensure_server_cert samba "${sans[@]}")
  samba_provision
  conf_state=$(samba_write_conf)
  if [[ -n $cert_state || -n $conf_state ]] || ! samba_healthy; then
    samba_stop
    spawn samba samba -i -M prefork -s "$SAMBA_CONF" --debug-stdout
    wait_until 60 samba_healthy || die_service samba "LDAPS on 127.0.0.1:636 does not answer"
  fi
  samba_seed
  samba_verify
  CURRENT_SERVICE=""
}

# Pids of processes started from our smb.conf (samba itself, samba-dcerpcd and friends).
samba_pids() {
  local p
  for p in /proc/[0-9]*; do
    tr '\0' ' ' 2>/dev/null <"$p/cmdline" | grep -qF -- "$SAMBA_CONF" && printf '%s\n' "${p#/proc/}"
  done
  return 0
}

samba_stop() {
  local pid
  stop_recorded samba 20
  for pid in $(samba_pids); do kill_pid_wait "$pid" 10; done
  for pid in $(listener_pids 389 samba) $(listener_pids 636 samba); do kill_pid_wait "$pid" 10; done
  wait_ports_closed 30 389 636 || die_service samba "ports 389/636 still in use after stop: $(port_holder 389) $(port_holder 636)"
}

samba_summary() {
  say "samba     $LDAPS_URL (CA $CA_CRT) and $LDAP_URL (StartTLS)  base $AD_BASE_DN  demo users mmosley/jjackson/pplatt password start123  bind $LDAP_BIND_DN password: see $SECRETS/ldap-bind-password  admin password: see $SECRETS/ad-admin-password"
}
