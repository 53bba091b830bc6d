#!/usr/bin/env python3
"""Helpers for bench/run: waiting for health, parsing tool output, the report.

Subcommands (all write machine-readable lines to files in the run directory,
OUT, so the report can be rebuilt from a finished run):

  wait-healthy URL START_NS TIMEOUT_S   poll URL until 200; print ms since START_NS
  record OUT ID GROUP TITLE FILE        parse a wrk run (BENCH_JSON line) into OUT/results.jsonl
  value OUT KEY VALUE                   record a scalar into OUT/values.jsonl
  pgbench OUT ID TITLE FILE LOGPREFIX   record a pgbench run (tps; p50/p99 from its -l logs)
  redis OUT ID TITLE CSVFILE TEST       record one test of redis-benchmark --csv
  cursor-after-id ID                    print a list cursor (sort by id) positioned after ID
  cpu-ticks OUT NAME PID DB             save CPU ticks (utime+stime) of PID with its descendants
                                        and of PostgreSQL's processes serving DB to OUT/cpu/NAME.json
  cpu OUT ID                            record CPU per request of scenario ID from the cpu-ticks
                                        ID.before and ID.after taken around its measured run
  json-field FIELD                      read JSON on stdin, print one top-level field
  value-of OUT KEY                      print a scalar recorded by `value`
  report OUT RESULTS_MD                 print the table and write RESULTS_MD
"""

import base64
import json
import os
import re
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

MIB = 1024 * 1024


def wait_healthy(url, start_ns, timeout_s):
    start_ns = int(start_ns)
    deadline = time.monotonic() + float(timeout_s)
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=1) as response:
                if response.status == 200:
                    print(f"{(time.time_ns() - start_ns) / 1e6:.0f}")
                    return 0
        except (urllib.error.URLError, ConnectionError, OSError):
            pass
        time.sleep(0.002)
    print(f"timeout waiting for {url}", file=sys.stderr)
    return 1


def append(out, name, record):
    with open(Path(out) / name, "a", encoding="utf-8") as f:
        f.write(json.dumps(record) + "\n")


def record(out, ident, group, title, path):
    text = Path(path).read_text(encoding="utf-8", errors="replace")
    match = re.search(r"^BENCH_JSON (\{.*\})$", text, re.M)
    if not match:
        print(f"no BENCH_JSON line in {path}:\n{text}", file=sys.stderr)
        append(out, "results.jsonl", {"id": ident, "group": group, "title": title, "failed": True})
        return 1
    data = json.loads(match.group(1))
    seconds = data["duration_us"] / 1e6
    errors = sum(data[k] for k in data if k.startswith("errors_"))
    row = {
            "id": ident,
            "group": group,
            "title": title,
            "rps": data["requests"] / seconds if seconds else 0.0,
            "requests": data["requests"],
            "p50_ms": data["p50_us"] / 1000,
            "p90_ms": data["p90_us"] / 1000,
            "p99_ms": data["p99_us"] / 1000,
            "max_ms": data["max_us"] / 1000,
            "errors": errors,
            "bytes_per_request": data["bytes"] / data["requests"] if data["requests"] else 0,
    }
    append(out, "results.jsonl", row)
    print(
        f"{row['rps']:>9.0f} req/s  p50 {row['p50_ms']:.2f} ms  p99 {row['p99_ms']:.2f} ms"
        f"  errors {row['errors']}"
    )
    return 0


def value(out, key, val):
    try:
        val = float(val)
    except ValueError:
        pass
    append(out, "values.jsonl", {"key": key, "value": val})
    return 0


def percentile(sorted_values, q):
    if not sorted_values:
        return None
    index = min(len(sorted_values) - 1, max(0, round(q * (len(sorted_values) - 1))))
    return sorted_values[index]


