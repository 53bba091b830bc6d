# Finds or starts the PostgreSQL and Redis that tests and tools use, and exports
# DATABASE_URL and REDIS_URL for them: the variables when already set, else the
# local services when they answer on their usual ports, else throwaway ones under
# target/test-services/ where PostgreSQL and Redis are installed.
# Sourced by scripts/test and scripts/fuzz-api.

services_dir="$PWD/target/test-services"
mkdir -p "$services_dir"

find_pg_bin() {
  # The real directory: initdb on PATH may be a lone symlink (e.g. in
  # /usr/local/bin) to a folder that holds pg_ctl and pg_isready as well.
  if command -v initdb >/dev/null 2>&1; then dirname "$(readlink -f "$(command -v initdb)")"; return; fi
  ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1
}

start_throwaway_postgres() {
  local bin port=55432 data="$services_dir/pg"
  bin=$(find_pg_bin)
  if [ -z "$bin" ] || [ ! -x "$bin/initdb" ]; then
    echo "PostgreSQL is needed: install it (e.g. apt-get install postgresql) or set DATABASE_URL." >&2
    exit 1
  fi
  local as=()
  if [ "$(id -u)" = 0 ]; then as=(runuser -u postgres --); chown -R postgres "$services_dir"; fi
  if [ ! -f "$data/PG_VERSION" ]; then
    "${as[@]}" "$bin/initdb" -D "$data" -U postgres --auth=trust >/dev/null
  fi
  if ! "$bin/pg_isready" -q -h 127.0.0.1 -p "$port"; then
    "${as[@]}" "$bin/pg_ctl" -D "$data" -l "$services_dir/pg.log" -w \
      -o "-p $port -c listen_addresses=127.0.0.1 -c unix_socket_directories=$data -c max_connections=300" start >/dev/null
  fi
  export DATABASE_URL="postgres://postgres@127.0.0.1:$port/postgres"
}

start_throwaway_redis() {
  local port=56379
  if ! command -v redis-server >/dev/null 2>&1; then
    echo "Redis is needed: install it (e.g. apt-get install redis-server) or set REDIS_URL." >&2
    exit 1
  fi
  if ! redis-cli -p "$port" ping >/dev/null 2>&1; then
    redis-server --daemonize yes --port "$port" --bind 127.0.0.1 --save "" --appendonly no \
      --dir "$services_dir" --logfile "$services_dir/redis.log"
    for _ in $(seq 50); do redis-cli -p "$port" ping >/dev/null 2>&1 && break; sleep 0.1; done
  fi
  export REDIS_URL="redis://127.0.0.1:$port/0"
}

if [ -z "${DATABASE_URL:-}" ]; then
  if command -v pg_isready >/dev/null 2>&1 && pg_isready -q -h 127.0.0.1 -p 5432 &&
     psql -h 127.0.0.1 -U postgres -d postgres -Atc 'select 1' >/dev/null 2>&1; then
    export DATABASE_URL="postgres://postgres@127.0.0.1:5432/postgres"
  else
    start_throwaway_postgres
  fi
fi
if [ -z "${REDIS_URL:-}" ]; then
  if command -v redis-cli >/dev/null 2>&1 && redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1; then
    export REDIS_URL="redis://127.0.0.1:6379/0"
  else
    start_throwaway_redis
  fi
fi
