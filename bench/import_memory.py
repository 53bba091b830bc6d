#!/usr/bin/env python3
"""bench/import_memory.py — an instance's memory while it imports files up to
IMPORT_MAX_BYTES, against the target of SPEC §5: peak RSS under 128 MiB above
idle for any file, valid or invalid, through the API and through the pages.

    bench/import-memory            # builds the release binary, then runs this

It starts the release binary (target/release/useradmin) on a database of its
own (ua_bench_import, dropped and re-created) against the local PostgreSQL and
Redis, makes the files under target/bench/import-memory/, and for each
scenario: waits until the instance is idle, notes its RSS, resets its peak
(`echo 5 > /proc/PID/clear_refs`), sends the file, and reads the peak (VmHWM).
It prints one table (and writes it to bench/IMPORT-MEMORY.md) with the file,
rows, answer, time, peak above idle, RSS after, and the verdict. The instance
runs with the default IMPORT_MAX_BYTES (16 MiB).

Knobs (environment): BENCH_PGHOST/BENCH_PGPORT/BENCH_PGUSER
(127.0.0.1/5432/postgres), BENCH_REDIS_URL (redis://127.0.0.1:6379/0),
BENCH_PORT (5890), BENCH_RESULTS_IMPORT (bench/IMPORT-MEMORY.md).
"""

import http.client
import json
import os
import re
import secrets
import signal
import subprocess
import sys
import time
import urllib.parse
from pathlib import Path

MIB = 1024 * 1024
LIMIT = 16 * MIB
TARGET_MIB = 128

PGHOST = os.environ.get("BENCH_PGHOST", "127.0.0.1")
PGPORT = os.environ.get("BENCH_PGPORT", "5432")
PGUSER = os.environ.get("BENCH_PGUSER", "postgres")
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")
PORT = int(os.environ.get("BENCH_PORT", "5890"))
RESULTS = Path(os.environ.get("BENCH_RESULTS_IMPORT", "bench/IMPORT-MEMORY.md"))
DATABASE = "ua_bench_import"
BIN = Path("target/release/useradmin")
FILES = Path("target/bench/import-memory")
ADMIN_EMAIL = "admin@bench.example"
ADMIN_PASSWORD = secrets.token_urlsafe(18) + "pw1"
PREFIX = f"uabench:import:{int(time.time())}:"


def status_kib(pid, field):
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"no {field} in /proc/{pid}/status")


def settle(pid, seconds=1.5):
    """Waits until RSS stops moving (the previous scenario's memory returned)."""
    last = status_kib(pid, "VmRSS")
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        time.sleep(seconds)
        now = status_kib(pid, "VmRSS")
        if abs(now - last) < 512:
            return now
        last = now
    return last


def fill(path, size, line_of):
    """Writes lines until the file is just under `size` bytes; returns rows."""
    rows = 0
    with open(path, "w", encoding="utf-8") as f:
        written = 0
        header = line_of(None)
        if header:
            f.write(header)
            written += len(header)
        while True:
            line = line_of(rows)
            if written + len(line) > size:
                break
            f.write(line)
            written += len(line)
            rows += 1
    return rows


def make_files():
    FILES.mkdir(parents=True, exist_ok=True)
    size = LIMIT - 1024
    files = {}

    def valid_csv(i):
        return "name,email,external_id\n" if i is None else f"Person {i},person{i}@import.example,ext-{i}\n"

    def invalid_csv(i):
        # The smallest rows there are: each one an error (no valid email).
        return "email\n" if i is None else "x\n"

    def email_only_csv(i):
        # Valid emails, each a create without a name (an error): the most
        # rows that enter the repeat check.
        return "email\n" if i is None else f"u{i}@x.io\n"

    def valid_ndjson(i):
        return "" if i is None else json.dumps(
            {"name": f"Nd {i}", "email": f"nd{i}@import.example", "is_admin": False}
        ) + "\n"

    for name, line_of in [
        ("valid.csv", valid_csv),
        ("invalid.csv", invalid_csv),
        ("email-only.csv", email_only_csv),
        ("valid.ndjson", valid_ndjson),
    ]:
        path = FILES / name
        files[name] = (path, fill(path, size, line_of))
    # Small files of the same kinds, to show memory does not follow the size.
    small = FILES / "valid-100k.csv"
    files["valid-100k.csv"] = (small, fill(small, 7 * MIB, valid_csv))
    return files