def pgbench(out, ident, title, path, log_prefix):
    """tps from pgbench's summary; p50/p99 from its per-transaction logs (-l)."""
    text = Path(path).read_text(encoding="utf-8", errors="replace")
    match = re.search(r"^tps = ([0-9.]+)", text, re.M)
    if not match:
        print(f"no tps in {path}:\n{text}", file=sys.stderr)
        append(out, "results.jsonl", {"id": ident, "group": "reference ceilings", "title": title, "failed": True})
        return 1
    failed = re.search(r"^number of failed transactions: (\d+)", text, re.M)
    latencies = []
    for log in Path(log_prefix).parent.glob(Path(log_prefix).name + ".[0-9]*"):
        for line in log.read_text(encoding="utf-8").splitlines():
            fields = line.split()
            if len(fields) >= 3 and fields[2].isdigit():
                latencies.append(int(fields[2]))
    latencies.sort()
    p50, p99 = percentile(latencies, 0.50), percentile(latencies, 0.99)
    append(
        out,
        "results.jsonl",
        {
            "id": ident,
            "group": "reference ceilings",
            "title": title,
            "rps": float(match.group(1)),
            "p50_ms": None if p50 is None else p50 / 1000,
            "p99_ms": None if p99 is None else p99 / 1000,
            "errors": int(failed.group(1)) if failed else 0,
        },
    )
    print(match.group(1))
    return 0


def redis(out, ident, title, path, test):
    """One test of `redis-benchmark --csv`: rps, p50, p99."""
    lines = Path(path).read_text(encoding="utf-8", errors="replace").splitlines()
    header = None
    for line in lines:
        cells = [c.strip('"') for c in line.split(",")]
        if cells and cells[0] == "test":
            header = cells
            continue
        if header and cells and cells[0].upper() == test.upper():
            row = dict(zip(header, cells))
            append(
                out,
                "results.jsonl",
                {
                    "id": ident,
                    "group": "reference ceilings",
                    "title": title,
                    "rps": float(row["rps"]),
                    "p50_ms": float(row["p50_latency_ms"]),
                    "p99_ms": float(row["p99_latency_ms"]),
                    "errors": 0,
                },
            )
            print(row["rps"])
            return 0
    print(f"no {test} line in {path}", file=sys.stderr)
    append(out, "results.jsonl", {"id": ident, "group": "reference ceilings", "title": title, "failed": True})
    return 1


def cursor_after_id(ident):
    raw = json.dumps({"s": "id", "o": "a", "i": int(ident)}, separators=(",", ":"))
    print(base64.urlsafe_b64encode(raw.encode()).decode().rstrip("="))
    return 0


def process_table():
    """{pid: (ppid, comm, utime + stime in ticks)} from /proc."""
    table = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue  # exited meanwhile
        # comm is in parentheses and may hold spaces; the fields after it are plain.
        comm = stat[stat.index("(") + 1 : stat.rindex(")")]
        fields = stat[stat.rindex(")") + 2 :].split()
        table[int(entry.name)] = (int(fields[1]), comm, int(fields[11]) + int(fields[12]))
    return table


def postgres_pids(db):
    """PostgreSQL's processes that work for DB: its client backends and
    autovacuum workers, the shared ones (WAL writer, checkpointer, background
    writer, ...: no database), and the postmaster. Other databases' backends
    are left out: the machine may serve other work meanwhile."""
    query = "select pid from pg_stat_activity where datname = current_database() or datname is null"
    try:
        text = subprocess.run(
            ["psql", "-X", "-d", db, "-tAc", query], capture_output=True, text=True, check=True
        ).stdout
    except (OSError, subprocess.CalledProcessError):
        return set()
    return {int(line) for line in text.split() if line.isdigit()}


def cpu_ticks(out, name, pid, db):
    """Saves the ticks of PID and its descendants and, per process, of
    PostgreSQL's processes for DB (those running on this host), with the time."""
    pg_pids = postgres_pids(db)
    table = process_table()
    tree, frontier = set(), {int(pid)}
    while frontier:
        tree |= frontier
        frontier = {p for p, (ppid, _, _) in table.items() if ppid in frontier} - tree
    pg = {p: table[p][2] for p in pg_pids if p in table and table[p][1] == "postgres"}
    postmasters = {table[p][0] for p in pg}
    pg.update({p: table[p][2] for p in postmasters if p in table and table[p][1] == "postgres"})
    snapshot = {
        "app": sum(table[p][2] for p in tree if p in table),
        "pg": pg,
        "ns": time.time_ns(),
    }
    Path(out, "cpu").mkdir(exist_ok=True)
    Path(out, "cpu", f"{name}.json").write_text(json.dumps(snapshot), encoding="utf-8")
    return 0


