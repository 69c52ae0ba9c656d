#!/usr/bin/env python3
"""Evidence for BENCHMARKS.md's "Where the gaps come from": run through
`bench/run --diagnose` (or `bench/.venv/bin/python bench/diagnose.py`).

1. The SQL each benchmark document makes the server send, with its count:
   PostgreSQL logs every statement of the benchmark database for the length of
   this script (ALTER DATABASE ... SET log_min_duration_statement = 0, reset at
   the end); each document is sent twice and the second one is read back.
2. EXPLAIN (ANALYZE, BUFFERS) of each SELECT the server sent, with its logged
   parameters, both as a custom plan and as the generic plan that a prepared
   statement falls back to after five executions.
3. A CPU profile of the server under Q1 load (perf record, cpu-clock), when
   perf is installed.

It uses the database the harness seeded (bench_activity_feed, or the quick
one with --quick) and the binary the harness built, and writes to
bench/results/diagnose-<time>/.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import harness as h  # noqa: E402

PG_LOG = Path("/var/log/postgresql")


def pg_log_file() -> Path:
    logs = sorted(PG_LOG.glob("postgresql-*-main.log"), key=lambda p: p.stat().st_mtime)
    if not logs:
        raise SystemExit("no PostgreSQL log under /var/log/postgresql")
    return logs[-1]


def statements_between(text: str, db: str, start: str, end: str) -> list[dict]:
    """The statements logged for `db` between two marker queries."""
    lines = text.splitlines()
    out, inside, current = [], False, None
    pat = re.compile(rf"^\S+ \S+ \S+ \[(\d+)\] \S*@{re.escape(db)} LOG:  duration: ([0-9.]+) ms  (statement|execute|parse|bind)[^:]*: (.*)$")
    for line in lines:
        if start in line:
            inside = True
            continue
        if end in line and inside:
            break
        if not inside:
            continue
        m = pat.match(line)
        if m:
            current = {"pid": m.group(1), "ms": float(m.group(2)), "phase": m.group(3), "sql": m.group(4),
                       "params": None}
            if "bench-marker" not in current["sql"]:
                out.append(current)
            continue
        if current and "DETAIL:  parameters:" in line:
            current["params"] = line.split("DETAIL:  parameters:", 1)[1].strip()
        elif current and line.startswith("\t"):
            current["sql"] += " " + line.strip()
    return out


def substitute(sql: str, params: str | None) -> str:
    if not params:
        return sql
    values = dict(re.findall(r"\$(\d+) = ('(?:[^']|'')*'|NULL)", params))
    return re.sub(r"\$(\d+)\b", lambda m: values.get(m.group(1), m.group(0)), sql)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="use the quick (100,000 row) database")
    ap.add_argument("--bin", default=str(h.BENCH / ".build/target/release/activity-feed"))
    ap.add_argument("--perf-secs", type=int, default=10)
    ap.add_argument("--exp-secs", type=int, default=5)
    ap.add_argument("--s1-subscribers", type=int, default=1000)
    args = ap.parse_args()
    count = 100_000 if args.quick else 1_000_000
    db = "bench_activity_feed_quick" if args.quick else "bench_activity_feed"
    out = h.BENCH / "results" / f"diagnose-{time.strftime('%Y-%m-%dT%H-%M-%S')}"
    out.mkdir(parents=True)
    params = h.find_parameters(db, count)
    ws = h.workloads(params)
    report: list[str] = [f"# Diagnosis on {db} ({count:,} rows)\n"]

    # 1. The statements per document.
    logf = pg_log_file()
    h.psql("postgres", f'ALTER DATABASE "{db}" SET log_min_duration_statement = 0')
    try:
        ours = h.start_ours(Path(args.bin), h.pg_url(db), h.PORTS["ours"], "ours-diagnose", out)
        try:
            url = f"http://{h.HOST}:{h.PORTS['ours']}/graphql"
            for w in ws:
                h.validate(url, w["ours"]["body"])  # warm: prepares statements, fills caches
            time.sleep(0.5)
            offset = logf.stat().st_size
            for w in ws:
                h.psql(db, f"SELECT 'bench-marker start {w['key']}'")
                t0 = time.time()
                err = h.validate(url, w["ours"]["body"])
                w["_ms"] = (time.time() - t0) * 1000
                w["_err"] = err
                time.sleep(0.3)
                h.psql(db, f"SELECT 'bench-marker end {w['key']}'")
            time.sleep(0.5)
            with open(logf, errors="replace") as f:
                f.seek(offset)
                text = f.read()
            (out / "postgres.log").write_text(text)
        finally:
            ours.stop()
    finally:
        h.psql("postgres", f'ALTER DATABASE "{db}" RESET log_min_duration_statement')

    report.append("## Statements per document (activity-feed on PostgreSQL)\n")
    for w in ws:
        phases = statements_between(text, db, f"bench-marker start {w['key']}", f"bench-marker end {w['key']}")
        stmts = [s for s in phases if s["phase"] in ("execute", "statement")]
        parses = sum(1 for s in phases if s["phase"] == "parse")
        w["_stmts"] = stmts
        report.append(f"### {w['name']}: {len(stmts)} statements executed ({parses} parsed), "
                      f"{w['_ms']:.1f} ms for the whole request seen from the client"
                      + (f" (error: {w['_err']})" if w["_err"] else "") + "\n")
        for s in phases:
            sql = s["sql"] if len(s["sql"]) < 400 else s["sql"][:400] + " …"
            report.append(f"- {s['phase']} {s['ms']:.3f} ms: `{sql}`"
                          + (f"  \n  parameters: {s['params'][:200]}" if s["params"] and s["phase"] != "bind" else ""))
        report.append("")

    # 2. EXPLAIN ANALYZE of every SELECT, custom and generic plan.
    report.append("## Plans of the SELECTs the server sent\n")
    for w in ws:
        for i, s in enumerate(w["_stmts"]):
            if not s["sql"].lstrip().upper().startswith("SELECT"):
                continue
            sql = substitute(s["sql"], s["params"])
            plans = []
            for mode in ("force_custom_plan", "force_generic_plan"):
                n = len(re.findall(r"\$\d+", s["sql"]))
                if mode == "force_generic_plan" and s["params"]:
                    values = re.findall(r"\$\d+ = ('(?:[^']|'')*'|NULL)", s["params"])
                    q = (f"SET plan_cache_mode = {mode}; PREPARE p AS {s['sql']}; "
                         f"EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) EXECUTE p({', '.join(values)});")
                elif mode == "force_custom_plan":
                    q = f"EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) {sql}"
                else:
                    continue
                r = subprocess.run(["psql", "-h", h.PG_HOST, "-U", h.PG_USER, "-d", db, "-XAtq", "-c", q],
                                   capture_output=True, text=True)
                plans.append((mode, (r.stdout + r.stderr).strip(), n))
            report.append(f"### {w['key']} statement {i + 1}\n")
            for mode, plan, n in plans:
                report.append(f"{'custom plan (values inlined)' if mode == 'force_custom_plan' else 'generic plan (what a prepared statement may settle on)'}:\n")
                report.append("```\n" + plan + "\n```\n")

    # 3. A CPU profile under Q1 load.
    if shutil.which("perf"):
        ours = h.start_ours(Path(args.bin), h.pg_url(db), h.PORTS["ours"], "ours-perf", out)
        try:
            q1 = next(w for w in ws if w["key"] == "q1_feed")
            script = h.wrk_script(q1["ours"]["body"], out / "q1.lua")
            wrk = subprocess.Popen(["wrk", "-t", "2", "-c", "16", "-d", f"{args.perf_secs + 2}s", "-s", str(script),
                                    f"http://{h.HOST}:{h.PORTS['ours']}/graphql"], stdout=subprocess.PIPE, text=True)
            time.sleep(1)
            subprocess.run(["perf", "record", "-e", "cpu-clock", "-F", "499", "-g", "-p", str(ours.pid),
                            "-o", str(out / "perf.data"), "--", "sleep", str(args.perf_secs)],
                           capture_output=True)
            wrk.communicate(timeout=60)
            rep = subprocess.run(["perf", "report", "-i", str(out / "perf.data"), "--no-children", "--stdio",
                                  "--sort", "dso,symbol", "-g", "none", "--percent-limit", "0.7"],
                                 capture_output=True, text=True)
            (out / "perf-q1.txt").write_text(rep.stdout)
            top = [line.rstrip()[:160] for line in rep.stdout.splitlines() if line.strip() and not line.startswith("#")][:40]
            report.append("## CPU profile of the server under Q1 (activityFeed first 50, c=16), self time\n")
            report.append("```\n" + "\n".join(top) + "\n```\n")
        finally:
            ours.stop()
    experiments(args, db, ws, out, report)
    (out / "diagnosis.md").write_text("\n".join(report))
    print(out / "diagnosis.md")


def wrk_once(ws_body: dict, conc: int, secs: int, out: Path, tag: str) -> str:
    r = h.run_wrk(h.PORTS["ours"], ws_body, conc, secs, out, tag)
    if "error" in r:
        return f"error: {r['error']}"
    return f"{r['rps']:.0f} req/s, p50 {r['p50_ms']:.2f} ms, p99 {r['p99_ms']:.2f} ms"


def experiments(args, db: str, ws: list[dict], out: Path, report: list[str]) -> None:
    """Small A/B runs that isolate one cause each, on the same server binary."""
    by = {w["key"]: w for w in ws}
    secs = args.exp_secs
    ours = h.start_ours(Path(args.bin), h.pg_url(db), h.PORTS["ours"], "ours-experiments", out)
    try:
        report.append(f"## Experiments ({secs} s wrk runs each, activity-feed on PostgreSQL)\n")
        # The DataLoader: the same page with and without the actor.
        q1 = by["q1_feed"]["ours"]["body"]
        no_actor = {"query": q1["query"].replace(" actor { email }", "")}
        for conc in (1, 16):
            a = wrk_once(q1, conc, secs, out, f"exp-q1-actor-c{conc}")
            b = wrk_once(no_actor, conc, secs, out, f"exp-q1-noactor-c{conc}")
            report.append(f"- Q1 feed c={conc}: with `actor {{ email }}` {a}; without it {b}")
        # The generic plan: Q2 as is, then with custom plans forced for new connections.
        q2 = by["q2_filtered"]["ours"]["body"]
        before = [wrk_once(q2, c, secs, out, f"exp-q2-default-c{c}") for c in (1, 16)]
        ours.stop()
        h.psql("postgres", f'ALTER DATABASE "{db}" SET plan_cache_mode = force_custom_plan')
        try:
            ours = h.start_ours(Path(args.bin), h.pg_url(db), h.PORTS["ours"], "ours-custom-plans", out)
            after = [wrk_once(q2, c, secs, out, f"exp-q2-custom-c{c}") for c in (1, 16)]
            q1c = [wrk_once(q1, c, secs, out, f"exp-q1-custom-c{c}") for c in (1, 16)]
        finally:
            h.psql("postgres", f'ALTER DATABASE "{db}" RESET plan_cache_mode')
        report.append(f"- Q2 c=1 / c=16 with the default plan cache: {before[0]} / {before[1]}")
        report.append(f"- Q2 c=1 / c=16 with plan_cache_mode = force_custom_plan: {after[0]} / {after[1]}")
        report.append(f"- (Q1 feed c=1 / c=16 with force_custom_plan, for its planning cost: {q1c[0]} / {q1c[1]})")
        # Writers: what they wait on under M1 at c=16.
        m1 = by["m1_log"]["ours"]["body"]
        script = h.wrk_script(m1, out / "exp-m1.lua")
        wrk = subprocess.Popen(["wrk", "-t", "2", "-c", "16", "-d", f"{secs}s", "-s", str(script),
                                f"http://{h.HOST}:{h.PORTS['ours']}/graphql"], stdout=subprocess.PIPE, text=True)
        waits: dict[str, int] = {}
        time.sleep(1)
        samples = 0
        while wrk.poll() is None and samples < secs * 10:
            rows = h.psql(db, "SELECT coalesce(wait_event_type, 'CPU') || ':' || coalesce(wait_event, '-') || "
                              "' ' || left(regexp_replace(query, '\\s+', ' ', 'g'), 40) FROM pg_stat_activity "
                              f"WHERE datname = '{db}' AND state = 'active' AND pid <> pg_backend_pid()")
            for line in rows.splitlines():
                waits[line] = waits.get(line, 0) + 1
            samples += 1
            time.sleep(0.1)
        wrk_out, _ = wrk.communicate(timeout=60)
        m = re.search(r"^WRKJSON (.*)$", wrk_out, re.M)
        rate = json.loads(m.group(1))["requests"] / secs if m else 0
        report.append(f"- M1 c=16 ({rate:.0f} req/s): what the active backends were doing, {samples} samples of "
                      "pg_stat_activity (wait_event_type:wait_event, statement):")
        for k, v in sorted(waits.items(), key=lambda kv: -kv[1])[:12]:
            report.append(f"  - {v}× `{k}`")
        h.psql(db, "DELETE FROM activities WHERE module = 'bench'")
        # The same writes and fan-out with the in-process bus (no NOTIFY in the writer's transaction).
        client = h.BENCH / "loadclient/target/release/af-loadclient"
        n = args.s1_subscribers

        def s1(tag: str, pid: int) -> str:
            r = subprocess.run([str(client), "--addr", f"{h.HOST}:{h.PORTS['ours']}", "--subscribers", str(n),
                                "--rate", "200", "--duration", str(secs), "--drain", "3", "--pid", str(pid)],
                               capture_output=True, text=True, timeout=600)
            (out / f"exp-s1-{tag}.json").write_text(r.stdout + r.stderr)
            try:
                j = json.loads(r.stdout.strip().splitlines()[-1])
            except (IndexError, json.JSONDecodeError):
                return "error: " + r.stderr[-200:]
            per_sub = ((j["rss_subscribed_kib"] or 0) - (j["rss_before_kib"] or 0)) / max(1, j["subscribed"])
            return (f"delivery p50 {j['delivery_p50_ms']} ms p99 {j['delivery_p99_ms']} ms; writer "
                    f"{j['write_rate']:.0f}/s p50 {j['write_p50_ms']} ms; RSS {j['rss_before_kib'] / 1024:.0f} → "
                    f"{j['rss_subscribed_kib'] / 1024:.0f} MiB once subscribed ({per_sub:.0f} KiB per subscriber), "
                    f"max {j['rss_max_kib'] / 1024:.0f} MiB; client CPU {j.get('client_cpu_cores') or 0:.2f} cores")

        s1_pg = s1("postgres-bus", ours.pid)
        h.psql(db, "DELETE FROM activities WHERE module = 'bench'")
        ours.stop()
        ours = h.start_ours(Path(args.bin), h.pg_url(db), h.PORTS["ours"], "ours-memory-bus", out,
                            extra=("--bus", "memory"))
        m1_mem = wrk_once(m1, 16, secs, out, "exp-m1-memory-bus")
        h.psql(db, "DELETE FROM activities WHERE module = 'bench'")
        s1_mem = s1("memory-bus", ours.pid)
        h.psql(db, "DELETE FROM activities WHERE module = 'bench'")
        report.append(f"- M1 c=16 with `--bus memory` (no NOTIFY): {m1_mem}")
        report.append(f"- S1 {n} subscribers, LISTEN/NOTIFY bus (default): {s1_pg}")
        report.append(f"- S1 {n} subscribers, `--bus memory`: {s1_mem}")
        # S1: a profile of the server while it fans out.
        if shutil.which("perf"):
            client = h.BENCH / "loadclient/target/release/af-loadclient"
            n = args.s1_subscribers
            lc = subprocess.Popen([str(client), "--addr", f"{h.HOST}:{h.PORTS['ours']}", "--subscribers", str(n),
                                   "--rate", "200", "--duration", str(secs + 4), "--drain", "2",
                                   "--pid", str(ours.pid)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            # Wait until the subscribers are in (the client logs nothing; give it time).
            time.sleep(min(60, 3 + n / 200))
            subprocess.run(["perf", "record", "-e", "cpu-clock", "-F", "499", "-p", str(ours.pid),
                            "-o", str(out / "perf-s1.data"), "--", "sleep", str(secs)], capture_output=True)
            lc_out, _ = lc.communicate(timeout=300)
            rep = subprocess.run(["perf", "report", "-i", str(out / "perf-s1.data"), "--no-children", "--stdio",
                                  "--sort", "dso,symbol", "--percent-limit", "0.7"], capture_output=True, text=True)
            (out / "perf-s1.txt").write_text(rep.stdout)
            top = [line.rstrip()[:160] for line in rep.stdout.splitlines() if line.strip() and not line.startswith("#")][:30]
            report.append(f"\n## CPU profile of the server during S1 with {n} subscribers, self time\n")
            report.append("client: " + lc_out.strip()[-1200:] + "\n")
            report.append("```\n" + "\n".join(top) + "\n```\n")
            h.psql(db, "DELETE FROM activities WHERE module = 'bench'")
    finally:
        ours.stop()


if __name__ == "__main__":
    main()
