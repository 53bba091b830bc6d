"""The original Flask service, reconstructed for the benchmark.

This is NOT the original code: it is a reconstruction from the JSON contract the
original service had (SPEC §4, "the original's contract"), written so bench/run can
measure useradmin against a service of the kind it replaces, on the same machine
and in the same run. Like the original it has no authentication (an Authorization
header is ignored), keeps users in PostgreSQL and serves JSON only.

    GET    /                  {"message": ...}
    POST   /users             201 user, Location: /users/<id>; 409 email used; 422 invalid
    GET    /users             {"source": "database", "data": [...], "next": cursor|null, "total": n}
                              limit (default 50, at most 1000), after, q, sort (id, name,
                              email, created_at; "-" for descending); keyset pagination
    GET    /users/<id>        user; 404
    PUT    /users/<id>        partial update (as PATCH); If-Match: "<version>" or 412
    PATCH  /users/<id>
    DELETE /users/<id>        {"message": ...}
    GET    /health            {"status": "healthy", "checks": {"database": "up"}}; 503

Like the original ("source": "cache" | "database"), it keeps list pages in Redis
under a generation number that every write moves on after its commit, so a page
cached before a write is never served after it.

Served as such a service is deployed: gunicorn, sync workers, 2 × cores + 1 of them
(bench/run-flask.sh). Each worker holds its own small psycopg_pool, opened on its
first request, after the fork. The table is created at start, under an advisory
lock, since every worker imports this module.

Environment: FLASK_DATABASE_URL (default postgresql://postgres@127.0.0.1:5432/ua_bench_flask),
FLASK_REDIS_URL (default redis://127.0.0.1:6379/0), FLASK_CACHE_PREFIX (default
"flask-users:"), FLASK_CACHE_TTL (seconds, default 300).
"""

import base64
import binascii
import json
import os
import re

import psycopg
import redis
from flask import Flask, jsonify, request
from psycopg.rows import dict_row
from psycopg_pool import ConnectionPool
from werkzeug.exceptions import HTTPException
from werkzeug.security import generate_password_hash

DATABASE_URL = os.environ.get(
    "FLASK_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/ua_bench_flask"
)
CACHE = redis.Redis.from_url(os.environ.get("FLASK_REDIS_URL", "redis://127.0.0.1:6379/0"))
CACHE_PREFIX = os.environ.get("FLASK_CACHE_PREFIX", "flask-users:")
CACHE_TTL = int(os.environ.get("FLASK_CACHE_TTL", "300"))


def cache_key(generation):
    return f"{CACHE_PREFIX}page:{generation}:{request.query_string.decode()}"


def changed():
    """After a committed write: pages cached under the old generation are dead."""
    CACHE.incr(CACHE_PREFIX + "generation")

SCHEMA = """
create table if not exists users (
    id bigint generated always as identity primary key,
    name text not null,
    email text not null,
    password_hash text,
    is_admin boolean not null default false,
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now(),
    version integer not null default 1
);
create unique index if not exists users_email_lower on users (lower(email));
create index if not exists users_name_id on users (name, id);
create index if not exists users_email_id on users (email, id);
create index if not exists users_created_at_id on users (created_at, id);
"""

COLUMNS = "id, name, email, is_admin, created_at, updated_at, version"
SORTS = {"id", "name", "email", "created_at"}
WRITE_FIELDS = {"name", "email", "is_admin", "password"}
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def create_schema():
    with psycopg.connect(DATABASE_URL, autocommit=True) as conn:
        with conn.transaction():
            conn.execute("select pg_advisory_xact_lock(29)")
            conn.execute(SCHEMA)


create_schema()
app = Flask(__name__)

_pool = None
_pool_pid = None


def pool():
    """This worker's pool, opened after the fork (a pool must not cross it)."""
    global _pool, _pool_pid
    if _pool is None or _pool_pid != os.getpid():
        _pool = ConnectionPool(
            DATABASE_URL, min_size=1, max_size=2, kwargs={"row_factory": dict_row}, open=True
        )
        _pool_pid = os.getpid()
    return _pool


class ApiError(Exception):
    def __init__(self, status, message, fields=None):
        super().__init__(message)
        self.status, self.message, self.fields = status, message, fields


@app.errorhandler(ApiError)
def api_error(error):
    body = {"error": error.message}
    if error.fields:
        body["fields"] = error.fields
    return jsonify(body), error.status