def cpu(out, ident):
    """CPU µs per request of the app and of PostgreSQL during one measured run,
    and the cores each kept busy on average. PostgreSQL's figure sums the
    processes seen both before and after (a connection opened or closed
    meanwhile is left out; the pools keep theirs open)."""
    tick_us = 1e6 / os.sysconf("SC_CLK_TCK")
    before, after = (
        json.loads(Path(out, "cpu", f"{ident}.{when}.json").read_text(encoding="utf-8"))
        for when in ("before", "after")
    )
    results, _ = load(out)
    row = results.get(ident)
    if row is None or row.get("failed") or not row.get("requests"):
        return 1
    wall_us = (after["ns"] - before["ns"]) / 1000
    ticks = {"app": after["app"] - before["app"]}
    both = set(before["pg"]) & set(after["pg"])
    if both:  # PostgreSQL runs on this host
        ticks["pg"] = sum(after["pg"][p] - before["pg"][p] for p in both)
    for who, n in ticks.items():
        value(out, f"cpu_{ident}_{who}_us", n * tick_us / row["requests"])
        value(out, f"cpu_{ident}_{who}_cores", n * tick_us / wall_us)
    return 0


def value_of(out, key):
    _, values = load(out)
    v = values.get(key)
    print("" if v is None else (f"{v:.1f}" if isinstance(v, float) else v))
    return 0


def json_field(field):
    data = json.load(sys.stdin)
    result = data.get(field)
    print("" if result is None else result)
    return 0


# ---------------------------------------------------------------------------
# The report


def load(out):
    results, values = {}, {}
    path = Path(out) / "results.jsonl"
    if path.exists():
        for line in path.read_text(encoding="utf-8").splitlines():
            row = json.loads(line)
            results[row["id"]] = row
    path = Path(out) / "values.jsonl"
    if path.exists():
        for line in path.read_text(encoding="utf-8").splitlines():
            row = json.loads(line)
            values[row["key"]] = row["value"]
    return results, values


def fmt_num(x, digits=0):
    if x is None:
        return "–"
    return f"{x:,.{digits}f}"


def fmt_ms(x):
    if x is None:
        return "–"
    if x < 1:
        return f"{x:.3f}"
    return f"{x:.2f}" if x < 10 else f"{x:.1f}"


