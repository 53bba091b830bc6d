#!/usr/bin/env bash
# bench/run-flask.sh — the original Flask service, reconstructed (bench/flask/app.py),
# served as such a service is deployed: gunicorn, sync workers, 2 × cores + 1.
#
#   bench/run-flask.sh PORT [PIDFILE]
#
# Installs Flask, gunicorn, psycopg[binary], psycopg_pool and redis into a venv under
# target/flask-venv (once; later runs reuse it), creates the database
# (ua_bench_flask unless FLASK_DATABASE) if it is missing, then runs gunicorn in the
# foreground on 127.0.0.1:PORT: stop it with SIGTERM to this script's pid (it execs
# gunicorn) or to the pid written to PIDFILE. The app creates its table at start.
#
# Environment: PGHOST/PGPORT/PGUSER/PGPASSWORD (127.0.0.1/5432/postgres),
# FLASK_DATABASE (ua_bench_flask), FLASK_WORKERS (2 × cores + 1).

set -euo pipefail
cd "$(dirname "$0")/.."

[ $# -ge 1 ] || { echo "usage: bench/run-flask.sh PORT [PIDFILE]" >&2; exit 2; }
port=$1
pidfile=${2:-}

export PGHOST=${PGHOST:-127.0.0.1} PGPORT=${PGPORT:-5432} PGUSER=${PGUSER:-postgres}
database=${FLASK_DATABASE:-ua_bench_flask}
workers=${FLASK_WORKERS:-$(( 2 * $(nproc) + 1 ))}
venv=target/flask-venv

if ! "$venv/bin/python" -c 'import flask, gunicorn, psycopg, psycopg_pool, redis' 2>/dev/null; then
    echo "bench/run-flask.sh: installing Flask, gunicorn, psycopg, psycopg_pool into $venv" >&2
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check \
        flask gunicorn 'psycopg[binary]' psycopg_pool redis
fi

if [ -z "$(psql -d postgres -tAc "select 1 from pg_database where datname = '$database'")" ]; then
    createdb "$database"
fi

auth=$PGUSER
[ -n "${PGPASSWORD:-}" ] && auth="$PGUSER:$PGPASSWORD"
export FLASK_DATABASE_URL="postgresql://$auth@$PGHOST:$PGPORT/$database"

pid_args=()
[ -n "$pidfile" ] && pid_args=(--pid "$pidfile")
exec "$venv/bin/gunicorn" --chdir bench/flask --worker-class sync --workers "$workers" \
    --bind "127.0.0.1:$port" --log-level warning "${pid_args[@]}" app:app