class Session:
    """A browser: cookies kept, redirects not followed."""

    def __init__(self):
        self.cookies = {}

    def request(self, method, path, body=None, headers=None, timeout=600):
        conn = http.client.HTTPConnection("127.0.0.1", PORT, timeout=timeout)
        headers = dict(headers or {})
        headers.setdefault("Accept", "text/html")
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        conn.request(method, path, body=body, headers=headers)
        response = conn.getresponse()
        data = response.read()
        for value in response.msg.get_all("Set-Cookie") or []:
            name, _, rest = value.partition("=")
            self.cookies[name.strip()] = rest.split(";", 1)[0]
        conn.close()
        return response.status, response.getheader("Location"), data

    def csrf(self, path):
        status, _, page = self.request("GET", path)
        match = re.search(rb'name="csrf_token" value="([^"]+)"', page)
        if status != 200 or not match:
            raise RuntimeError(f"GET {path}: {status}, no CSRF token")
        return match.group(1).decode()

    def log_in(self):
        token = self.csrf("/login")
        form = urllib.parse.urlencode(
            {"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD, "csrf_token": token, "next": "/users"}
        )
        status, location, _ = self.request(
            "POST", "/login", form, {"Content-Type": "application/x-www-form-urlencoded"}
        )
        if status != 303 or location != "/users":
            raise RuntimeError(f"login answered {status} → {location}")


def multipart(csrf, name, content):
    boundary = "----useradminBench" + secrets.token_hex(8)
    head = (
        f"--{boundary}\r\nContent-Disposition: form-data; name=\"csrf_token\"\r\n\r\n{csrf}\r\n"
        f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{name}\"\r\n"
        "Content-Type: application/octet-stream\r\n\r\n"
    ).encode()
    tail = f"\r\n--{boundary}--\r\n".encode()
    return f"multipart/form-data; boundary={boundary}", head + content + tail


def run(cmd, **kwargs):
    return subprocess.run(cmd, check=True, **kwargs)


def main():
    if not BIN.exists():
        sys.exit(f"{BIN} is missing: cargo build --release")
    pg = f"postgres://{PGUSER}@{PGHOST}:{PGPORT}"
    run(["psql", f"{pg}/postgres", "-qc", f"drop database if exists {DATABASE} with (force)"])
    env = dict(
        os.environ,
        DATABASE_URL=f"{pg}/{DATABASE}",
        REDIS_URL=REDIS_URL,
        REDIS_KEY_PREFIX=PREFIX,
        BIND="127.0.0.1",
        PORT=str(PORT),
        ADMIN_EMAIL=ADMIN_EMAIL,
        ADMIN_PASSWORD=ADMIN_PASSWORD,
        COOKIE_SECURE="false",
        RUST_LOG="warn",
        LOG_FORMAT="json",
    )
    env.pop("IMPORT_MAX_BYTES", None)
    token = None
    files = make_files()
    log = open(FILES / "server.log", "w")
    server = subprocess.Popen([str(BIN)], env=env, stdout=log, stderr=log)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if Session().request("GET", "/health", timeout=2)[0] == 200:
                    break
            except OSError:
                pass
            if time.monotonic() > deadline or server.poll() is not None:
                sys.exit("the instance did not start; see target/bench/import-memory/server.log")
            time.sleep(0.1)
        token = subprocess.run(
            [str(BIN), "token", "create", "--name", "bench"],
            env=env, check=True, capture_output=True, text=True,
        ).stdout.strip().split()[-1]
        pid = server.pid
        rows_out = []

        def scenario(title, send):
            idle = settle(pid)
            Path(f"/proc/{pid}/clear_refs").write_text("5")
            start = time.monotonic()
            status, note = send()
            took = time.monotonic() - start
            peak = status_kib(pid, "VmHWM")
            after = settle(pid)
            above = (peak - idle) / 1024
            rows_out.append(
                (title, status, note, took, idle / 1024, peak / 1024, above, after / 1024, above < TARGET_MIB)
            )
            print(
                f"  {title}: {status} {note} in {took:.2f} s; idle {idle / 1024:.1f} MiB, "
                f"peak {peak / 1024:.1f} MiB (+{above:.1f}), after {after / 1024:.1f} MiB",
                file=sys.stderr,
            )

        def api(name, query, media):
            path, _ = files[name]
            body = path.read_bytes()

            def send():
                conn = http.client.HTTPConnection("127.0.0.1", PORT, timeout=600)
                conn.request(
                    "POST", f"/users/import{query}", body=body,
                    headers={"Authorization": f"Bearer {token}", "Content-Type": media},
                )
                response = conn.getresponse()
                data = response.read()
                conn.close()
                report = json.loads(data)
                counts = report.get("counts", {})
                return response.status, f"{counts} ({len(data) / 1024:.0f} KiB answer)"

            return send

        def page(name):
            path, _ = files[name]
            content = path.read_bytes()

            def send():
                browser = Session()
                browser.log_in()
                csrf = browser.csrf("/users/import")
                media, body = multipart(csrf, name, content)
                status, _, page_html = browser.request(
                    "POST", "/users/import", body, {"Content-Type": media}
                )
                plan = re.search(rb'name="plan" value="([^"]+)"', page_html)
                note = f"preview page {len(page_html) / 1024:.0f} KiB"
                if status == 200 and plan:
                    form = urllib.parse.urlencode({"csrf_token": csrf, "plan": plan.group(1).decode()})
                    status, location, _ = browser.request(
                        "POST", "/users/import/confirm", form,
                        {"Content-Type": "application/x-www-form-urlencoded"},
                    )
                    note += f"; confirm {status} → {location}"
                return status, note

            return send

        print(f"files under {FILES}:", file=sys.stderr)
        for name, (path, rows) in files.items():
            print(f"  {name}: {path.stat().st_size / MIB:.1f} MiB, {rows:,} rows", file=sys.stderr)
        scenario("API dry run, valid CSV, 7 MiB", api("valid-100k.csv", "?dry_run=true", "text/csv"))
        scenario("API dry run, valid CSV, 16 MiB", api("valid.csv", "?dry_run=true", "text/csv"))
        scenario("API apply, valid CSV, 16 MiB", api("valid.csv", "", "text/csv"))
        scenario("API apply, same file again (all unchanged)", api("valid.csv", "", "text/csv"))
        scenario("API apply, invalid CSV, 16 MiB of errors", api("invalid.csv", "", "text/csv"))
        scenario("API dry run, valid emails without names, 16 MiB", api("email-only.csv", "?dry_run=true", "text/csv"))
        scenario("page preview, invalid CSV, 16 MiB", page("invalid.csv"))
        scenario("page preview + confirm, NDJSON, 16 MiB", page("valid.ndjson"))
        scenario("API apply, the same NDJSON again (all unchanged)", api("valid.ndjson", "", "application/x-ndjson"))
        scenario("page preview, valid emails without names, 16 MiB", page("email-only.csv"))

        lines = [
            "# Import memory (SPEC §5: peak under 128 MiB above idle for any file up to IMPORT_MAX_BYTES)",
            "",
            f"`bench/import-memory` on {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, "
            f"tree `{subprocess.run(['git', 'rev-parse', '--short', 'HEAD'], capture_output=True, text=True).stdout.strip()}`, "
            f"release build, IMPORT_MAX_BYTES 16 MiB. Peak is VmHWM after `clear_refs`; idle and after are VmRSS "
            "once it stops moving.",
            "",
            "| file | rows |",
            "|---|---:|",
        ]
        for name, (path, rows) in files.items():
            lines.append(f"| `{name}` ({path.stat().st_size / MIB:.1f} MiB) | {rows:,} |")
        lines += [
            "",
            "| scenario | answer | time | idle | peak | **above idle** | after | ≤ 128 MiB |",
            "|---|---|---:|---:|---:|---:|---:|---|",
        ]
        for title, status, note, took, idle, peak, above, after, ok in rows_out:
            lines.append(
                f"| {title} | {status}: {note} | {took:.2f} s | {idle:.1f} MiB | {peak:.1f} MiB | "
                f"**{above:.1f} MiB** | {after:.1f} MiB | {'met' if ok else 'MISSED'} |"
            )
        table = "\n".join(lines) + "\n"
        print(table)
        RESULTS.write_text(table)
        return 0 if all(row[-1] for row in rows_out) else 1
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
        keys = subprocess.run(
            ["redis-cli", "-u", REDIS_URL, "--scan", "--pattern", f"{PREFIX}*"],
            capture_output=True, text=True,
        ).stdout.split()
        for i in range(0, len(keys), 500):
            subprocess.run(["redis-cli", "-u", REDIS_URL, "del", *keys[i:i + 500]], capture_output=True)


if __name__ == "__main__":
    sys.exit(main())