def targets(results, values):
    """(target text, measured text, ok or None) for each target of issue 6."""
    rows = []

    def rps(ident):
        row = results.get(ident)
        return None if row is None or row.get("failed") else row["rps"]

    def p99(ident):
        row = results.get(ident)
        return None if row is None or row.get("failed") else row["p99_ms"]

    def ratio(name, ident, ref_ident, ref_label, minimum):
        a, b = rps(ident), rps(ref_ident)
        if a is None or not b:
            rows.append((f"{name} ≥ {minimum:.0%} of {ref_label}", "not measured", None))
            return
        r = a / b
        rows.append(
            (
                f"{name} ≥ {minimum:.0%} of {ref_label}",
                f"{fmt_num(a)} / {fmt_num(b)} = {r:.1%}",
                r >= minimum,
            )
        )

    ratio("get by id", "1k_get", "ref_pgbench_S", "`pgbench -S` tps", 0.60)
    ratio("get by id", "1k_get", "ref_peer_get", "the bare axum + sqlx peer (stock pool)", 0.90)
    ratio(
        "get by id",
        "1k_get",
        "ref_peer_no_ping_get",
        "the same peer with the service's pool (no ping per query)",
        0.90,
    )
    ratio("create", "1k_create", "ref_pgbench_N", "`pgbench -N` tps", 0.50)
    ratio(
        "create, audited",
        "1k_create",
        "1k_create_unaudited",
        "create without the audit trigger",
        0.85,
    )
    ratio(
        "cached list of 1,000",
        "1k_list_cached",
        "ref_redis_get",
        "`redis-benchmark` GET ops/s (same value size)",
        1.00,
    )
    ratio(
        "cached list of 1,000",
        "1k_list_cached",
        "ref_peer_page",
        "the peer serving the same bytes from memory",
        0.90,
    )
    create, flask = rps("1k_create"), rps("1k_create_flask")
    rows.append(
        (
            "create ≥ 4× the original Flask service (reconstructed, gunicorn sync workers)",
            "not measured" if not (create and flask)
            else f"{fmt_num(create)} / {fmt_num(flask)} = {create / flask:.2f}×",
            None if not (create and flask) else create / flask >= 4.0,
        )
    )
    for ident, label, limit in [
        ("1m_first_uncached", "1M first page p99 (uncached)", 10.0),
        ("1m_deep_uncached", "1M deep cursor page p99 (uncached)", 10.0),
        ("1m_name_uncached", "1M `sort=name` p99 (uncached)", 10.0),
        ("1m_created_uncached", "1M `sort=-created_at` p99 (uncached)", 10.0),
        ("1m_disabled_name_uncached", "1M `status=disabled&sort=name` p99 (uncached)", 10.0),
        (
            "1m_q_uncached",
            f"1M `q` search p99 (uncached, {values.get('page_connections', 0):.0f} connections)",
            50.0,
        ),
    ]:
        v = p99(ident)
        rows.append(
            (
                f"{label} < {limit:.0f} ms",
                "not measured" if v is None else f"{fmt_ms(v)} ms",
                None if v is None else v < limit,
            )
        )
    rss = [values.get(k) for k in ("rss_peak_1k_kib", "rss_peak_1m_kib") if values.get(k)]
    if rss:
        peak = max(rss) / 1024
        rows.append(("peak RSS under load ≤ 64 MiB", f"{peak:.1f} MiB", peak <= 64))
    else:
        rows.append(("peak RSS under load ≤ 64 MiB", "not measured", None))
    speed, rss_export = values.get("export_1m_rows_per_s"), values.get("rss_peak_1m_export_kib")
    rows.append(
        (
            "CSV export at 1M users ≥ 150,000 rows/s",
            "not measured" if speed is None else f"{fmt_num(speed)} rows/s",
            None if speed is None else speed >= 150_000,
        )
    )
    rows.append(
        (
            "peak RSS of the exporting instance ≤ 64 MiB",
            "not measured" if rss_export is None else f"{rss_export / 1024:.1f} MiB",
            None if rss_export is None else rss_export / 1024 <= 64,
        )
    )
    hooked, plain = rps("1k_create_hooked"), rps("1k_create")
    rows.append(
        (
            "create rate with one webhook endpoint ≥ 80 % of none",
            "not measured" if not (hooked and plain) else f"{hooked / plain * 100:.1f} % ({fmt_num(hooked)} / {fmt_num(plain)} req/s)",
            None if not (hooked and plain) else hooked / plain >= 0.8,
        )
    )
    p50, p99 = values.get("webhook_p50_ms"), values.get("webhook_p99_ms")
    missing = values.get("webhook_missing") or 0
    rows.append(
        (
            "webhook delivery, commit → receipt at 200 changes/s: p99 < 50 ms, none missing (p50 / p99)",
            "not measured" if p99 is None else f"{p50:.1f} / {p99:.1f} ms ({fmt_num(missing)} missing)",
            None if p99 is None else p99 < 50 and missing == 0,
        )
    )
    for key, title, limit in [
        ("import_100k_dry_run_s", "import of 100,000 new users at 1M: dry run ≤ 5 s", 5),
        ("import_100k_apply_s", "import of 100,000 new users at 1M: apply ≤ 10 s", 10),
        ("import_100k_reimport_s", "re-import of the same 100,000 (all unchanged) ≤ 5 s", 5),
    ]:
        v = values.get(key)
        rows.append((title, "not measured" if v is None else f"{v:.2f} s", None if v is None else v <= limit))
    start = values.get("start_warm_1m_ms")
    rows.append(
        (
            "start → healthy ≤ 1 s (migrations applied, 1M users)",
            "not measured" if start is None else f"{start:.0f} ms",
            None if start is None else start <= 1000,
        )
    )
    return rows


