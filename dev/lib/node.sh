# shellcheck shell=bash disable=SC2034 # variables here are used by the other dev/lib files and dev/stack
# Node apps of the stack (the dev IdP, maildev): each runs from a copy under $D/<name>/app,
# next to its node_modules, installed with `npm ci` from the committed lockfile only when the
# lockfile changed. ESM resolves packages relative to the importing file, hence the copy.

# node_app_sync NAME SRC_DIR FILE...: bring $D/NAME/app up to date; prints the app's content hash.
node_app_sync() {
  local name=$1 src=$2
  shift 2
  local app=$D/$name/app lock_hash stamp f
  mkdir -p "$app"
  lock_hash=$(sha256_of "$src/package-lock.json" "$src/package.json" | sha256_of -)
  stamp=$app/.lock-sha256
  if [[ ! -s $stamp || $(<"$stamp") != "$lock_hash" || ! -d $app/node_modules ]]; then
    note "$name: npm ci (pinned by $src/package-lock.json)"
    cp "$src/package.json" "$src/package-lock.json" "$app/"
    (cd "$app" && npm ci --omit=dev --no-audit --no-fund --ignore-scripts --loglevel=error) \
      >>"$LOGS/$name.log" 2>&1 || die_service "$name" "npm ci failed"
    printf '%s' "$lock_hash" >"$stamp"
  fi
  for f in "$@"; do
    cmp -s "$src/$f" "$app/$f" || cp "$src/$f" "$app/$f"
  done
  (cd "$app" && sha256_of package-lock.json "$@" | sha256_of -)
}