@app.errorhandler(HTTPException)
def http_error(error):
    return jsonify({"error": error.description or error.name}), error.code


@app.errorhandler(psycopg.OperationalError)
def database_down(error):
    app.logger.warning("database unavailable: %s", error)
    return jsonify({"error": "service unavailable"}), 503


def user_json(row):
    return {
        "id": row["id"],
        "name": row["name"],
        "email": row["email"],
        "is_admin": row["is_admin"],
        "created_at": row["created_at"].isoformat(),
        "updated_at": row["updated_at"].isoformat(),
        "version": row["version"],
    }


def user_response(row, status=200):
    response = jsonify(user_json(row))
    response.status_code = status
    response.headers["ETag"] = f'"{row["version"]}"'
    return response


def body():
    """The write body: JSON or a form; 400 if malformed, 415 for another type."""
    mimetype = request.mimetype
    if mimetype == "application/json":
        data = request.get_json(silent=True)
        if not isinstance(data, dict):
            raise ApiError(400, "malformed JSON body")
        return data
    if mimetype == "application/x-www-form-urlencoded":
        data = request.form.to_dict()
        if "is_admin" in data:
            data["is_admin"] = data["is_admin"].lower() in ("1", "true", "on", "yes")
        return data
    raise ApiError(415, "unsupported content type")


def validate(data, partial):
    """The columns to write, or 422 with a message per field."""
    fields, values = {}, {}
    unknown = sorted(set(data) - WRITE_FIELDS)
    for name in unknown:
        fields[name] = ["unknown field"]
    if "name" in data or not partial:
        name = data.get("name")
        if not isinstance(name, str) or not 1 <= len(name.strip()) <= 100:
            fields["name"] = ["must be 1 to 100 characters"]
        else:
            values["name"] = name.strip()
    if "email" in data or not partial:
        email = data.get("email")
        if not isinstance(email, str) or len(email.strip()) > 120 or not EMAIL.match(email.strip()):
            fields["email"] = ["must be a valid email address of at most 120 characters"]
        else:
            values["email"] = email.strip()
    if "is_admin" in data:
        if not isinstance(data["is_admin"], bool):
            fields["is_admin"] = ["must be true or false"]
        else:
            values["is_admin"] = data["is_admin"]
    if "password" in data:
        password = data["password"]
        if not isinstance(password, str) or not 8 <= len(password) <= 128:
            fields["password"] = ["must be 8 to 128 characters"]
        else:
            values["password_hash"] = generate_password_hash(password)
    if fields:
        raise ApiError(422, "validation failed", fields)
    return values


def email_taken(error):
    return ApiError(409, "email already used") if isinstance(error, psycopg.errors.UniqueViolation) else error


def parse_id(raw):
    try:
        ident = int(raw)
    except ValueError:
        raise ApiError(404, "user not found") from None
    if not 0 < ident < 2**63:
        raise ApiError(404, "user not found")
    return ident


def check_if_match(row):
    expected = request.headers.get("If-Match")
    if expected is not None and expected.strip() not in ("*", f'"{row["version"]}"'):
        raise ApiError(412, "the user was changed since it was read")


def last_admin(conn, row):
    return row["is_admin"] and conn.execute(
        "select count(*) as n from users where is_admin"
    ).fetchone()["n"] <= 1


@app.get("/")
def index():
    return jsonify({"message": "User admin service. See /users."})


@app.get("/health")
def health():
    try:
        with pool().connection(timeout=2) as conn:
            conn.execute("select 1")
    except Exception:  # noqa: BLE001 (any failure means unhealthy)
        return jsonify({"status": "unhealthy", "checks": {"database": "down"}}), 503
    return jsonify({"status": "healthy", "checks": {"database": "up"}})


@app.post("/users")
def create_user():
    values = validate(body(), partial=False)
    columns = ", ".join(values)
    placeholders = ", ".join(["%s"] * len(values))
    try:
        with pool().connection() as conn:
            row = conn.execute(
                f"insert into users ({columns}) values ({placeholders}) returning {COLUMNS}",
                list(values.values()),
            ).fetchone()
    except psycopg.errors.UniqueViolation as error:
        raise email_taken(error) from None
    changed()
    response = user_response(row, 201)
    response.headers["Location"] = f"/users/{row['id']}"
    return response


