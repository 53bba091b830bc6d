# What test runs leave on the shared PostgreSQL and Redis, and its removal.
# Sourced by scripts/test, after scripts/services.sh (DATABASE_URL, REDIS_URL).
#
# Each test removes its own database and Redis keys when it ends; these functions
# catch what a crashed or killed run could not. Every name carries its owner, the
# process that made it (scripts/test's own id, exported as UA_TEST_RUN, or the
# test binary's when `cargo test` runs alone):
#
#   databases  ua_test_<owner>_<32 hex>     ua_deploy_<owner>_<16 hex>
#   Redis keys useradmin:test:ua_test_<owner>_<32 hex>:…   ua_deploy_<owner>_<16 hex>:…
#
# An owner still running is someone's live run (maybe another person's on the same
# servers): its things are never touched. Names without an owner (from before this
# scheme) are counted, never dropped.

leftover_sql="select datname from pg_database
  where datname ~ '^ua_test_[0-9]+_[0-9a-f]{32}$' or datname ~ '^ua_deploy_[0-9]+_[0-9a-f]{16}$'"

# The owner (a process id) in a database name or a Redis key, else nothing.
leftover_owner() {
  sed -nE 's/^(useradmin:test:)?ua_(test|deploy)_([0-9]+)_[0-9a-f]+($|:.*)/\3/p' <<<"$1"
}

owner_alive() {
  [ -d "/proc/$1" ] || kill -0 "$1" 2>/dev/null
}

leftover_databases() {
  psql "$DATABASE_URL" -Atc "$leftover_sql" 2>/dev/null || true
}

leftover_keys() {
  { redis-cli -u "$REDIS_URL" --scan --pattern 'useradmin:test:ua_test_*'
    redis-cli -u "$REDIS_URL" --scan --pattern 'ua_deploy_*'; } 2>/dev/null || true
}

# Prints, one a line, the names in standard input whose owner is $1, or (with
# no $1) whose owner is gone.
select_leftovers() {
  local name owner
  while IFS= read -r name; do
    owner=$(leftover_owner "$name")
    [ -n "$owner" ] || continue
    if [ -n "${1:-}" ]; then
      [ "$owner" = "$1" ] && printf '%s\n' "$name"
    elif ! owner_alive "$owner"; then
      printf '%s\n' "$name"
    fi
  done
}

# Drops the databases and unlinks the keys of owner $1 (this run's, with its
# connections: they are its own), or of every owner that is gone (without
# `with (force)`: a database someone is connected to stays).
sweep_leftovers() {
  local force="" name
  [ -n "${1:-}" ] && force=" with (force)"
  if command -v psql >/dev/null 2>&1; then
    leftover_databases | select_leftovers "${1:-}" | while IFS= read -r name; do
      psql "$DATABASE_URL" -qc "drop database if exists \"$name\"$force" >/dev/null 2>&1 ||
        echo "left database $name: it is in use" >&2
    done
  fi
  if command -v redis-cli >/dev/null 2>&1; then
    leftover_keys | select_leftovers "${1:-}" |
      xargs -r -d '\n' -n 200 redis-cli -u "$REDIS_URL" unlink >/dev/null
  fi
}

# "N databases and M Redis keys (K without expiry)" that owner $1 has now.
count_leftovers() {
  local databases keys persistent=0 key
  databases=$(leftover_databases | select_leftovers "$1" | grep -c . || true)
  keys=$(leftover_keys | select_leftovers "$1")
  while IFS= read -r key; do
    [ -n "$key" ] || continue
    [ "$(redis-cli -u "$REDIS_URL" ttl "$key")" = "-1" ] && persistent=$((persistent + 1))
  done <<<"$keys"
  echo "$databases databases and $(grep -c . <<<"$keys" || true) Redis keys ($persistent without expiry)"
}