def size_label(n):
    n = int(n)
    if n >= 1_000_000 and n % 1_000_000 == 0:
        return f"{n // 1_000_000}M"
    if n >= 1000 and n % 1000 == 0:
        return f"{n // 1000}k"
    return f"{n:,}"


def growth_table(results, values):
    """The cost growth table: a row per measurement, a column per database size.
    The smaller sizes come from the growth section of bench/run (ids and keys
    growth_<n>_...); the largest from the large-table section (1m_...)."""
    sizes = [int(n) for n in str(values.get("growth_sizes") or "").split()]
    large = values.get("large_users")
    columns = [(n, f"growth_{n}_") for n in sizes if n != large]
    if large:
        columns.append((int(large), None))
    if not columns:
        return ""

    def page(ident):
        row = results.get(ident)
        if row is None:
            return "–"
        if row.get("failed"):
            return "failed"
        text = f"{fmt_ms(row['p99_ms'])} ms / {fmt_num(row['rps'])}"
        return text + (f" ({row['errors']} errors)" if row["errors"] else "")

    def scalar(key, unit):
        v = values.get(key)
        if v is None:
            return "–"
        if unit == "KiB":
            return f"{v / 1024:.1f} MiB"
        if unit == "s":
            return f"{v:.2f} s"
        return fmt_num(v)

    rows = [
        ("first page (limit 50): p99 / req/s", "first", "1m_first_uncached", None),
        ("deep page via cursor (at 90 %): p99 / req/s", "deep", "1m_deep_uncached", None),
        ("`q` search (8 surnames): p99 / req/s", "q", "1m_q_uncached", None),
        ("CSV export: rows/s", "export_rows_per_s", "export_1m_rows_per_s", "rows/s"),
        ("import of 100,000 new users, applied in one transaction", "import_apply_s", "import_100k_apply_s", "s"),
        ("peak RSS (VmHWM) after the pages and the export", "rss_export_kib", "rss_peak_1m_export_kib", "KiB"),
        ("peak RSS (VmHWM) after the import", "rss_import_kib", "rss_peak_1m_import_kib", "KiB"),
    ]
    lines = [
        "| measurement | " + " | ".join(f"{size_label(n)} users" for n, _ in columns) + " |",
        "|---|" + "---:|" * len(columns),
    ]
    for label, growth_key, large_key, unit in rows:
        cells = []
        for _, prefix in columns:
            key = large_key if prefix is None else prefix + growth_key
            cells.append(page(key) if unit is None else scalar(key, unit))
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def cpu_rows(results, values):
    """Rows of "Other measurements": CPU per create of the app and of PostgreSQL,
    and what the audit trigger costs per row."""
    cores = values.get("cores")
    rows = []
    for ident in ("1k_create", "1k_create_unaudited", "1k_create_hooked", "1k_create_flask"):
        app, pg = values.get(f"cpu_{ident}_app_us"), values.get(f"cpu_{ident}_pg_us")
        if app is None or ident not in results:
            continue
        busy_app, busy_pg = values.get(f"cpu_{ident}_app_cores"), values.get(f"cpu_{ident}_pg_cores")
        of = f" of {cores:.0f}" if cores else ""
        if pg is None:  # PostgreSQL on another host
            text = f"{app:,.0f} / – µs (cores busy: app {busy_app:.2f}{of})"
        else:
            text = f"{app:,.0f} / {pg:,.0f} µs (cores busy: app {busy_app:.2f}, PostgreSQL {busy_pg:.2f}{of})"
        rows.append((f"CPU per request, {results[ident]['title']}: app / PostgreSQL", text))
    audited, unaudited = values.get("cpu_1k_create_pg_us"), values.get("cpu_1k_create_unaudited_pg_us")
    if audited is not None and unaudited is not None:
        app_a, app_u = values.get("cpu_1k_create_app_us"), values.get("cpu_1k_create_unaudited_app_us")
        rows.append(
            (
                "the audit trigger per created row: PostgreSQL CPU (audited − unaudited)",
                f"{audited - unaudited:,.0f} µs (app: {app_a - app_u:,.0f} µs)",
            )
        )
    return rows