def encode_cursor(sort, row):
    key = row[sort]
    if sort == "created_at":
        key = key.isoformat()
    raw = json.dumps({"s": sort, "k": key, "i": row["id"]}, separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(cursor, sort):
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        data = json.loads(raw)
        if data["s"] != sort:
            raise ValueError("cursor of another sort")
        return data["k"], int(data["i"])
    except (ValueError, KeyError, TypeError, binascii.Error):
        raise ApiError(400, "invalid cursor") from None


@app.get("/users")
def list_users():
    args = request.args
    try:
        limit = int(args.get("limit", "50"))
    except ValueError:
        raise ApiError(400, "limit must be a number") from None
    if not 1 <= limit <= 1000:
        raise ApiError(400, "limit must be between 1 and 1000")
    sort = args.get("sort", "id")
    descending = sort.startswith("-")
    sort = sort.lstrip("-")
    if sort not in SORTS:
        raise ApiError(400, "unknown sort")
    q = args.get("q", "").strip()
    generation = CACHE.get(CACHE_PREFIX + "generation") or b"0"
    cached = CACHE.get(cache_key(generation.decode()))
    if cached is not None:
        return app.response_class(b'{"source":"cache",' + cached[1:], mimetype="application/json")

    where, params = [], []
    if q:
        where.append("(name ilike %s or email ilike %s)")
        pattern = "%" + q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        params += [pattern, pattern]
    count_where, count_params = list(where), list(params)
    if args.get("after"):
        key, ident = decode_cursor(args["after"], sort)
        op = "<" if descending else ">"
        if sort == "id":
            where.append(f"id {op} %s")
            params.append(ident)
        else:
            where.append(f"({sort}, id) {op} (%s, %s)")
            params += [key, ident]
    direction = "desc" if descending else "asc"
    order = f"id {direction}" if sort == "id" else f"{sort} {direction}, id {direction}"
    clause = f"where {' and '.join(where)}" if where else ""
    count_clause = f"where {' and '.join(count_where)}" if count_where else ""

    with pool().connection() as conn:
        rows = conn.execute(
            f"select {COLUMNS} from users {clause} order by {order} limit %s", params + [limit + 1]
        ).fetchall()
        total = conn.execute(f"select count(*) as n from users {count_clause}", count_params).fetchone()["n"]
    more = len(rows) > limit
    rows = rows[:limit]
    page = {
        "data": [user_json(row) for row in rows],
        "next": encode_cursor(sort, rows[-1]) if more else None,
        "total": total,
    }
    CACHE.set(cache_key(generation.decode()), json.dumps(page), ex=CACHE_TTL)
    return jsonify({"source": "database", **page})


@app.get("/users/<raw_id>")
def get_user(raw_id):
    ident = parse_id(raw_id)
    with pool().connection() as conn:
        row = conn.execute(f"select {COLUMNS} from users where id = %s", [ident]).fetchone()
    if row is None:
        raise ApiError(404, "user not found")
    return user_response(row)


@app.route("/users/<raw_id>", methods=["PUT", "PATCH"])
def update_user(raw_id):
    ident = parse_id(raw_id)
    values = validate(body(), partial=True)
    try:
        with pool().connection() as conn:
            row = conn.execute(f"select {COLUMNS} from users where id = %s for update", [ident]).fetchone()
            if row is None:
                raise ApiError(404, "user not found")
            check_if_match(row)
            if values.get("is_admin") is False and last_admin(conn, row):
                raise ApiError(409, "the last admin cannot be demoted")
            if not values:
                return user_response(row)
            assignments = ", ".join(f"{column} = %s" for column in values)
            row = conn.execute(
                f"update users set {assignments}, updated_at = now(), version = version + 1 "
                f"where id = %s returning {COLUMNS}",
                list(values.values()) + [ident],
            ).fetchone()
    except psycopg.errors.UniqueViolation as error:
        raise email_taken(error) from None
    changed()
    return user_response(row)


@app.delete("/users/<raw_id>")
def delete_user(raw_id):
    ident = parse_id(raw_id)
    with pool().connection() as conn:
        row = conn.execute(f"select {COLUMNS} from users where id = %s for update", [ident]).fetchone()
        if row is None:
            raise ApiError(404, "user not found")
        check_if_match(row)
        if last_admin(conn, row):
            raise ApiError(409, "the last admin cannot be deleted")
        conn.execute("delete from users where id = %s", [ident])
    changed()
    return jsonify({"message": f"user {ident} deleted"})
