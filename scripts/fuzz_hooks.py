"""Schemathesis hooks for scripts/fuzz-api (loaded through SCHEMATHESIS_HOOKS).

* The token's owner is out of reach of every generated or linked case: a path
  id, a member id or a bulk id that names it is swapped for a seeded user, so no
  case can demote, disable, delete or strip it, and every case of the run keeps
  its credential.
* Path ids mostly name records that exist (seeded by scripts/fuzz-api, passed in
  FUZZ_KNOWN_IDS as "users=2,3;groups=1;..."), so operations on one record get
  past their 404 and exercise what lies behind it; the rest stay random, so the
  404s are still checked.
* Every call is counted per operation and status, and the table is printed at
  the end of each phase (FUZZ_COVERAGE names the file it is appended to).
"""

import atexit
import json
import os
from collections import Counter, defaultdict

import schemathesis
from hypothesis import strategies as st

OWNER = str(os.environ["FUZZ_OWNER_ID"])


def _known_ids():
    known = {}
    for part in os.environ.get("FUZZ_KNOWN_IDS", "").split(";"):
        kind, _, ids = part.partition("=")
        values = [int(i) for i in ids.split(",") if i.strip()]
        if kind and values:
            known[kind.strip()] = values
    return known


KNOWN = _known_ids()


def _kind(path, name):
    """The kind of record a path parameter names."""
    if name == "user_id":
        return "users"
    first, *rest = path.strip("/").split("/")
    if first == "webhooks" and rest[:1] == ["deliveries"]:
        return "deliveries"
    return first


@schemathesis.hook
def flatmap_path_parameters(ctx, parameters):
    """Four ids in five name a seeded record; the fifth stays as generated."""
    if not parameters or ctx.operation is None:
        return st.just(parameters)
    drawn = {}
    for name, value in parameters.items():
        ids = KNOWN.get(_kind(ctx.operation.path, name))
        if ids:
            drawn[name] = st.integers(0, 4).flatmap(
                lambda k, value=value, ids=ids: st.just(value) if k == 0 else st.sampled_from(ids)
            )
        else:
            drawn[name] = st.just(value)
    return st.fixed_dictionaries(drawn)


def _victim():
    users = KNOWN.get("users") or [0]
    return users[0]


def _protect(case):
    """Swaps the owner's id, wherever a case names a user, for a seeded user's."""
    path = case.operation.path
    parameters = case.path_parameters or {}
    for name, value in list(parameters.items()):
        if _kind(path, name) == "users" and str(value) == OWNER:
            parameters[name] = _victim()
    body = case.body
    if isinstance(body, dict):
        for key in ("ids", "user_ids"):
            if isinstance(body.get(key), list):
                body[key] = [_victim() if str(i) == OWNER else i for i in body[key]]


CALLS = defaultdict(Counter)
REJECTIONS = defaultdict(Counter)


def _operation(case):
    return f"{case.operation.method.upper()} {case.operation.path}"


def _reason(response):
    """The error and the fields a refusal names, e.g. `validation failed [email]`."""
    try:
        body = response.json()
    except Exception:  # not JSON: the status says it all
        return f"{response.status_code}"
    if not isinstance(body, dict):
        return f"{response.status_code}"
    fields = sorted((body.get("fields") or {}).keys()) if isinstance(body.get("fields"), dict) else []
    reason = f"{response.status_code} {str(body.get('error', ''))[:80]}"
    return reason + (f" [{', '.join(fields)}]" if fields else "")


@schemathesis.hook
def before_call(ctx, case, kwargs):
    _protect(case)


@schemathesis.hook
def after_call(ctx, case, response):
    CALLS[_operation(case)][response.status_code] += 1
    if response.status_code in (400, 409, 412, 415, 422):
        REJECTIONS[_operation(case)][_reason(response)] += 1


@atexit.register
def _report():
    path = os.environ.get("FUZZ_COVERAGE")
    if not path:
        return
    with open(path, "a", encoding="utf-8") as out:
        for operation, statuses in CALLS.items():
            row = {
                "operation": operation,
                "statuses": dict(statuses),
                "rejections": dict(REJECTIONS[operation]),
            }
            out.write(json.dumps(row) + "\n")