def verdict(ok):
    return "–" if ok is None else ("met" if ok else "**missed**")


def report(out, results_md):
    results, values = load(out)
    lines = []
    lines.append("| scenario | requests/s | p50 ms | p99 ms | errors |")
    lines.append("|---|---:|---:|---:|---:|")
    group = None
    # Grouped in the order groups first appear (references measured beside a
    # scenario stay with the other references).
    first = {}
    # The growth section's rows have a table of their own.
    scenarios = [row for row in results.values() if not row["id"].startswith("growth_")]
    for row in scenarios:
        first.setdefault(row["group"], len(first))
    for row in sorted(scenarios, key=lambda row: first[row["group"]]):
        if row["group"] != group:
            group = row["group"]
            lines.append(f"| **{group}** | | | | |")
        if row.get("failed"):
            lines.append(f"| {row['title']} | failed | | | |")
            continue
        lines.append(
            f"| {row['title']} | {fmt_num(row['rps'])} | {fmt_ms(row['p50_ms'])} "
            f"| {fmt_ms(row['p99_ms'])} | {row['errors']} |"
        )
    table = "\n".join(lines)

    tlines = ["| target | measured | verdict |", "|---|---|---|"]
    for name, measured, ok in targets(results, values):
        tlines.append(f"| {name} | {measured} | {verdict(ok)} |")
    target_table = "\n".join(tlines)

    other = ["| measurement | value |", "|---|---|"]
    for key, label, unit in [
        ("seed_1m_s", "`seed-demo` of 1,000,000 users", "s"),
        ("disable_1m_s", "disabling 1 % of the 1,000,000 users (one UPDATE, audited)", "s"),
        ("vacuum_1m_s", "`vacuum analyze users` after that", "s"),
        ("disabled_1m", "disabled users in the 1,000,000-user database", "users"),
        ("export_1m_rows", "CSV export of the 1,000,000-user database: rows", "rows"),
        ("export_1m_s", "CSV export of the 1,000,000-user database: time", "s"),
        ("export_1m_rows_per_s", "CSV export: rows per second", "rows/s"),
        ("rss_peak_1m_export_kib", "peak RSS (VmHWM) of the exporting instance", "KiB"),
        ("import_100k_dry_run_s", "import of 100,000 new users: dry run (plan only)", "s"),
        ("import_100k_apply_s", "import of 100,000 new users: applied in one transaction", "s"),
        ("import_100k_reimport_s", "the same file again: 100,000 unchanged", "s"),
        ("rss_peak_1m_import_kib", "peak RSS (VmHWM) of the instance after the imports", "KiB"),
        ("start_cold_ms", "start → healthy, empty server: create database, all migrations, first admin", "ms"),
        ("start_warm_1k_ms", "start → healthy, 1,000 users, migrations applied", "ms"),
        ("start_warm_1m_ms", "start → healthy, 1,000,000 users, migrations applied", "ms"),
        ("rss_peak_1k_kib", "peak RSS (VmHWM), cached instance, 1,000-user scenarios", "KiB"),
        ("rss_peak_1k_uncached_kib", "peak RSS (VmHWM), uncached instance, 1,000-user scenarios", "KiB"),
        ("rss_peak_1m_kib", "peak RSS (VmHWM), cached instance, 1,000,000-user scenarios", "KiB"),
        ("rss_peak_1m_uncached_kib", "peak RSS (VmHWM), uncached instance, 1,000,000-user scenarios", "KiB"),
        ("page_1000_bytes", "size of the cached 1,000-user page", "bytes"),
    ]:
        if key in values:
            v = values[key]
            if unit == "KiB":
                text = f"{v / 1024:.1f} MiB"
            elif unit == "s":
                text = f"{v:.1f} s"
            else:
                text = f"{fmt_num(v)} {unit}"
            other.append(f"| {label} | {text} |")
    for label, text in cpu_rows(results, values):
        other.append(f"| {label} | {text} |")
    other_table = "\n".join(other)

    growth = growth_table(results, values)
    notes_path = Path(__file__).with_name("growth-notes.md")
    notes = notes_path.read_text(encoding="utf-8").strip() if notes_path.exists() else ""
    growth_section = ""
    if growth:
        growth_section = f"""
## Cost growth

The uncached instance's figures at each size: databases ua_bench_<size>, filled like the
large one (1 % of the users disabled). Smaller sizes: {values.get('page_connections', 0):.0f} connections,
{values.get('growth_duration', 0):.0f}s per page scenario. The largest column is the large-table section
above, with its durations (its peak RSS after the import also covers the dry run and the
re-import). Pages: p99 ms / requests/s.

{growth}
{chr(10) + notes + chr(10) if notes else ""}"""

    machine = Path(out, "machine.txt").read_text(encoding="utf-8") if Path(out, "machine.txt").exists() else ""
    settings = Path(out, "settings.txt").read_text(encoding="utf-8") if Path(out, "settings.txt").exists() else ""

    print()
    print(table)
    print()
    print(target_table)
    print()
    print(other_table)
    if growth:
        print()
        print(growth)

    md = f"""# Benchmark results

Written by `bench/run` ({time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}); raw output of
every tool is in `{out}/`. The load generator, the app, PostgreSQL and Redis share
the machine, so every ratio below compares figures taken in this same run.

## Machine

```
{machine.strip()}
```

## Settings

```
{settings.strip()}
```

## Scenarios

"uncached" pages come from a second instance whose Redis refuses writes (a throwaway
`redis-server` with `SET` disabled), so no page is ever stored and every request runs
the page query and the count in PostgreSQL. That instance sees its Redis as failing,
so its bearer-token checks (cached per Redis generation) also go to PostgreSQL: the
uncached figures include one indexed token query per request. "Cached" pages come from
the normal instance after a warm-up, so every measured request is a cache hit.
Latencies are wrk's, closed loop: {values.get('connections', 0):.0f} connections, except the
large-table pages ({values.get('page_connections', 0):.0f} connections, two requests in flight per core:
their targets are latencies, and at 16 connections on 2 cores queueing dominates them); p50/p99 in
milliseconds; errors are connection errors, timeouts and non-2xx answers.

{table}

## Targets

{target_table}

## Other measurements

CPU per request is utime + stime from /proc, sampled right before and after the measured
run, divided by the requests answered: of the app process (with its workers, for the
Flask service) and of the PostgreSQL processes serving its database (its backends and
autovacuum workers, the shared WAL writer, checkpointer and background writer, and the
postmaster; other databases' backends are left out). "Cores busy" is that CPU time over
the run's wall time; wrk shares the cores, so the larger of the two shows which side bounds
the rate.

{other_table}
{growth_section}"""
    Path(results_md).write_text(md, encoding="utf-8")
    print(f"\nwritten to {results_md}")
    return 0


def main(argv):
    if len(argv) < 2:
        print(__doc__, file=sys.stderr)
        return 2
    command, args = argv[1], argv[2:]
    commands = {
        "wait-healthy": wait_healthy,
        "record": record,
        "value": value,
        "pgbench": pgbench,
        "redis": redis,
        "cursor-after-id": cursor_after_id,
        "cpu-ticks": cpu_ticks,
        "cpu": cpu,
        "json-field": json_field,
        "value-of": value_of,
        "report": report,
    }
    if command not in commands:
        print(__doc__, file=sys.stderr)
        return 2
    return commands[command](*args)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
