#!/usr/bin/env python3
"""The benchmark harness of BENCHMARKS.md (issue 5). Run it through `bench/run`.

activity-feed against the same work done by raw SQL (pgbench -M prepared) and
by PostGraphile 4, on one seeded PostgreSQL database, in one run, alternating
the systems cell by cell; plus activity-feed on SQLite for the embedded
numbers, live subscriptions over websockets (S1 stress, S2 per-user feeds, S3
broadcast, S2 on two instances; every stream checked against the table) and
memory.

Every process it starts is stopped by its PID; all traffic goes to 127.0.0.1;
every load is bounded in time (and the load client also in count).
"""

from __future__ import annotations

import argparse
import atexit
import base64
import datetime as dt
import json
import os
import platform
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
PG_HOST, PG_PORT, PG_USER = "127.0.0.1", 5432, "postgres"
HOST = "127.0.0.1"  # every load goes here and nowhere else
PORTS = {"ours": 18080, "pgl": 18081, "ours_sqlite": 18082}
SYSTEM_NAMES = {
    "ours": "activity-feed (PostgreSQL)",
    "sql": "raw SQL (pgbench -M prepared)",
    "pgl": "PostGraphile 4",
    "ours_sqlite": "activity-feed (SQLite)",
}
WRK_CAP_PER_THREAD = 1_000_000  # the count bound of one wrk cell, per thread

STARTED: list["Proc"] = []


def log(msg: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


# --------------------------------------------------------------------------
# Processes: started in their own session, stopped by PID.


class Proc:
    def __init__(self, name: str, argv: list[str], log_path: Path, env=None, cwd=None):
        self.name = name
        self.log_path = log_path
        self.log_file = open(log_path, "ab")
        self.popen = subprocess.Popen(
            argv,
            stdout=self.log_file,
            stderr=subprocess.STDOUT,
            env={**os.environ, **(env or {})},
            cwd=cwd,
            start_new_session=True,
        )
        self.pid = self.popen.pid
        STARTED.append(self)
        log(f"started {name} (pid {self.pid})")

    def alive(self) -> bool:
        return self.popen.poll() is None

    def stop(self) -> None:
        if self.alive():
            try:
                os.kill(self.pid, signal.SIGTERM)
                self.popen.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.kill(self.pid, signal.SIGKILL)
                self.popen.wait(timeout=10)
            except ProcessLookupError:
                pass
            log(f"stopped {self.name} (pid {self.pid})")
        if self in STARTED:
            STARTED.remove(self)
        self.log_file.close()


def stop_all() -> None:
    for p in list(STARTED):
        try:
            p.stop()
        except Exception as e:  # keep stopping the others
            log(f"could not stop {p.name}: {e}")


atexit.register(stop_all)
signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))


def rss_kib(pid: int) -> int | None:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def cpu_secs(pid: int | None) -> float | None:
    """User + system CPU time a process has used, in seconds."""
    if not pid:
        return None
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return None


class RssSampler:
    """The largest RSS of a process while a cell runs."""

    def __init__(self, pid: int | None):
        self.pid, self.max, self._stop = pid, 0, threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        while not self._stop.is_set():
            if self.pid:
                self.max = max(self.max, rss_kib(self.pid) or 0)
            self._stop.wait(0.25)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()


def run(argv, **kw) -> subprocess.CompletedProcess:
    kw.setdefault("check", True)
    kw.setdefault("text", True)
    return subprocess.run(argv, **kw)


# --------------------------------------------------------------------------
# PostgreSQL and SQLite.


def psql(db: str, sql: str) -> str:
    out = run(
        ["psql", "-h", PG_HOST, "-p", str(PG_PORT), "-U", PG_USER, "-d", db, "-XAtq",
         "-v", "ON_ERROR_STOP=1", "-c", sql],
        capture_output=True,
    )
    return out.stdout.strip()


def pg_url(db: str) -> str:
    return f"postgres://{PG_USER}@{PG_HOST}:{PG_PORT}/{db}"


def seed_sql(binary: Path, db: str, count: int, users: int, logs: Path, days: int = 60) -> float:
    """The large tiers' seed (bench/seed/): set-based SQL, the rows written by
    two sessions at once. Returns the seconds it took."""
    log(f"seeding {count:,} activities over {users} users into {db} with set-based SQL")
    t0 = time.time()
    with open(logs / f"seed-{db}.log", "ab") as f:
        run([str(binary), "--database-url", pg_url(db), "migrate"], stdout=f, stderr=subprocess.STDOUT)
    base = ["psql", "-h", PG_HOST, "-p", str(PG_PORT), "-U", PG_USER, "-d", db, "-Xq",
            "-v", f"rows={count}", "-v", f"users={users}", "-v", f"days={days}"]
    run(base + ["-f", str(BENCH / "seed/before.sql")], capture_output=True)
    sessions = 2
    bounds = [(count * k // sessions + 1, count * (k + 1) // sessions) for k in range(sessions)]
    procs = [subprocess.Popen(base + ["-v", f"lo={lo}", "-v", f"hi={hi}", "-f", str(BENCH / "seed/rows.sql")],
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
             for lo, hi in bounds]
    for p in procs:
        _, err = p.communicate()
        if p.returncode != 0:
            raise RuntimeError(f"seeding rows failed: {err.strip()[-400:]}")
    log(f"rows written in {time.time() - t0:.0f} s; building indexes")
    run(base + ["-f", str(BENCH / "seed/after.sql")], capture_output=True)
    secs = time.time() - t0
    log(f"seeded in {secs:.0f} s")
    return secs


def delete_bench_rows(db: str) -> None:
    """Deletes the rows the benchmark wrote, behind the server's back: the
    rollups no longer match the table then, so they are emptied, and the
    next server's folder rebuilds them (reads stay exact meanwhile)."""
    psql(db, "DO $$ DECLARE n bigint; BEGIN "
             "DELETE FROM activities WHERE module = 'bench'; GET DIAGNOSTICS n = ROW_COUNT; "
             "IF n > 0 AND to_regclass('activity_rollup_mark') IS NOT NULL THEN "
             "TRUNCATE activity_rollup_hours, activity_rollup_totals, activity_rollup_hour_totals; "
             "UPDATE activity_rollup_mark SET txid = 0, seq = 0; END IF; END $$")


def delete_bench_rows_sqlite(con) -> None:
    """[`delete_bench_rows`] on SQLite."""
    n = con.execute("DELETE FROM activities WHERE module = 'bench'").rowcount
    has_rollups = con.execute("SELECT 1 FROM sqlite_master WHERE name = 'activity_rollup_mark'").fetchone()
    if n and has_rollups:
        for table in ("activity_rollup_hours", "activity_rollup_totals", "activity_rollup_hour_totals"):
            con.execute(f"DELETE FROM {table}")
        con.execute("UPDATE activity_rollup_mark SET txid = 0, seq = 0")
    con.commit()


def wait_folded_sqlite(path: Path, timeout: float = 1800) -> None:
    """[`wait_folded`] for the SQLite file."""
    t0 = time.time()
    while time.time() - t0 < timeout:
        con = sqlite3.connect(path, timeout=60)
        try:
            lag = con.execute("SELECT count(*) FROM activities WHERE (txid, seq) > "
                              "(SELECT txid, seq FROM activity_rollup_mark)").fetchone()[0]
        except sqlite3.Error:
            lag = 0
        finally:
            con.close()
        if not lag:
            return
        time.sleep(2)


def rollup_lag(db: str) -> int | None:
    """Rows not yet in the rollups; None for a server without rollups."""
    try:
        return int(psql(db, "SELECT count(*) FROM activities WHERE (txid, seq) > "
                            "(SELECT txid, seq FROM activity_rollup_mark)"))
    except subprocess.CalledProcessError:
        return None


def wait_folded(db: str, timeout: float = 1800) -> float | None:
    """Waits until the server's folder has taken every row into the rollups;
    the seconds it took, or None for a server without rollups."""
    t0 = time.time()
    lag = rollup_lag(db)
    if lag is None:
        return None
    log(f"waiting for the rollup folder ({lag:,} rows to fold)")
    while lag and time.time() - t0 < timeout:
        time.sleep(2)
        lag = rollup_lag(db) or 0
    secs = time.time() - t0
    log(f"rollups caught up in {secs:.0f} s")
    return secs


def ensure_pg_database(binary: Path, db: str, count: int, users: int, logs: Path,
                       sql_seed: bool = False) -> float | None:
    exists = psql("postgres", f"SELECT 1 FROM pg_database WHERE datname = '{db}'") == "1"
    if exists:
        try:
            delete_bench_rows(db)
            n = int(psql(db, "SELECT count(*) FROM activities"))
            u = int(psql(db, "SELECT count(*) FROM users"))
        except subprocess.CalledProcessError:
            n = u = -1
        if n == count and u == users:
            log(f"reusing database {db} ({n} activities, {u} users)")
            psql(db, "VACUUM ANALYZE activities")
            return None
        log(f"database {db} has {n} activities and {u} users, not {count}/{users}: recreating")
        psql("postgres", f'DROP DATABASE "{db}"')
    psql("postgres", f'CREATE DATABASE "{db}"')
    if sql_seed:
        return seed_sql(binary, db, count, users, logs)
    seed(binary, pg_url(db), count, users, logs / f"seed-{db}.log")
    psql(db, "VACUUM ANALYZE")
    return None


def seed(binary: Path, url: str, count: int, users: int, log_path: Path) -> None:
    log(f"seeding {count} activities over {users} users into {url}")
    t0 = time.time()
    with open(log_path, "ab") as f:
        run([str(binary), "--database-url", url, "seed", "--count", str(count),
             "--users", str(users), "--seed", "1"], stdout=f, stderr=subprocess.STDOUT,
            env={**os.environ, "RUST_LOG": "info"}, text=False)
    log(f"seeded in {time.time() - t0:.0f} s")


def ensure_sqlite(binary: Path, path: Path, count: int, users: int, logs: Path) -> None:
    if path.exists():
        try:
            con = sqlite3.connect(path)
            delete_bench_rows_sqlite(con)
            n = con.execute("SELECT count(*) FROM activities").fetchone()[0]
            u = con.execute("SELECT count(*) FROM users").fetchone()[0]
            con.close()
        except sqlite3.Error:
            n = u = -1
        if n == count and u == users:
            log(f"reusing SQLite file {path} ({n} activities)")
            return
        for suffix in ("", "-wal", "-shm"):
            Path(str(path) + suffix).unlink(missing_ok=True)
    path.parent.mkdir(parents=True, exist_ok=True)
    seed(binary, f"sqlite://{path}?mode=rwc", count, users, logs / "seed-sqlite.log")
    con = sqlite3.connect(path)
    con.execute("ANALYZE")
    con.close()


# --------------------------------------------------------------------------
# The systems.


def http_json(url: str, body: dict | None = None, timeout=30) -> dict:
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=timeout) as r:
        return json.loads(r.read())


def wait_ready(name: str, proc: Proc, check, timeout=120) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if not proc.alive():
            raise SystemExit(f"{name} exited; see {proc.log_path}")
        try:
            if check():
                return
        except (urllib.error.URLError, ConnectionError, OSError, ValueError):
            pass
        time.sleep(0.3)
    raise SystemExit(f"{name} not ready after {timeout} s; see {proc.log_path}")


def start_ours(binary: Path, url: str, port: int, name: str, logs: Path, extra: tuple = ()) -> Proc:
    p = Proc(name, [str(binary), "--database-url", url, "serve", "--bind", f"{HOST}:{port}",
                    "--retention-interval", "0s", *extra],
             logs / f"{name}.log", env={"RUST_LOG": os.environ.get("BENCH_RUST_LOG", "warn")})

    def ready():
        with urllib.request.urlopen(f"http://{HOST}:{port}/readyz", timeout=2) as r:
            return r.status == 200

    wait_ready(name, p, ready)
    return p


def start_postgraphile(db: str, port: int, logs: Path) -> Proc:
    pg_dir = BENCH / "postgraphile"
    argv = [
        "node", str(pg_dir / "node_modules/postgraphile/cli.js"),
        "--connection", pg_url(db), "--schema", "public",
        "--host", HOST, "--port", str(port),
        "--append-plugins", "postgraphile-plugin-connection-filter",
        "--dynamic-json", "--disable-query-log", "--no-ignore-rbac",
        "--max-pool-size", "16", "--disable-graphiql",
    ]
    # cwd holds postgraphile.tags.json5: the actor "foreign key" (there is no
    # real one: an unknown actor is allowed) so that userByActorUuid exists.
    p = Proc("postgraphile", argv, logs / "postgraphile.log", cwd=pg_dir,
             env={"NODE_ENV": "production"})

    def ready():
        r = http_json(f"http://{HOST}:{port}/graphql", {"query": "{ __typename }"}, timeout=2)
        return r.get("data", {}).get("__typename") == "Query"

    wait_ready("postgraphile", p, ready)
    return p


# --------------------------------------------------------------------------
# The workloads: one document per system, doing the same work.

OURS_FIELDS = ("uuid action module mode actorUuid resourceType resourceUuid targetUuid "
               "metadata insertedAt actor { email }")
PGL_FIELDS = ("uuid action module mode actorUuid resourceType resourceUuid targetUuid "
              "metadata insertedAt userByActorUuid { email }")
PGL_ORDER = "orderBy: [INSERTED_AT_DESC, UUID_DESC]"
SQL_COLUMNS = ("a.uuid, a.action, a.module, a.mode, a.actor_uuid, a.resource_type, "
               "a.resource_uuid, a.target_uuid, a.metadata, a.inserted_at, u.email")
SQL_PAGE = (f"SELECT {SQL_COLUMNS} FROM activities a LEFT JOIN users u ON u.uuid = a.actor_uuid")
SQL_ORDER = "ORDER BY a.inserted_at DESC, a.uuid DESC"
SQL_INSERT_COLS = ("INSERT INTO activities (uuid, action, module, mode, actor_uuid, "
                   "resource_type, resource_uuid, target_uuid, metadata, inserted_at) VALUES ")
METADATA = {"source": "bench", "n": 1}


def sql_row(action: str) -> str:
    return (f"(gen_random_uuid(), '{action}', 'bench', 'script', :actor, 'post', "
            f"gen_random_uuid(), NULL, '{json.dumps(METADATA)}', now())")


def our_cursor(micros: int, uuid: str) -> str:
    raw = f"{micros}:{uuid.replace('-', '')}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def pgl_cursor(iso: str, uuid: str) -> str:
    # PostGraphile 4's cursor: base64 of JSON [orderBy names..., [values]].
    raw = json.dumps(["inserted_at_desc", "uuid_desc", [iso, uuid]], separators=(",", ":"))
    return base64.b64encode(raw.encode()).decode()


def gql(query: str, variables: dict | None = None) -> dict:
    body = {"query": query}
    if variables is not None:
        body["variables"] = variables
    return {"kind": "http", "body": body}


def pgbench(script: str, **defines) -> dict:
    return {"kind": "pgbench", "script": script, "defines": defines}


# The keys of the HTTP cells, for --only (the S rows' keys are in S_ROWS).
WORKLOAD_KEYS = ("q1_feed", "q1_page", "q2_filtered", "q3_count", "q3_by_action", "q3_by_day",
                 "q3_by_hour", "q3_options", "q3_action_types", "q3_summary",
                 "q4_deep_cursor", "q4_offset", "m1_log", "m2_batch")


def workloads(p: dict) -> list[dict]:
    """p: parameters found in the seeded data (actor, deep cursors, offset page)."""
    actor, deep, page = p["actor"], p["deep"], p["offset_page"]
    offset = (page - 1) * 50
    feed = lambda args: f"{{ activityFeed({args}) {{ edges {{ cursor node {{ {OURS_FIELDS} }} }} pageInfo {{ hasNextPage endCursor }} }} }}"
    pgl_feed = lambda args: f"{{ allActivities({args}) {{ edges {{ cursor node {{ {PGL_FIELDS} }} }} pageInfo {{ hasNextPage endCursor }} }} }}"
    post_filter = f'filter: {{action: "post.*", actorUuid: "{actor}"}}'
    pgl_post_filter = f'filter: {{action: {{startsWith: "post."}}, actorUuid: {{equalTo: "{actor}"}}}}'
    post_range = "a.action >= 'post.' AND a.action < 'post/'"
    w = [
        dict(key="q1_feed", name="Q1 first page, activityFeed(first: 50)", kind="read",
             conc=[1, 16, 64],
             ours=gql(feed("first: 50")),
             pgl=gql(pgl_feed(f"first: 50, {PGL_ORDER}")),
             sql=pgbench(f"{SQL_PAGE} {SQL_ORDER} LIMIT 50;")),
        dict(key="q1_page", name="Q1 first page, activities(perPage: 50) with total", kind="read",
             conc=[1, 16],
             ours=gql(f"{{ activities(perPage: 50) {{ total page perPage totalPages entries {{ {OURS_FIELDS} }} }} }}"),
             pgl=gql(f"{{ allActivities(first: 50, {PGL_ORDER}) {{ totalCount nodes {{ {PGL_FIELDS} }} }} }}"),
             sql=pgbench(f"{SQL_PAGE} {SQL_ORDER} LIMIT 50;\nSELECT count(*) FROM activities;")),
        dict(key="q2_filtered", name='Q2 filtered page: action "post.*" + one actor', kind="read",
             conc=[1, 16],
             ours=gql(feed(f"first: 50, {post_filter}")),
             pgl=gql(pgl_feed(f"first: 50, {PGL_ORDER}, {pgl_post_filter}")),
             sql=pgbench(f"{SQL_PAGE} WHERE {post_range} AND a.actor_uuid = CAST(:actor AS uuid) {SQL_ORDER} LIMIT 50;",
                         actor=actor)),
        dict(key="q3_count", name='Q3 activityCount(action "post.*")', kind="read", conc=[1, 16],
             ours=gql('{ activityCount(filter: {action: "post.*"}) }'),
             pgl=gql('{ allActivities(filter: {action: {startsWith: "post."}}) { totalCount } }'),
             sql=pgbench(f"SELECT count(*) FROM activities a WHERE {post_range};")),
        dict(key="q3_by_action", name="Q3 activityCounts(groupBy: ACTION)", kind="read", conc=[1, 16],
             ours=gql("{ activityCounts(groupBy: ACTION) { key count } }"),
             sql=pgbench("SELECT action AS key, count(*) AS count FROM activities "
                         "GROUP BY action ORDER BY count DESC, key;")),
        dict(key="q3_by_day", name="Q3 activityCounts(groupBy: DAY)", kind="read", conc=[1, 16],
             ours=gql("{ activityCounts(groupBy: DAY) { key count } }"),
             sql=pgbench("SELECT to_char(inserted_at AT TIME ZONE 'UTC', 'YYYY-MM-DD') AS key, "
                         "count(*) AS count FROM activities GROUP BY 1 ORDER BY 1;")),
        dict(key="q3_by_hour", name="Q3 activityCounts(groupBy: HOUR)", kind="read", conc=[1, 16],
             ours=gql("{ activityCounts(groupBy: HOUR) { key count } }"),
             sql=pgbench("SELECT to_char(date_trunc('hour', inserted_at AT TIME ZONE 'UTC'), "
                         "'YYYY-MM-DD\"T\"HH24\":00:00Z\"') AS key, count(*) AS count FROM activities "
                         "GROUP BY date_trunc('hour', inserted_at AT TIME ZONE 'UTC') ORDER BY 1;")),
        dict(key="q3_action_types", name="Q3 actionTypes (one distinct list)", kind="read", conc=[1, 16],
             ours=gql("{ actionTypes }"),
             sql=pgbench("SELECT DISTINCT action FROM activities ORDER BY action;")),
        dict(key="q3_options", name="Q3 the dashboard's four dropdowns (actionTypes, modules, modes, resourceTypes)",
             kind="read", conc=[1, 16],
             ours=gql("{ actionTypes modules modes resourceTypes }"),
             sql=pgbench("SELECT DISTINCT action FROM activities ORDER BY action;\n"
                         "SELECT DISTINCT module FROM activities WHERE module IS NOT NULL ORDER BY module;\n"
                         "SELECT DISTINCT mode FROM activities WHERE mode IS NOT NULL ORDER BY mode;\n"
                         "SELECT DISTINCT resource_type FROM activities WHERE resource_type IS NOT NULL "
                         "ORDER BY resource_type;")),
        dict(key="q3_summary", name="Q3 the dashboard's summary: total, top actions, hours of the last 24 h",
             kind="read", conc=[1, 16],
             ours=gql("query($w: ActivityFilter) { total: activityCount "
                      "topActions: activityCounts(filter: $w, groupBy: ACTION) { key count } "
                      "timeline: activityCounts(filter: $w, groupBy: HOUR) { key count } }",
                      {"w": {"since": p["day_ago"]}}),
             sql=pgbench("SELECT count(*) FROM activities;\n"
                         "SELECT action, count(*) FROM activities WHERE inserted_at >= CAST(:since AS timestamptz) "
                         "GROUP BY action ORDER BY 2 DESC, 1;\n"
                         "SELECT date_trunc('hour', inserted_at AT TIME ZONE 'UTC'), count(*) FROM activities "
                         "WHERE inserted_at >= CAST(:since AS timestamptz) GROUP BY 1 ORDER BY 1;",
                         since=p["day_ago"])),
        dict(key="q4_deep_cursor", name=f"Q4 cursor page {p['deep_rows']:,} rows back", kind="read",
             conc=[1, 16],
             ours=gql(feed(f'first: 50, after: "{our_cursor(deep["micros"], deep["uuid"])}"')),
             pgl=gql(pgl_feed(f'first: 50, {PGL_ORDER}, after: "{pgl_cursor(deep["iso"], deep["uuid"])}"')),
             sql=pgbench(f"{SQL_PAGE} WHERE (a.inserted_at, a.uuid) < (CAST(:ts AS timestamptz), CAST(:id AS uuid)) "
                         f"{SQL_ORDER} LIMIT 50;", ts=deep["iso"], id=deep["uuid"])),
        dict(key="q4_offset", name=f"Q4 offset page {page:,} (perPage 50) with total", kind="read",
             conc=[1, 16],
             ours=gql(f"{{ activities(page: {page}, perPage: 50) {{ total entries {{ {OURS_FIELDS} }} }} }}"),
             pgl=gql(f"{{ allActivities(first: 50, offset: {offset}, {PGL_ORDER}) {{ totalCount nodes {{ {PGL_FIELDS} }} }} }}"),
             # The offset is taken on activities alone and the join done on the 50 rows left,
             # as the server does (page, then one users query): the best SQL for the job.
             sql=pgbench(f"SELECT {SQL_COLUMNS} FROM (SELECT * FROM activities a {SQL_ORDER} LIMIT 50 OFFSET {offset}) a "
                         f"LEFT JOIN users u ON u.uuid = a.actor_uuid {SQL_ORDER};\nSELECT count(*) FROM activities;")),
    ]
    log_input = {"action": "bench.m1", "module": "bench", "mode": "script", "actorUuid": actor,
                 "resourceType": "post", "resourceUuid": "__UUID__", "metadata": METADATA}
    pgl_input = {"uuid": "__UUID__", "action": "bench.m1", "module": "bench", "mode": "script",
                 "actorUuid": actor, "resourceType": "post", "resourceUuid": "__UUID__",
                 "metadata": METADATA, "insertedAt": "now"}
    batch = [dict(log_input, action="bench.m2") for _ in range(100)]
    pgl_batch = " ".join(
        f"m{i}: createActivity(input: {{activity: {{uuid: \"__UUID__\", action: \"bench.m2\", "
        f"module: \"bench\", mode: \"script\", actorUuid: \"{actor}\", resourceType: \"post\", "
        f"resourceUuid: \"__UUID__\", metadata: {{source: \"bench\", n: 1}}, insertedAt: \"now\"}}}}) "
        f"{{ activity {{ uuid insertedAt }} }}" for i in range(100))
    w += [
        dict(key="m1_log", name="M1 single log", kind="write", rows=1, conc=[1, 16],
             ours=gql("mutation($i: LogInput!) { log(input: $i) { activity { uuid insertedAt } errors { field message } } }",
                      {"i": log_input}),
             pgl=gql("mutation($i: CreateActivityInput!) { createActivity(input: $i) { activity { uuid insertedAt } } }",
                     {"i": {"activity": pgl_input}}),
             sql=pgbench(SQL_INSERT_COLS + sql_row("bench.m1") + ";", actor=actor)),
        dict(key="m2_batch", name="M2 logBatch of 100 (rows/s)", kind="write", rows=100, conc=[1, 16],
             ours=gql("mutation($i: [LogInput!]!) { logBatch(inputs: $i) { activity { uuid insertedAt } errors { field message } } }",
                      {"i": batch}),
             pgl=gql(f"mutation {{ {pgl_batch} }}"),
             sql=pgbench(SQL_INSERT_COLS + ",\n".join(sql_row("bench.m2") for _ in range(100)) + ";",
                         actor=actor)),
    ]
    return w


def find_parameters(db: str, count: int) -> dict:
    actor = psql(db, "SELECT actor_uuid FROM activities WHERE action >= 'post.' AND action < 'post/' "
                     "AND actor_uuid IS NOT NULL GROUP BY actor_uuid ORDER BY count(*) DESC, actor_uuid LIMIT 1")
    deep_rows = count * 9 // 10
    row = psql(db, "SELECT (extract(epoch FROM inserted_at) * 1000000)::bigint, uuid, "
                   "to_char(inserted_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"') "
                   f"FROM activities ORDER BY inserted_at DESC, uuid DESC OFFSET {deep_rows - 1} LIMIT 1")
    micros, uuid, iso = row.split("|")
    # The dashboard's window: the day before the newest row, cutting an hour.
    day_ago = psql(db, "SELECT to_char((max(inserted_at) - interval '1 day' - interval '17 minutes') "
                       "AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"') FROM activities")
    return {"actor": actor, "deep_rows": deep_rows,
            "deep": {"micros": int(micros), "uuid": uuid, "iso": iso},
            "offset_page": max(1, count * 18 // 1000), "day_ago": day_ago}


def find_sqlite_parameters(path: Path, count: int, pg_params: dict) -> dict:
    con = sqlite3.connect(path)
    deep_rows = count * 9 // 10
    at, uuid = con.execute("SELECT inserted_at, uuid FROM activities ORDER BY inserted_at DESC, uuid DESC "
                           f"LIMIT 1 OFFSET {deep_rows - 1}").fetchone()
    actor = con.execute("SELECT actor_uuid FROM activities WHERE action >= 'post.' AND action < 'post/' "
                        "AND actor_uuid IS NOT NULL GROUP BY actor_uuid ORDER BY count(*) DESC, actor_uuid "
                        "LIMIT 1").fetchone()[0]
    con.close()
    if isinstance(uuid, bytes):
        uuid = bytes(uuid).hex()
        uuid = f"{uuid[:8]}-{uuid[8:12]}-{uuid[12:16]}-{uuid[16:20]}-{uuid[20:]}"
    if isinstance(actor, bytes):
        a = actor.hex()
        actor = f"{a[:8]}-{a[8:12]}-{a[12:16]}-{a[16:20]}-{a[20:]}"
    t = dt.datetime.fromisoformat(str(at).replace("Z", "+00:00"))
    micros = int(t.timestamp()) * 1_000_000 + t.microsecond
    return dict(pg_params, actor=actor, deep_rows=deep_rows,
                deep={"micros": micros, "uuid": uuid, "iso": t.isoformat()})


# --------------------------------------------------------------------------
# The load tools.

LUA = r"""
-- generated by bench/harness.py
local body_template = [==[__BODY__]==]
local dynamic = __DYNAMIC__
local cap = __CAP__
local sent = 0
local fixed = nil
local counter = 0
local threads = {}

local function uuid4()
  local b = {}
  for i = 1, 16 do b[i] = math.random(0, 255) end
  b[7] = (b[7] % 16) + 64
  b[9] = (b[9] % 64) + 128
  return string.format("%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", unpack(b))
end

function setup(thread)
  counter = counter + 1
  thread:set("id", counter)
  table.insert(threads, thread)
end

function init(args)
  math.randomseed(os.time() * 1000 + (id or 0) * 7919 + math.floor(os.clock() * 1000000))
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/json"
  fixed = wrk.format("POST", nil, nil, body_template)
end

function request()
  sent = sent + 1
  if sent > cap then wrk.thread:stop() end
  if dynamic then
    local body = body_template:gsub("__UUID__", uuid4)
    return wrk.format("POST", nil, nil, body)
  end
  return fixed
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format('WRKJSON {"requests":%d,"duration_us":%d,"bytes":%d,"err_connect":%d,"err_read":%d,"err_write":%d,"err_status":%d,"err_timeout":%d,"p50_us":%d,"p90_us":%d,"p99_us":%d,"mean_us":%.1f,"max_us":%d}\n',
    summary.requests, summary.duration, summary.bytes, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.mean, latency.max))
end
"""


def wrk_script(body: dict, path: Path) -> Path:
    text = json.dumps(body, separators=(",", ":"))
    script = (LUA.replace("__BODY__", text)
              .replace("__DYNAMIC__", "true" if "__UUID__" in text else "false")
              .replace("__CAP__", str(WRK_CAP_PER_THREAD)))
    path.write_text(script)
    return path


def run_wrk(port: int, body: dict, conc: int, secs: float, raw: Path, tag: str) -> dict:
    script = wrk_script(body, raw / f"{tag}.lua")
    threads = max(1, min(conc, 2))
    argv = ["wrk", "-t", str(threads), "-c", str(conc), "-d", f"{max(1, int(round(secs)))}s", "--timeout", "10s",
            "-s", str(script), f"http://{HOST}:{port}/graphql"]
    out = run(argv, capture_output=True, timeout=secs + 60, check=False)
    (raw / f"{tag}.wrk.txt").write_text(out.stdout + out.stderr)
    m = re.search(r"^WRKJSON (.*)$", out.stdout, re.M)
    if not m:
        return {"error": f"wrk failed: {out.stderr.strip()[:300]}"}
    r = json.loads(m.group(1))
    if r["requests"] == 0:
        return {"error": f"no request completed within {secs} s"}
    secs_run = r["duration_us"] / 1e6
    errors = r["err_connect"] + r["err_read"] + r["err_write"] + r["err_status"] + r["err_timeout"]
    return {"requests": r["requests"], "rps": r["requests"] / secs_run, "p50_ms": r["p50_us"] / 1000,
            "p99_ms": r["p99_us"] / 1000, "mean_ms": r["mean_us"] / 1000, "errors": errors,
            "secs": secs_run}


def run_pgbench(db: str, spec: dict, conc: int, secs: float, raw: Path, tag: str) -> dict:
    script = raw / f"{tag}.sql"
    script.write_text(spec["script"] + "\n")
    logdir = raw / f"{tag}.pgbench-log"
    shutil.rmtree(logdir, ignore_errors=True)
    logdir.mkdir()
    argv = ["pgbench", "-h", PG_HOST, "-p", str(PG_PORT), "-U", PG_USER, "-n", "-M", "prepared",
            "-c", str(conc), "-j", str(max(1, min(conc, 2))), "-T", str(int(round(secs))),
            "-f", str(script), "-l", "--log-prefix", str(logdir / "txn")]
    for k, v in spec["defines"].items():
        argv += ["-D", f"{k}={v}"]
    argv.append(db)
    out = run(argv, capture_output=True, timeout=secs + 60, check=False)
    (raw / f"{tag}.pgbench.txt").write_text(out.stdout + out.stderr)
    lat = []
    for f in logdir.glob("txn*"):
        with open(f) as fh:
            for line in fh:
                parts = line.split()
                if len(parts) >= 3:
                    lat.append(int(parts[2]))
    shutil.rmtree(logdir, ignore_errors=True)
    tps = re.search(r"tps = ([0-9.]+) \(without initial connection time\)", out.stdout)
    failed = re.search(r"number of failed transactions: (\d+)", out.stdout)
    if out.returncode != 0 or not tps or not lat:
        return {"error": f"pgbench failed: {(out.stderr or out.stdout).strip()[-300:]}"}
    lat.sort()
    q = lambda x: lat[min(len(lat) - 1, int(round((len(lat) - 1) * x)))] / 1000
    return {"requests": len(lat), "rps": float(tps.group(1)), "p50_ms": q(0.5), "p99_ms": q(0.99),
            "mean_ms": sum(lat) / len(lat) / 1000, "errors": int(failed.group(1)) if failed else 0,
            "secs": secs}


def validate(url: str, body: dict) -> str | None:
    """Sends a document once; the reason it is not a clean answer, or None."""
    b = json.loads(json.dumps(body).replace("__UUID__", "00000000-0000-4000-8000-000000000000"))
    if "__UUID__" in json.dumps(body):
        import uuid as _uuid
        text = json.dumps(body)
        while "__UUID__" in text:
            text = text.replace("__UUID__", str(_uuid.uuid4()), 1)
        b = json.loads(text)
    try:
        r = http_json(url, b, timeout=120)
    except Exception as e:  # noqa: BLE001 - reported, not raised
        return f"request failed: {e}"
    if r.get("errors"):
        return json.dumps(r["errors"])[:400]
    if not r.get("data"):
        return "no data"
    text = json.dumps(r)
    if any(f'"{k}": []' in text for k in ("edges", "nodes", "entries")):
        return "an empty page: the document does not select what the benchmark means"
    return None


def count_bench_rows(system: str, ctx: dict) -> int:
    if system == "ours_sqlite":
        con = sqlite3.connect(ctx["sqlite_path"], timeout=30)
        n = con.execute("SELECT count(*) FROM activities WHERE module = 'bench'").fetchone()[0]
        con.close()
        return n
    return int(psql(ctx["db"], "SELECT count(*) FROM activities WHERE module = 'bench'"))


def measure_cell(ctx: dict, w: dict, system: str, conc: int) -> dict:
    spec = w[system if system != "ours_sqlite" else "ours"]
    secs, raw = ctx["secs"], ctx["raw"]
    tag = f"{w['key']}-{system}-c{conc}"
    pid = ctx["pids"].get(system)
    if spec["kind"] == "http":
        port = PORTS[system]
        if ctx["warmup"] > 0:
            run_wrk(port, spec["body"], conc, ctx["warmup"], raw, tag + "-warmup")
    elif ctx["warmup"] > 0:
        run_pgbench(ctx["db"], spec, conc, ctx["warmup"], raw, tag + "-warmup")
    before = count_bench_rows(system, ctx) if w["kind"] == "write" else 0
    cpu0 = cpu_secs(pid)
    with RssSampler(pid) as rss:
        if spec["kind"] == "http":
            r = run_wrk(PORTS[system], spec["body"], conc, secs, raw, tag)
        else:
            r = run_pgbench(ctx["db"], spec, conc, secs, raw, tag)
    cpu1 = cpu_secs(pid)
    r.update(query=w["key"], system=system, conc=conc, rss_max_kib=rss.max or None)
    if cpu0 is not None and cpu1 is not None and r.get("requests"):
        # The server process's own CPU per request (the database's is not in it).
        r["cpu_ms_per_req"] = (cpu1 - cpu0) * 1000 / r["requests"]
        r["cpu_cores"] = (cpu1 - cpu0) / r["secs"]
    if w["kind"] == "write" and "error" not in r:
        written = count_bench_rows(system, ctx) - before
        warm_rows = 0
        r["rows_written"] = written
        r["rows_per_s"] = r["rps"] * w["rows"]
        # Every request must have written its rows (GraphQL errors come back as HTTP 200).
        expected = r["requests"] * w["rows"]
        if written + warm_rows < expected * 0.98:
            r["error"] = f"only {written} rows written for {expected} expected"
    desc = (f"{r['rps']:9.1f} req/s  p50 {r['p50_ms']:8.2f} ms  p99 {r['p99_ms']:8.2f} ms"
            + (f"  server CPU {r['cpu_ms_per_req']:.2f} ms/req ({r['cpu_cores']:.2f} cores)"
               if "cpu_ms_per_req" in r else "")
            if "error" not in r else f"ERROR {r['error']}")
    log(f"{w['key']:<15} c={conc:<3} {SYSTEM_NAMES[system]:<32} {desc}")
    return r


def run_cells(ctx: dict, ws: list[dict], systems: list[str], results: list) -> None:
    cell = 0
    for w in ws:
        present = [s for s in systems if s in w or (s == "ours_sqlite" and "ours" in w)]
        for conc in w["conc"]:
            order = present[cell % len(present):] + present[:cell % len(present)]
            cell += 1
            for system in order:
                if system in ctx["invalid"].get(w["key"], {}):
                    continue
                results.append(measure_cell(ctx, w, system, conc))


def validate_all(ctx, ws, systems) -> None:
    for w in ws:
        for system in systems:
            spec = w.get("ours" if system == "ours_sqlite" else system)
            if not spec:
                continue
            if spec["kind"] == "http":
                err = validate(f"http://{HOST}:{PORTS[system]}/graphql", spec["body"])
            else:
                script = ctx["raw"] / f"validate-{w['key']}.sql"
                script.write_text(spec["script"] + "\n")
                argv = ["pgbench", "-h", PG_HOST, "-U", PG_USER, "-n", "-M", "prepared", "-t", "1",
                        "-f", str(script)]
                for k, v in spec["defines"].items():
                    argv += ["-D", f"{k}={v}"]
                out = run(argv + [ctx["db"]], capture_output=True, check=False)
                err = None if out.returncode == 0 else out.stderr.strip()[-300:]
            if err:
                log(f"INVALID {w['key']} on {system}: {err}")
                ctx["invalid"].setdefault(w["key"], {})[system] = err


# --------------------------------------------------------------------------
# S rows: live subscriptions over websockets (issue 5's S1, issue 12's S2, S3).

# Each row: which filter every subscriber uses, how many logs a second are
# written, over how many instances (on one PostgreSQL) the subscribers and
# the writes are spread round-robin.
S_ROWS = {
    "s1": dict(name="S1 stress: 200 logs/s to every subscriber, unfiltered", filter="none",
               rate=200, instances=1),
    "s2": dict(name="S2 per-user feeds: filter {actorUuid: own}, 200 logs/s over as many actors",
               filter="actor", rate=200, instances=1),
    "s3": dict(name="S3 broadcast: 20 logs/s to every subscriber, unfiltered", filter="none",
               rate=20, instances=1),
    "s2x2": dict(name="S2 across two instances on one PostgreSQL", filter="actor", rate=200,
                 instances=2),
}
S_PORTS = (18090, 18091)


def loadavg() -> list[str]:
    return open("/proc/loadavg").read().split()[:3]


class ForeignXidSampler:
    """Write transactions open in other databases of the same PostgreSQL
    cluster while an S row runs, sampled every 250 ms from pg_stat_activity.
    Rows are released to subscribers only below the cluster-wide snapshot
    xmin, so such a transaction holds back delivery here for as long as it
    stays open (measured: BENCHMARKS.md, "Delivery waits for other databases'
    transactions"); a row's tail latency is read next to these samples."""

    def __init__(self, db: str):
        self.db, self.samples, self.busy, self.max_age = db, 0, 0, 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        sql = ("SELECT coalesce(max(extract(epoch FROM now() - xact_start)), 0), count(*) "
               f"FROM pg_stat_activity WHERE backend_xid IS NOT NULL AND datname IS DISTINCT FROM '{self.db}'")
        while not self._stop.is_set():
            try:
                age, n = psql("postgres", sql).split("|")
                self.samples += 1
                self.busy += int(n) > 0
                self.max_age = max(self.max_age, float(age))
            except (subprocess.CalledProcessError, ValueError):
                pass
            self._stop.wait(0.25)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()

    def summary(self) -> dict:
        return {"samples": self.samples, "with_foreign_write_xact": self.busy,
                "max_age_s": round(self.max_age, 3)}


def run_s(ctx: dict, key: str, subscribers: int, secs: float) -> dict:
    """One S row on fresh servers: the writer alone (its baseline), then the
    subscribers connect, the writer runs again while they listen, and every
    stream is checked against the table (all inside the load client)."""
    spec = S_ROWS[key]
    label = f"{key}-{subscribers}"
    raw = ctx["raw"]
    # What else the machine is doing, recorded with the result.
    top = run(["top", "-bn1", "-w", "200"], capture_output=True, check=False).stdout
    (raw / f"{label}-top-before.txt").write_text(top)
    r = {"row": key, "subscribers": subscribers, "loadavg_before": loadavg()}
    servers = [start_ours(ctx["binary"], pg_url(ctx["db"]), S_PORTS[i], f"{label}-server{i}", raw)
               for i in range(spec["instances"])]
    try:
        time.sleep(2)
        r["rss_idle_kib"] = [rss_kib(s.pid) for s in servers]
        argv = [str(BENCH / "loadclient/target/release/af-loadclient"),
                "--subscribers", str(subscribers), "--filter", spec["filter"],
                "--actors", str(max(subscribers, 1)), "--rate", str(spec["rate"]),
                "--duration", str(secs), "--baseline", str(secs), "--drain", "5",
                "--verify-db", pg_url(ctx["db"]), "--label", label]
        for i, s in enumerate(servers):
            argv += ["--target", f"{HOST}:{S_PORTS[i]}", "--pid", str(s.pid)]
        (raw / f"{label}-argv.txt").write_text(" ".join(argv) + "\n")
        with ForeignXidSampler(ctx["db"]) as foreign:
            out = run(argv, capture_output=True, timeout=2 * secs + 600, check=False)
        r["foreign_write_xacts"] = foreign.summary()
        (raw / f"{label}.txt").write_text(out.stdout + out.stderr)
        try:
            r |= json.loads(out.stdout.strip().splitlines()[-1])
        except (IndexError, json.JSONDecodeError):
            r["error"] = (out.stderr or "no output").strip()[-300:]
    finally:
        for s in servers:
            s.stop()
    r["loadavg_after"] = loadavg()
    if "error" not in r:
        # The server's CPU while the subscribers listened, from its threads.
        r["server_cpu_cores"] = sum(c for threads in r["server_threads_cores"] for _, c in threads)
        v, w, b = r["verify"] or {}, r["writer"], r["baseline"] or {}
        log(f"{label}: subscribed {r['subscribed']:,}, delivery p50 {r['delivery_p50_ms']} ms "
            f"p99 {r['delivery_p99_ms']} ms; lost {v.get('lost')}, repeated {v.get('repeated')}, "
            f"out of order {v.get('out_of_order')}, lagged {v.get('lagged')}; writer p50 "
            f"{b.get('p50_ms')} → {w['p50_ms']} ms; RSS max {r['rss_max_kib']} KiB; "
            f"load {' '.join(r['loadavg_before'])} → {' '.join(r['loadavg_after'])}")
    else:
        log(f"{label}: ERROR {r['error']}")
    # The next row starts on a clean table, not on this one's dead rows.
    delete_bench_rows(ctx["db"])
    psql(ctx["db"], "VACUUM ANALYZE activities")
    return r


# --------------------------------------------------------------------------
# The report.


def machine_info() -> dict:
    cpu = "unknown"
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = "?"
    try:
        for line in open("/proc/meminfo"):
            if line.startswith("MemTotal"):
                mem = f"{int(line.split()[1]) / 1048576:.0f} GiB"
    except OSError:
        pass
    pgv = psql("postgres", "SHOW server_version")
    # A run of S rows only has no wrk and no PostGraphile installed (bench/run skips them).
    wrkv = run(["wrk", "-v"], capture_output=True, check=False).stdout.splitlines() if shutil.which("wrk") else []
    nodev = run(["node", "--version"], capture_output=True, check=False).stdout.strip()
    pgl_package = BENCH / "postgraphile/node_modules/postgraphile/package.json"
    pglv = json.loads(pgl_package.read_text())["version"] if pgl_package.exists() else "?"
    return {"cpu": cpu, "cores": os.cpu_count(), "memory": mem, "kernel": platform.release(),
            "postgres": pgv, "wrk": (wrkv[0] if wrkv else "?"), "node": nodev, "postgraphile": pglv,
            "loadavg_start": open("/proc/loadavg").read().split()[:3]}


def fmt(x, digits=1):
    if x is None:
        return "–"
    if isinstance(x, float):
        if x >= 100:
            return f"{x:,.0f}"
        return f"{x:.{digits}f}"
    return str(x)


def fmt_ms(x):
    if x is None:
        return "–"
    return f"{x:.2f}" if x < 10 else f"{x:.1f}" if x < 100 else f"{x:,.0f}"


def index(results):
    return {(r["query"], r["system"], r["conc"]): r for r in results
            if "error" not in r and r.get("rps")}


TARGETS = {  # query -> (min ours/SQL, min ours/PostGraphile) at concurrency 16
    "q1_feed": (0.5, 4.0), "q1_page": (0.5, 4.0), "q2_filtered": (0.5, 4.0), "m1_log": (0.5, 4.0),
    "q3_count": (0.8, None), "q3_by_action": (0.8, None), "q3_by_day": (0.8, None),
    "m2_batch": (0.5, None),
}


def report(data: dict) -> str:
    results, ws = data["results"], data["workloads"]
    ix = index(results)
    names = {w["key"]: w["name"] for w in ws}
    rows_of = {w["key"]: w.get("rows", 1) for w in ws}
    lines = []
    m = data["machine"]
    lines.append(f"Run {data['started']} ({data['mode']} mode: {data['count']:,} activities, "
                 f"{data['users']:,} users, {data['secs']:g} s per cell after {data['warmup']:g} s warm-up), "
                 f"activity-feed {data['commit']}.")
    lines.append(f"Machine: {m['cpu']}, {m['cores']} cores, {m['memory']}, Linux {m['kernel']}; "
                 f"PostgreSQL {m['postgres']}; {m['wrk']}; Node {m['node']}, PostGraphile {m['postgraphile']}. "
                 f"Load average at start {' '.join(m['loadavg_start'])}, at end {' '.join(data.get('loadavg_end', ['?']))}.")
    if data.get("note"):
        lines.append(f"Note: {data['note']}")
    lines.append("")
    lines.append("req/s is requests per second (rows/s for M2); p50/p99 in milliseconds; "
                 "ratios are ours/SQL and ours/PostGraphile in req/s. "
                 "'–': not measured (no such operation in that system).")
    lines.append("")
    lines.append("| Query | c | ours req/s | p50 | p99 | SQL req/s | p50 | p99 | PostGraphile req/s | p50 | p99 | ours/SQL | ours/PG |")
    lines.append("|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|")
    for w in ws:
        for c in w["conc"]:
            cells = []
            rate = {}
            for s in ("ours", "sql", "pgl"):
                r = ix.get((w["key"], s, c))
                if r:
                    v = r["rps"] * rows_of[w["key"]]
                    rate[s] = v
                    cells += [fmt(v), fmt_ms(r["p50_ms"]), fmt_ms(r["p99_ms"])]
                else:
                    cells += ["–", "–", "–"]
            ratio_sql = fmt(rate["ours"] / rate["sql"], 2) if rate.get("ours") and rate.get("sql") else "–"
            ratio_pg = fmt(rate["ours"] / rate["pgl"], 2) if rate.get("ours") and rate.get("pgl") else "–"
            lines.append(f"| {names[w['key']]} | {c} | " + " | ".join(cells) + f" | {ratio_sql} | {ratio_pg} |")
    cpu_rows = [(w, ix.get((w["key"], "ours", 16)), ix.get((w["key"], "pgl", 16))) for w in ws]
    cpu_rows = [(w, o, p) for w, o, p in cpu_rows if o and "cpu_ms_per_req" in o]
    if cpu_rows:
        lines.append("")
        lines.append("Server process CPU per request at c=16 (ms; the database's own CPU is not included):")
        lines.append("")
        lines.append("| Query | activity-feed | PostGraphile 4 |")
        lines.append("|---|--:|--:|")
        for w, o, p in cpu_rows:
            pc = f"{p['cpu_ms_per_req']:.2f}" if p and "cpu_ms_per_req" in p else "–"
            lines.append(f"| {names[w['key']]} | {o['cpu_ms_per_req']:.2f} | {pc} |")
    errors = [r for r in results if "error" in r]
    invalid = data.get("invalid", {})
    if errors or invalid:
        lines.append("")
        lines.append("Cells that failed:")
        for r in errors:
            lines.append(f"- {r['query']} {SYSTEM_NAMES[r['system']]} c={r['conc']}: {r['error']}")
        for q, by in invalid.items():
            for s, e in by.items():
                lines.append(f"- {q} {SYSTEM_NAMES[s]}: document rejected: {e}")

    sq = [r for r in results if r["system"] == "ours_sqlite" and "error" not in r]
    if sq:
        lines.append("")
        lines.append("Embedded: activity-feed on SQLite (same seed, same documents):")
        lines.append("")
        lines.append("| Query | c | req/s | p50 | p99 | vs ours on PostgreSQL |")
        lines.append("|---|--:|--:|--:|--:|--:|")
        for r in sq:
            pg = ix.get((r["query"], "ours", r["conc"]))
            v = r["rps"] * rows_of[r["query"]]
            rel = fmt(v / (pg["rps"] * rows_of[r["query"]]), 2) if pg else "–"
            lines.append(f"| {names[r['query']]} | {r['conc']} | {fmt(v)} | {fmt_ms(r['p50_ms'])} | {fmt_ms(r['p99_ms'])} | {rel} |")

    mem = data.get("memory", {})
    if mem:
        lines.append("")
        lines.append("Memory (RSS, MiB):")
        lines.append("")
        lines.append("| system | idle after start | max under read load | with the most subscribers |")
        lines.append("|---|--:|--:|--:|")
        for s in ("ours", "pgl", "ours_sqlite"):
            if s not in mem.get("idle", {}):
                continue
            idle = mem["idle"][s]
            load = max((r.get("rss_max_kib") or 0 for r in results
                        if r["system"] == s and r["query"].startswith("q") and "error" not in r), default=0)
            subs = mem.get("subscribers", {}).get(s)
            subs_text = f"{subs / 1024:.1f}" if subs else "–"
            lines.append(f"| {SYSTEM_NAMES[s]} | {idle / 1024:.1f} | {load / 1024:.1f} | {subs_text} |")
    lines.append("")
    lines.append("Targets (issue 5), from this run:")
    lines.append("")
    lines.append("| target | measured | met |")
    lines.append("|---|---|:-:|")
    for t in targets(data):
        lines.append(f"| {t[0]} | {t[1]} | {t[2]} |")
    return "\n".join(lines) + "\n"


def targets(data: dict) -> list[tuple[str, str, str]]:
    ix = index(data["results"])
    names = {w["key"]: w["name"] for w in data["workloads"]}
    rows_of = {w["key"]: w.get("rows", 1) for w in data["workloads"]}
    out = []
    yes = lambda ok: "yes" if ok else "**no**"
    for q, (min_sql, min_pg) in TARGETS.items():
        ours, sql, pg = (ix.get((q, s, 16)) for s in ("ours", "sql", "pgl"))
        if not ours:
            continue
        name = names[q].split(",")[0].split(" (")[0] if q.startswith("m") else names[q]
        if sql:
            ratio = ours["rps"] / sql["rps"]
            out.append((f"{name}, c=16: ≥ {min_sql} of raw SQL", f"{ratio:.2f}", yes(ratio >= min_sql)))
        if min_pg and pg:
            ratio = ours["rps"] / pg["rps"]
            out.append((f"{name}, c=16: ≥ {min_pg:g}× PostGraphile", f"{ratio:.2f}×", yes(ratio >= min_pg)))
    first, deep = ix.get(("q1_feed", "ours", 1)), ix.get(("q4_deep_cursor", "ours", 1))
    if first and deep:
        ratio = deep["p50_ms"] / first["p50_ms"]
        out.append(("Q4 cursor page far back within 1.2× of the first page (p50, c=1)",
                    f"{ratio:.2f}× ({deep['p50_ms']:.2f} vs {first['p50_ms']:.2f} ms)", yes(ratio <= 1.2)))
    mem = data.get("memory", {})
    idle = mem.get("idle", {}).get("ours")
    if idle:
        out.append(("RSS idle < 30 MiB", f"{idle / 1024:.1f} MiB", yes(idle < 30 * 1024)))
    return out


def report_s(data: dict) -> str:
    """The S rows' table and targets (issues 5 and 12), for their own block of BENCHMARKS.md."""
    rows = data.get("s", [])
    lines = [f"Run {data['started']} ({data['mode']} mode, {data['secs']:g} s of writes per phase), "
             f"activity-feed {data['commit']}.",
             f"Machine: {data['machine']['cpu']}, {data['machine']['cores']} cores, "
             f"{data['machine']['memory']}, Linux {data['machine']['kernel']}; PostgreSQL "
             f"{data['machine']['postgres']}."]
    if data.get("note"):
        lines.append(f"Note: {data['note']}")
    lines += ["",
              "Each row runs on fresh servers (`serve`, defaults: the `auto` bus, which is LISTEN/NOTIFY on "
              "PostgreSQL, `SUBSCRIBER_BUFFER` 1024). The writer first logs alone at the row's rate "
              "(its baseline), then the subscribers connect and it logs again while they listen; then 5 s "
              "of drain. Delivery latency is receipt minus the send time the writer puts in each row's "
              "metadata just before its request, so it includes the request, the INSERT and the commit "
              "and is an upper bound of commit-to-receipt; \"from ack\" is receipt minus the writer's "
              "acknowledgement, a lower bound (negative when delivery beats the HTTP response). Lost, "
              "repeated and out of order come from checking every subscriber's stream, by position, "
              "against the table's rows matching its filter committed during the run (`ORDER BY txid, "
              "seq`): lost is a matching row missing below the last position the subscriber received (a "
              "hole), late one above it (not delivered by the end of the drain); a subscriber the server dropped with `SUBSCRIBER_LAGGED` is counted as dropped, "
              "not as lost. Server CPU is the sum of its threads' CPU over the listening phase (from "
              "/proc); load average is /proc/loadavg before and after the row. The last column samples "
              "pg_stat_activity every 250 ms for write transactions open in other databases of the "
              "cluster: since the horizon leaves out transactions of other databases, they no longer hold delivery back; "
              "the column shows they were there.",
              "",
              "| row | subscribers | instances | rate | deliveries | p50 ms | p99 | max | from ack p50 | p99 "
              "| lost + late | repeated | out of order | dropped (lagged) | writer p50 alone → listening | "
              "server RSS max | server CPU | client CPU | load avg before → after | "
              "other databases' write transactions open (samples; oldest) |",
              "|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|---|---|"]
    for r in rows:
        spec = S_ROWS[r["row"]]
        head = f"| {r['row'].upper()} | {r['subscribers']:,} | {spec['instances']} | {spec['rate']}/s"
        if "error" in r:
            lines.append(f"{head} | error: {r['error'][:100]} |||||||||||||||")
            continue
        v, w, b = r.get("verify") or {}, r["writer"], r.get("baseline") or {}
        rss = " + ".join(f"{(x or 0) / 1024:.0f}" for x in r["rss_max_kib"])
        lines.append(
            f"{head} | {r['deliveries']:,} | {fmt_ms(r['delivery_p50_ms'])} | {fmt_ms(r['delivery_p99_ms'])} | "
            f"{fmt_ms(r['delivery_max_ms'])} | {fmt_ms(r['ack_delivery_p50_ms'])} | {fmt_ms(r['ack_delivery_p99_ms'])} | "
            f"{v.get('lost', '–')} + {v.get('late', '–')} late of {v.get('expected', 0):,} | {v.get('repeated', '–')} | {v.get('out_of_order', '–')} | "
            f"{v.get('lagged', '–')} | {fmt_ms(b.get('p50_ms'))} → {fmt_ms(w['p50_ms'])} ms "
            f"({w['rate']:.0f}/s) | {rss} MiB | {fmt(r.get('server_cpu_cores'), 2)} cores | "
            f"{fmt(r.get('client_cpu_cores'), 2)} cores | {' '.join(r['loadavg_before'])} → "
            f"{' '.join(r['loadavg_after'])} | {foreign_text(r)} |")
    lines += ["", "Targets (issue 12; S1 by issue 12's graceful degradation), from this run:", "",
              "| target | measured | met | load avg before → after |", "|---|---|:-:|---|"]
    for t in s_targets(data):
        lines.append(f"| {' | '.join(t)} |")
    return "\n".join(lines) + "\n"


def foreign_text(r: dict) -> str:
    f = r.get("foreign_write_xacts") or {}
    if not f.get("samples"):
        return "–"
    return f"{f['with_foreign_write_xact']} of {f['samples']}; {f['max_age_s'] * 1000:,.0f} ms"


def s_targets(data: dict) -> list[tuple[str, str, str, str]]:
    out = []
    yes = lambda ok: "yes" if ok else "**no**"
    for r in data.get("s", []):
        row, n = r["row"].upper(), r["subscribers"]
        load = f"{' '.join(r['loadavg_before'])} → {' '.join(r.get('loadavg_after', []))}"
        name = f"{row} ({n:,} subscribers)"
        if "error" in r:
            out.append((name, f"error: {r['error'][:80]}", "**no**", load))
            continue
        v, w, b = r.get("verify") or {}, r["writer"], r.get("baseline") or {}
        p99 = r.get("delivery_p99_ms")
        slow = (w["p50_ms"] / b["p50_ms"] - 1) if b.get("p50_ms") and w.get("p50_ms") else None
        writers = (f"p50 {fmt_ms(b.get('p50_ms'))} → {fmt_ms(w.get('p50_ms'))} ms "
                   f"({slow * 100:+.0f}%), {b.get('rate', 0):.0f} → {w['rate']:.0f} logs/s" if slow is not None else "–")
        writers_ok = slow is not None and slow <= 0.10 and w["failed"] == 0
        unsubscribed = r["subscribers_requested"] - r["subscribed"]
        lost = v.get("lost")
        if r["row"] == "s1":
            # Graceful degradation: whoever is not dropped gets everything, once, in order.
            intact = lost == 0 and v.get("repeated") == 0 and v.get("out_of_order") == 0 and unsubscribed == 0
            out.append((f"{name}: only lagging subscribers are dropped",
                        f"{v.get('lagged')} dropped with SUBSCRIBER_LAGGED; the other {v.get('checked')}: "
                        f"{lost} lost (holes), {v.get('repeated')} repeated, {v.get('out_of_order')} out of order, "
                        f"{v.get('ended_early')} ended otherwise; {v.get('subscribers_late')} still behind when "
                        f"the run stopped ({v.get('late'):,} rows on their way)",
                        yes(intact and v.get("ended_early") == 0), load))
            out.append((f"{name}: writers unaffected (p50 within 10 % of alone)", writers, yes(writers_ok), load))
            continue
        limit = 250 if r["row"] == "s3" else 100
        out.append((f"{name}: p99 commit-to-receipt < {limit} ms", f"{fmt_ms(p99)} ms",
                    yes(p99 is not None and p99 < limit), load))
        out.append((f"{name}: 0 lost", f"{lost} lost and {v.get('late')} not delivered by the end of the "
                    f"drain, of {v.get('expected', 0):,} expected; {v.get('lagged')} subscribers dropped "
                    f"(lagged), {unsubscribed} not subscribed",
                    yes(lost == 0 and v.get("late") == 0 and v.get("lagged") == 0 and unsubscribed == 0), load))
        if r["row"] != "s3":
            out.append((f"{name}: 0 duplicated, positions strictly increasing",
                        f"{v.get('repeated')} repeated, {v.get('out_of_order')} out of order",
                        yes(v.get("repeated") == 0 and v.get("out_of_order") == 0), load))
            out.append((f"{name}: writers' p50 within 10 % of no subscribers", writers, yes(writers_ok), load))
            rss = max(x or 0 for x in r["rss_max_kib"])
            out.append((f"{name}: server RSS < 150 MiB" + (" (each)" if len(r["rss_max_kib"]) > 1 else ""),
                        " + ".join(f"{(x or 0) / 1024:.0f}" for x in r["rss_max_kib"]) + " MiB",
                        yes(rss < 150 * 1024), load))
    return out


def chart(data: dict, path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ix = index(data["results"])
    ws = [w for w in data["workloads"]]
    n = len(ws)
    cols = 4
    rows = (n + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 3.4 * rows), squeeze=False)
    colors = {"ours": "tab:blue", "sql": "tab:green", "pgl": "tab:red", "ours_sqlite": "tab:purple"}
    for ax, w in zip(axes.flat, ws):
        for s in ("ours", "sql", "pgl", "ours_sqlite"):
            pts = [(c, ix[(w["key"], s, c)]) for c in w["conc"] if (w["key"], s, c) in ix]
            if not pts:
                continue
            xs = [c for c, _ in pts]
            ax.plot(xs, [r["p50_ms"] for _, r in pts], "o-", color=colors[s], label=f"{SYSTEM_NAMES[s]} p50")
            ax.plot(xs, [r["p99_ms"] for _, r in pts], "x--", color=colors[s], alpha=0.6, label=f"{SYSTEM_NAMES[s]} p99")
        ax.set_title(w["name"], fontsize=8)
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_xticks(w["conc"])
        ax.set_xticklabels([str(c) for c in w["conc"]])
        ax.set_xlabel("concurrency", fontsize=7)
        ax.set_ylabel("latency (ms)", fontsize=7)
        ax.tick_params(labelsize=7)
        ax.grid(True, which="both", alpha=0.3)
    for ax in list(axes.flat)[n:]:
        ax.axis("off")
    handles, labels = axes.flat[0].get_legend_handles_labels()
    for ax in axes.flat:
        h, l = ax.get_legend_handles_labels()
        for hh, ll in zip(h, l):
            if ll not in labels:
                handles.append(hh)
                labels.append(ll)
    fig.legend(handles, labels, loc="lower center", ncol=4, fontsize=7)
    fig.suptitle(f"Latency by concurrency ({data['mode']} run {data['started']}, p50 solid, p99 dashed)", fontsize=10)
    fig.tight_layout(rect=(0, 0.07, 1, 0.97))
    fig.savefig(path, dpi=110)
    plt.close(fig)


def update_benchmarks_md(table: str, chart_rel: str | None, block: str = "LATEST RESULTS",
                         heading: str = "Latest results") -> None:
    md = REPO / "BENCHMARKS.md"
    text = md.read_text() if md.exists() else ""
    begin, end = f"<!-- BEGIN {block} (written by bench/run) -->", f"<!-- END {block} -->"
    body = f"{table}\n![Latency by concurrency]({chart_rel})" if chart_rel else table.rstrip("\n")
    block_text = f"{begin}\n{body}\n{end}"
    if begin in text and end in text:
        text = text[:text.index(begin)] + block_text + text[text.index(end) + len(end):]
    else:
        text += f"\n## {heading}\n\n{block_text}\n"
    md.write_text(text)


# --------------------------------------------------------------------------


def build_binary(args) -> tuple[Path, str]:
    if args.bin:
        return Path(args.bin).resolve(), "given binary " + args.bin
    if args.worktree:
        log("building the working tree (cargo build --release)")
        run(["cargo", "build", "--release", "--bin", "activity-feed"], cwd=REPO)
        desc = run(["git", "describe", "--always", "--dirty"], cwd=REPO, capture_output=True).stdout.strip()
        return REPO / "target/release/activity-feed", f"working tree {desc}"
    rev = run(["git", "rev-parse", args.rev], cwd=REPO, capture_output=True).stdout.strip()
    src = BENCH / ".build/src"
    stamp = src / ".bench-rev"
    # The server's source: every top-level entry but the benchmark's own files,
    # so that a commit that only touches bench/ does not re-export and rebuild.
    listing = run(["git", "ls-tree", rev], cwd=REPO, capture_output=True).stdout
    server_tree = "\n".join(line for line in listing.splitlines()
                            if line.split("\t")[-1] not in ("bench", "BENCHMARKS.md"))
    if not stamp.exists() or stamp.read_text().strip() != server_tree.strip():
        log(f"exporting {rev[:12]} to {src}")
        shutil.rmtree(src, ignore_errors=True)
        src.mkdir(parents=True)
        archive = subprocess.Popen(["git", "archive", rev], cwd=REPO, stdout=subprocess.PIPE)
        run(["tar", "-x", "-C", str(src)], stdin=archive.stdout)
        archive.wait()
        stamp.write_text(server_tree.strip() + "\n")
    log(f"building activity-feed at {rev[:12]} (cargo build --release)")
    run(["cargo", "build", "--release", "--bin", "activity-feed"], cwd=src,
        env={**os.environ, "CARGO_TARGET_DIR": str(BENCH / ".build/target")})
    subject = run(["git", "log", "-1", "--format=%h %s", rev], cwd=REPO, capture_output=True).stdout.strip()
    return BENCH / ".build/target/release/activity-feed", f"commit {subject[:80]}"


def main() -> None:
    ap = argparse.ArgumentParser(prog="bench/run", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="100,000 rows, 3 s cells, 1 s warm-up; results only")
    ap.add_argument("--secs", type=float, help="seconds per measured cell (10; quick: 3)")
    ap.add_argument("--warmup", type=float, help="seconds of warm-up before each cell (2; quick: 1)")
    ap.add_argument("--only", help="regex, ignoring case, matched at the start of workload keys (q1_feed, q1_page, q2_filtered, "
                                   "q3_count, q3_by_action, q3_by_day, q4_deep_cursor, q4_offset, m1_log, "
                                   "m2_batch, s1, s2, s3, s2x2); e.g. --only S2 runs s2 and s2x2, "
                                   "--only 'S2$' s2 alone")
    ap.add_argument("--systems", default="ours,sql,pgl,ours_sqlite",
                    help="comma list of ours, sql, pgl, ours_sqlite")
    ap.add_argument("--subscribers", help="S1 subscriber counts, comma list (1000,10000; quick: 100,1000); "
                                          "S2, S3 and S2x2 run the largest")
    ap.add_argument("--db", help="PostgreSQL database (bench_activity_feed, quick: bench_activity_feed_quick; "
                                 "a run of S rows only: af_bench with 100,000 rows)")
    ap.add_argument("--rev", default="HEAD", help="git revision to build and measure (default HEAD)")
    ap.add_argument("--worktree", action="store_true", help="measure the working tree instead of a revision")
    ap.add_argument("--bin", help="measure this activity-feed binary")
    ap.add_argument("--update-docs", action="store_true", help="rewrite BENCHMARKS.md's table (default in full mode)")
    ap.add_argument("--no-update-docs", action="store_true")
    ap.add_argument("--note", help="a line recorded with the results (e.g. other load on the machine)")
    ap.add_argument("--report-only", metavar="RESULTS_DIR", help="re-render table and chart from a results dir")
    ap.add_argument("--rows", type=int, help="a large tier: this many activities (e.g. 10000000), seeded with "
                                             "set-based SQL (bench/seed/), on PostgreSQL only (ours and raw SQL); "
                                             "its results go to BENCHMARKS.md's rollup block, with the "
                                             "issue 13 targets and the prune-while-logging row R1")
    ap.add_argument("--baseline", metavar="RESULTS_DIR",
                    help="with --rows: a 1,000,000-row run whose keyset pages (Q1, Q2, Q4) the tier's are compared with")
    ap.add_argument("--no-prune", action="store_true", help="with --rows: skip R1 (it deletes a tenth of the rows)")
    ap.add_argument("--seed-only", action="store_true",
                    help="with --rows: seed (or reuse) the database and let the server fold it into the "
                         "rollups, then stop: the CPU-heavy part, before a quiet measurement")
    args = ap.parse_args()

    if args.report_only:
        d = Path(args.report_only)
        data = json.loads((d / "results.json").read_text())
        if data.get("tier"):
            table = report_tier(data, args.baseline)
            (d / "table_tier.md").write_text(table)
            print(table)
            if args.update_docs:
                update_benchmarks_md(table, None, "ROLLUP RESULTS", "Large tier: counts that do not scan")
            return
        if data.get("workloads"):
            table = report(data)
            (d / "table.md").write_text(table)
            chart(data, d / "latency.png")
            print(table)
            if args.update_docs:
                shutil.copy(d / "latency.png", BENCH / "latency.png")
                update_benchmarks_md(table, "bench/latency.png")
        if data.get("s"):
            table = report_s(data)
            (d / "table_s.md").write_text(table)
            print(table)
            if args.update_docs:
                update_benchmarks_md(table, None, "SUBSCRIPTION RESULTS", "Latest subscription run")
        return

    quick = args.quick
    count, users = (100_000, 1_000) if quick else (1_000_000, 1_000)
    if args.rows:
        return main_tier(args)
    secs = args.secs or (3.0 if quick else 10.0)
    warmup = args.warmup if args.warmup is not None else (1.0 if quick else 2.0)
    subs = [int(x) for x in (args.subscribers or ("100,1000" if quick else "1000,10000")).split(",")]
    systems = [s.strip() for s in args.systems.split(",") if s.strip()]
    only = re.compile(args.only, re.IGNORECASE) if args.only else None
    s_rows = [k for k in S_ROWS if "ours" in systems and (not only or only.match(k))]
    cells_wanted = not only or any(only.match(w) for w in WORKLOAD_KEYS)
    db = args.db or ("bench_activity_feed_quick" if quick else "bench_activity_feed")
    if not cells_wanted:
        # The S rows write and read their own rows only: the schema is what
        # they need, not a million seeded rows.
        count, db = 100_000, args.db or "af_bench"
        systems = ["ours"]

    started = dt.datetime.now().strftime("%Y-%m-%dT%H-%M-%S")
    out = BENCH / "results" / f"{started}{'-quick' if quick else ''}"
    raw = out / "raw"
    raw.mkdir(parents=True)
    latest = BENCH / "results/latest"
    if latest.is_symlink() or latest.exists():
        latest.unlink()
    latest.symlink_to(out.name)
    log(f"results in {out}")

    binary, commit = build_binary(args)
    ensure_pg_database(binary, db, count, users, raw)
    params = find_parameters(db, count) if cells_wanted else {}
    sqlite_path = BENCH / ".data" / f"sqlite-{count}.db"
    if "ours_sqlite" in systems:
        ensure_sqlite(binary, sqlite_path, count, users, raw)
    ws = [w for w in workloads(params) if not only or only.match(w["key"])] if cells_wanted else []
    data = {"started": started, "mode": "quick" if quick else "full", "count": count, "users": users,
            "secs": secs, "warmup": warmup, "commit": commit, "db": db, "params": params,
            "machine": machine_info(), "note": args.note, "results": [], "s": [], "memory": {"idle": {}, "subscribers": {}},
            "invalid": {}, "workloads": [{k: w[k] for k in ("key", "name", "kind", "conc") if k in w} | {"rows": w.get("rows", 1)} for w in ws]}
    ctx = {"db": db, "secs": secs, "warmup": warmup, "raw": raw, "pids": {}, "invalid": {},
           "sqlite_path": sqlite_path, "binary": binary}

    def save():
        data["invalid"] = ctx["invalid"]
        (out / "results.json").write_text(json.dumps(data, indent=1, default=str))

    pg_systems = [s for s in ("ours", "sql", "pgl") if s in systems]
    reads = [w for w in ws if w["kind"] == "read"]
    writes = [w for w in ws if w["kind"] == "write"]
    try:
        if pg_systems and ws:
            procs = {}
            if "ours" in systems:
                procs["ours"] = start_ours(binary, pg_url(db), PORTS["ours"], "ours", raw)
                wait_folded(db)
            if "pgl" in systems:
                procs["pgl"] = start_postgraphile(db, PORTS["pgl"], raw)
            ctx["pids"] = {k: p.pid for k, p in procs.items()}
            time.sleep(3)
            for k, p in procs.items():
                data["memory"]["idle"][k] = rss_kib(p.pid)
            validate_all(ctx, ws, pg_systems)
            run_cells(ctx, reads, pg_systems, data["results"])
            save()
            run_cells(ctx, writes, pg_systems, data["results"])
            save()
            for p in procs.values():
                p.stop()
            log("removing the rows the benchmark wrote")
            delete_bench_rows(db)
            psql(db, "VACUUM ANALYZE activities")
        # The S rows, each on servers of its own, after the other cells, alone on the machine.
        for key in s_rows:
            for n in (subs if key == "s1" else [max(subs)]):
                r = run_s(ctx, key, n, secs)
                data["s"].append(r)
                if "error" not in r:
                    most = max(r["rss_max_kib"])
                    data["memory"]["subscribers"]["ours"] = max(most, data["memory"]["subscribers"].get("ours", 0))
                save()
        if "ours_sqlite" in systems and ws:
            p = start_ours(binary, f"sqlite://{sqlite_path}?mode=rwc", PORTS["ours_sqlite"], "ours_sqlite", raw)
            ctx["pids"] = {"ours_sqlite": p.pid}
            wait_folded_sqlite(sqlite_path)
            time.sleep(3)
            data["memory"]["idle"]["ours_sqlite"] = rss_kib(p.pid)
            sq_params = find_sqlite_parameters(sqlite_path, count, params)
            sq_ws = [w for w in workloads(sq_params) if not only or only.match(w["key"])]
            validate_all(ctx, sq_ws, ["ours_sqlite"])
            run_cells(ctx, sq_ws, ["ours_sqlite"], data["results"])
            p.stop()
            con = sqlite3.connect(sqlite_path, timeout=60)
            delete_bench_rows_sqlite(con)
            con.close()
    finally:
        stop_all()
        data["loadavg_end"] = open("/proc/loadavg").read().split()[:3]
        save()

    if ws:
        table = report(data)
        (out / "table.md").write_text(table)
        chart(data, out / "latency.png")
        print(table)
        if (not quick and not args.no_update_docs and not only) or args.update_docs:
            # The chart BENCHMARKS.md shows is committed next to it; raw results stay in bench/results/.
            shutil.copy(out / "latency.png", BENCH / "latency.png")
            update_benchmarks_md(table, "bench/latency.png")
            log("BENCHMARKS.md updated")
    if data["s"]:
        table = report_s(data)
        (out / "table_s.md").write_text(table)
        print(table)
        # Only a full-size S run (10,000 subscribers) replaces the documented one.
        if (not quick and not args.no_update_docs and max(subs) >= 10_000) or args.update_docs:
            update_benchmarks_md(table, None, "SUBSCRIPTION RESULTS", "Latest subscription run")
            log("BENCHMARKS.md updated (subscription block)")


# --------------------------------------------------------------------------
# The large tier (issue 13): the reads at 10,000,000 rows next to raw SQL,
# and prune while logging.

TIER_READS = ("q1_feed", "q1_page", "q2_filtered", "q3_count", "q3_by_action", "q3_by_day", "q3_by_hour",
              "q3_action_types", "q3_options", "q3_summary", "q4_deep_cursor", "q4_offset")

# read -> p50 target in ms at c=1 (issue 13)
TIER_TARGETS = {"q1_page": 10, "q3_count": 5, "q3_by_action": 20, "q3_by_day": 20, "q3_by_hour": 20,
                "q3_action_types": 5}


# The tier's rows are seeded by SQL, a backlog of millions no deployment
# has: the sealer would spend the whole run on it, beside the reads measured.
TIER_SERVER = ("--sealer", "false")


def measure_prune_stall(ctx: dict, binary: Path, count: int, secs: float) -> dict:
    """R1: the p99 of concurrent logs while a prune deletes a tenth of the
    rows, against their p99 idle just before, in the same run."""
    body = gql("mutation($i: LogInput!) { log(input: $i) { activity { uuid } errors { field } } }",
               {"i": {"action": "bench.r1", "module": "bench", "mode": "script", "resourceType": "post",
                      "resourceUuid": "__UUID__", "metadata": METADATA}})["body"]
    port, raw, conc = PORTS["ours"], ctx["raw"], 4
    run_wrk(port, body, conc, 2, raw, "r1-warmup")
    idle = run_wrk(port, body, conc, secs, raw, "r1-idle")
    oldest = psql(ctx["db"], "SELECT extract(epoch FROM now() - min(inserted_at)) / 86400 FROM activities")
    # Whole days: the rows older than `days` are about a tenth of a 60-day spread.
    days = int(float(oldest) - 6)
    before = int(psql(ctx["db"], "SELECT count(*) FROM activities"))
    result: dict = {}

    def prune():
        t0 = time.time()
        r = http_json(f"http://{HOST}:{port}/graphql",
                      {"query": f"mutation {{ prune(days: {days}) {{ deleted }} }}"}, timeout=3600)
        result["deleted"] = r.get("data", {}).get("prune", {}).get("deleted")
        result["errors"] = r.get("errors")
        result["secs"] = time.time() - t0

    t = threading.Thread(target=prune)
    t.start()
    cells = []
    while t.is_alive():
        cells.append(run_wrk(port, body, conc, 5, raw, f"r1-prune-{len(cells)}"))
    t.join()
    during = [c for c in cells if "error" not in c]
    worst = max((c["p99_ms"] for c in during), default=None)
    log(f"R1 prune of {result.get('deleted')} of {before:,} rows in {result.get('secs', 0):.0f} s: "
        f"log p99 idle {idle.get('p99_ms')} ms, worst 5 s cell during the prune {worst} ms")
    return {"idle": idle, "during": cells, "prune": result, "rows_before": before, "days": days, "conc": conc}


def main_tier(args) -> None:
    count, users = args.rows, 1_000
    secs = args.secs or 10.0
    warmup = args.warmup if args.warmup is not None else 2.0
    db = args.db or f"bench_activity_feed_{count}"
    only = re.compile(args.only, re.IGNORECASE) if args.only else None
    started = dt.datetime.now().strftime("%Y-%m-%dT%H-%M-%S")
    out = BENCH / "results" / f"{started}-rows{count}"
    raw = out / "raw"
    raw.mkdir(parents=True)
    log(f"results in {out}")
    binary, commit = build_binary(args)
    seed_secs = ensure_pg_database(binary, db, count, users, raw, sql_seed=True)
    if args.seed_only:
        proc = start_ours(binary, pg_url(db), PORTS["ours"], "ours", raw, TIER_SERVER)
        fold_secs = wait_folded(db)
        proc.stop()
        psql(db, "VACUUM ANALYZE")
        (out / "seed.json").write_text(json.dumps({"seed_secs": seed_secs, "fold_secs": fold_secs}))
        stop_all()
        return
    params = find_parameters(db, count)
    ws = [w for w in workloads(params) if w["key"] in TIER_READS and (not only or only.match(w["key"]))]
    for w in ws:
        w["conc"] = [1]
        w.pop("pgl", None)
    data = {"started": started, "mode": f"tier {count:,}", "count": count, "users": users, "secs": secs,
            "warmup": warmup, "commit": commit, "db": db, "params": params, "machine": machine_info(),
            "note": args.note, "results": [], "tier": {"seed_secs": seed_secs}, "invalid": {},
            "workloads": [{k: w[k] for k in ("key", "name", "kind", "conc")} | {"rows": 1} for w in ws]}
    ctx = {"db": db, "secs": secs, "warmup": warmup, "raw": raw, "pids": {}, "invalid": {}, "binary": binary}

    def save():
        data["invalid"] = ctx["invalid"]
        (out / "results.json").write_text(json.dumps(data, indent=1, default=str))

    seeded = sorted((BENCH / "results").glob(f"*-rows{count}/seed.json"))
    if seed_secs is None and seeded:
        # The database was seeded and folded by an earlier `--seed-only` run.
        data["tier"] |= json.loads(seeded[-1].read_text())
    try:
        proc = start_ours(binary, pg_url(db), PORTS["ours"], "ours", raw, TIER_SERVER)
        ctx["pids"] = {"ours": proc.pid}
        fold_secs = wait_folded(db)
        if seed_secs is not None or "fold_secs" not in data["tier"]:
            data["tier"]["fold_secs"] = fold_secs
        psql(db, "VACUUM ANALYZE")
        validate_all(ctx, ws, ["ours", "sql"])
        run_cells(ctx, ws, ["ours", "sql"], data["results"])
        save()
        if not args.no_prune and not only:
            data["tier"]["r1"] = measure_prune_stall(ctx, binary, count, secs)
            save()
        proc.stop()
        delete_bench_rows(db)
    finally:
        stop_all()
        data["loadavg_end"] = open("/proc/loadavg").read().split()[:3]
        save()
    table = report_tier(data, args.baseline)
    (out / "table_tier.md").write_text(table)
    print(table)
    if not args.no_update_docs and not only:
        update_benchmarks_md(table, None, "ROLLUP RESULTS", "Large tier: counts that do not scan")
        log("BENCHMARKS.md updated (rollup block)")


def report_tier(data: dict, baseline_dir: str | None) -> str:
    ix = index(data["results"])
    names = {w["key"]: w["name"] for w in data["workloads"]}
    m = data["machine"]
    t = data.get("tier", {})
    lines = [f"Run {data['started']} ({data['count']:,} activities, {data['users']:,} users, "
             f"{data['secs']:g} s per cell after {data['warmup']:g} s warm-up, c=1), activity-feed {data['commit']}.",
             f"Machine: {m['cpu']}, {m['cores']} cores, {m['memory']}; PostgreSQL {m['postgres']}. "
             f"Load average at start {' '.join(m['loadavg_start'])}, at end {' '.join(data.get('loadavg_end', ['?']))}."]
    if t.get("seed_secs"):
        lines.append(f"Seeded with set-based SQL (bench/seed/) in {t['seed_secs']:.0f} s.")
    if t.get("fold_secs") is not None:
        lines.append(f"The server's folder took the existing rows into the rollups in {t['fold_secs']:.0f} s "
                     "after it started (reads were exact throughout, scanning the rows not yet folded).")
    if data.get("note"):
        lines.append(f"Note: {data['note']}")
    lines += ["", "p50 and p99 in milliseconds at c=1; 'SQL' is raw SQL doing the same work by scanning "
              "(pgbench -M prepared); 'SQL/ours' is raw SQL's p50 over ours: how many times faster the server is.",
              "", "| Read | ours p50 | p99 | req/s | SQL p50 | SQL/ours | target (p50) | met |",
              "|---|--:|--:|--:|--:|--:|--:|:-:|"]
    for w in data["workloads"]:
        o, q = ix.get((w["key"], "ours", 1)), ix.get((w["key"], "sql", 1))
        if not o:
            continue
        r = q["p50_ms"] / o["p50_ms"] if q else None
        ratio = "–" if r is None else f"{r:.1f}×" if r >= 10 else f"{r:.2f}×"
        target = TIER_TARGETS.get(w["key"])
        met = ("yes" if o["p50_ms"] < target else "**no**") if target else "–"
        lines.append(f"| {names[w['key']]} | {fmt_ms(o['p50_ms'])} | {fmt_ms(o['p99_ms'])} | {fmt(o['rps'])} | "
                     f"{fmt_ms(q['p50_ms']) if q else '–'} | {ratio} | {f'< {target} ms' if target else '–'} | {met} |")
    failed = [r for r in data["results"] if "error" in r]
    if failed:
        lines += ["", "Cells that failed:"]
        lines += [f"- {names[r['query']]}, {SYSTEM_NAMES[r['system']]}: {r['error']}" for r in failed]
    if baseline_dir:
        base = json.loads((Path(baseline_dir) / "results.json").read_text())
        bix = index(base["results"])
        lines += ["", f"Keyset pages against the {base['count']:,}-row run {base['started']} "
                  f"(target: within 1.2×, p50 at c=1):", "",
                  f"| Read | {data['count']:,} rows p50 | {base['count']:,} rows p50 | ratio | met |",
                  "|---|--:|--:|--:|:-:|"]
        for k in ("q1_feed", "q2_filtered", "q4_deep_cursor"):
            o, b = ix.get((k, "ours", 1)), bix.get((k, "ours", 1))
            if o and b:
                r = o["p50_ms"] / b["p50_ms"]
                lines.append(f"| {names[k]} | {fmt_ms(o['p50_ms'])} | {fmt_ms(b['p50_ms'])} | {r:.2f}× | "
                             f"{'yes' if r <= 1.2 else '**no**'} |")
    r1 = t.get("r1")
    if r1:
        idle = r1["idle"]
        during = [c for c in r1["during"] if "error" not in c]
        worst = max((c["p99_ms"] for c in during), default=None)
        pr = r1["prune"]
        ok = worst is not None and idle.get("p99_ms") and worst <= 2 * idle["p99_ms"]
        lines += ["", f"R1: `prune(days: {r1['days']})` deleting {pr.get('deleted') or 0:,} of "
                  f"{r1['rows_before']:,} rows in {pr.get('secs', 0):.0f} s while `log` runs at c={r1['conc']}:", "",
                  "| log at c=4 | req/s | p50 | p99 |", "|---|--:|--:|--:|",
                  f"| idle, just before | {fmt(idle.get('rps'))} | {fmt_ms(idle.get('p50_ms'))} | {fmt_ms(idle.get('p99_ms'))} |"]
        for i, c in enumerate(during):
            lines.append(f"| during the prune, {5 * i}–{5 * i + 5} s | {fmt(c['rps'])} | {fmt_ms(c['p50_ms'])} | "
                         f"{fmt_ms(c['p99_ms'])} |")
        if worst is not None and idle.get("p99_ms"):
            lines += ["", f"Target: p99 during the prune within 2× of idle: worst cell "
                      f"{worst / idle['p99_ms']:.2f}× — {'met' if ok else '**not met**'}."]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
