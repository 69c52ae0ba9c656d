#!/usr/bin/env python3
"""The hash chain and erasure benchmarks of BENCHMARKS.md ("Sealing and erasure").

  bench/run --chain seed-erasure [--rows N]   set-based seeding of bench_chain_erase (not timed)
  bench/run --chain erasure                   times `activity-feed forget` on it (run under /work/quiet)
  bench/run --chain sealing [--seal-rows M] [--seconds S] [--rounds N]
        the sealer's rate on a backlog of M rows, and M2-style writers
        (logActivities of 100, 16 connections, wrk) with the sealer off, on,
        on, off in each round, each on a fresh database, in the same run
  bench/run --chain seal-large [--rows N]
        the sealer on a whole log of N rows (default 10,000,000; seeded once into
        bench_chain_large and kept): its time, its rate by 10 s window, CPU per row
  bench/run --chain backlog [--seal-rows M] [--rounds N] [--cpus LIST]
        the sealer's rate on a backlog alone, with the server's CPU time per
        sealed row and the rest of the machine's (PostgreSQL and this script's
        polling; from /proc; run builds in turn with ACTIVITY_FEED_BIN)
  bench/run --chain separate-cores [--seconds S] [--rounds N] [--sealer-backends own|writers]
        M2-style writers, their server and PostgreSQL on CPU 0, and a second
        instance sealing (or idle) on CPU 1, its database backends on CPU 1
        (own) or left with the writers' (writers), off, on, on, off in each
        round: the sealer's effect when its CPU, or its server's, is not the writers'
  bench/run --chain separate-cores-ab --sealer-bin-b PATH [--seconds S] [--rounds N] [--sealer-backends own|writers]
        separate-cores with two sealing builds: the second instance off, sealing
        with BIN (A), or sealing with PATH (B), in the order off, A, B, B, A, off
        per round; the writers' server is BIN throughout
  bench/run --chain storage-sim [--arms A] [--sim-rows-per-s R] [--seconds S] [--rounds N]
        separate-cores with both sealers off and, beside the writers, what a
        candidate seal layout would make PostgreSQL do (one row per batch of
        2,000 written by a psql session whose backend is on the writers'
        CPU), or the writers' rows given a 16-byte salt column: the cost to
        writers of a layout before it is built
  bench/run --chain steady [--rates 500,1000,2000] [--seconds S] [--rounds N]
        writers below saturation: `log` calls at a fixed rate, open loop
        (bench/loadclient), sealer off, on, on, off at each rate, each on a fresh
        database: the writers' latency, and how far the sealer trails them

Needs a release build (cargo build --release), psql and wrk (and, for
`steady`, bench/loadclient built with cargo build --release). PostgreSQL on
127.0.0.1:5432, user postgres. Prints one JSON object per measurement.
"""
import argparse
import json
import os
import re
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
BIN = Path(os.environ.get("ACTIVITY_FEED_BIN", REPO / "target/release/activity-feed"))
BASE = "postgres://postgres@127.0.0.1:5432"
USERS = 100
PORT = 18140
SIM_DB = "bench_chain_sim"


def psql(db, sql):
    out = subprocess.run(["psql", "-h", "127.0.0.1", "-U", "postgres", "-d", db, "-v", "ON_ERROR_STOP=1",
                          "-qAt", "-c", sql], check=True, capture_output=True, text=True)
    return out.stdout.strip()


def fresh(db):
    psql("postgres", f"DROP DATABASE IF EXISTS {db} WITH (FORCE)")
    psql("postgres", f"CREATE DATABASE {db}")
    subprocess.run([str(BIN), "migrate"], check=True, env={**os.environ, "DATABASE_URL": f"{BASE}/{db}",
                                                           "RUST_LOG": "warn"})


def user(expr):
    return f"('00000000-0000-4000-8000-' || lpad(to_hex({expr}), 12, '0'))::uuid"


def seed(db, rows):
    """`rows` activities by 100 people, set-based: each person acts in 1%,
    is the target of 0.02%, and is mentioned by email in metadata in 0.001%."""
    psql(db, f"INSERT INTO users (uuid, email, first_name, last_name, inserted_at) "
             f"SELECT {user('u')}, 'user' || u || '@example.com', 'First' || u, 'Last' || u, now() "
             f"FROM generate_series(0, {USERS - 1}) u")
    psql(db, f"""
        INSERT INTO activities (uuid, action, module, mode, actor_uuid, resource_type, resource_uuid,
                                target_uuid, metadata, inserted_at, search_text, client_ip, user_agent)
        SELECT gen_random_uuid(), 'post.created', 'posts', 'manual', {user(f'i % {USERS}')}, 'post',
               gen_random_uuid(), CASE WHEN i % 50 = 0 THEN {user(f'(i / 50) % {USERS}')} END,
               CASE WHEN i % 1000 = 0
                    THEN jsonb_build_object('title', 'Post ' || i, 'mentioned', 'user' || ((i / 1000) % {USERS}) || '@example.com')
                    ELSE jsonb_build_object('title', 'Post ' || i, 'n', i) END,
               now() - make_interval(secs => i),
               CASE WHEN i % 1000 = 0
                    THEN 'user' || ((i / 1000) % {USERS}) || ' example com post ' || i
                    ELSE i || ' post ' || i END,
               '10.0.' || (i % {USERS}) || '.1', 'Agent/' || (i % {USERS})
        FROM generate_series(1, {rows}) i""")


def seed_salts(db):
    """Seals with salts for every row, as the sealer leaves them, so that erasure
    does its work on sealed rows (the hashes are placeholders: erasure does not
    read them, and the chain itself is not needed to time erasure)."""
    psql(db, """
        INSERT INTO seals (txid, seq, activity_uuid, prev_txid, prev_seq, hash, salts)
        SELECT txid, seq, uuid, 0, 0, md5(uuid::text) || md5(uuid::text), jsonb_strip_nulls(jsonb_build_object(
                 'actor_uuid', md5(random()::text), 'client_ip', md5(random()::text),
                 'resource_uuid', md5(random()::text), 'user_agent', md5(random()::text),
                 'target_uuid', CASE WHEN target_uuid IS NOT NULL THEN md5(random()::text) END,
                 'metadata', (SELECT jsonb_object_agg(k, md5(random()::text)) FROM jsonb_object_keys(metadata) k)))::text
        FROM activities""")
    psql(db, "VACUUM ANALYZE")


def serve(db, sealer, port=PORT, cpus=None, binary=None):
    """A server on `port`, with the sealer on or off, on the CPUs `cpus`
    (taskset's list, e.g. "1") or any; the build `binary`, or BIN."""
    # A server left on the port (a run that died) would answer for this one:
    # every figure would be that server's, with its sealer setting.
    with socket.socket() as probe:
        if probe.connect_ex(("127.0.0.1", port)) == 0:
            sys.exit(f"port {port} is taken: stop the server there first")
    env = {**os.environ, "DATABASE_URL": f"{BASE}/{db}", "BIND": f"127.0.0.1:{port}", "RUST_LOG": "warn",
           "RETENTION_INTERVAL": "0s", "SEALER": "true" if sealer else "false"}
    pin = ["taskset", "-c", cpus] if cpus else []
    proc = subprocess.Popen([*pin, str(binary or BIN), "serve"], env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    for _ in range(200):
        if proc.poll() is not None:
            sys.exit(f"the server exited with {proc.returncode}")
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=1)
            return proc
        except Exception:
            time.sleep(0.1)
    proc.kill()
    sys.exit("the server did not start")


def stop(proc):
    if proc.poll() is None:
        proc.terminate()
        proc.wait(timeout=30)


def count(db, table):
    return int(psql(db, f"SELECT count(*) FROM {table}"))


def packed(db):
    """Whether the database stores seals one row per batch (`seal_batches`,
    which builds from c2cbf9b on create), besides `seals`."""
    return psql(db, "SELECT to_regclass('seal_batches') IS NOT NULL") == "t"


def sealed_count(db):
    """How many seals there are, in rows and packed entries (80 bytes each)."""
    n = count(db, "seals")
    if packed(db):
        n += int(psql(db, "SELECT COALESCE(sum(octet_length(entries)) / 80, 0) FROM seal_batches"))
    return n


def any_sealed(db):
    packed_sql = " OR EXISTS (SELECT FROM seal_batches)" if packed(db) else ""
    return psql(db, f"SELECT EXISTS (SELECT FROM seals){packed_sql}") == "t"


def newest_sealed_seq(db):
    """The seq of the newest seal, or None."""
    packed_sql = (" UNION ALL (SELECT last_txid, last_seq FROM seal_batches "
                  "ORDER BY last_txid DESC, last_seq DESC LIMIT 1)") if packed(db) else ""
    out = psql(db, f"SELECT seq FROM ((SELECT txid, seq FROM seals ORDER BY txid DESC, seq DESC LIMIT 1)"
                   f"{packed_sql}) s ORDER BY txid DESC, seq DESC LIMIT 1")
    return int(out) if out else None


def all_sealed(db):
    """Whether the newest activity is sealed: index probes, where counting
    the seals would scan the tables the sealer is filling, in competition with it."""
    newest = "(SELECT txid, seq FROM activities ORDER BY txid DESC, seq DESC LIMIT 1)"
    packed_sql = (f" OR EXISTS (SELECT 1 FROM seal_batches b JOIN {newest} a "
                  "ON (b.last_txid, b.last_seq) >= (a.txid, a.seq))") if packed(db) else ""
    return psql(db, f"SELECT EXISTS (SELECT 1 FROM seals s JOIN {newest} a "
                    f"ON (s.txid, s.seq) = (a.txid, a.seq)){packed_sql}") == "t"


def catch_up(db):
    """Seconds until the newest activity is sealed."""
    t0 = time.monotonic()
    while not all_sealed(db):
        time.sleep(0.1)
    return round(time.monotonic() - t0, 2)


def cpu_seconds(pid):
    """User and system CPU time of a process, in seconds."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_mib(pid):
    """A process's resident memory now, in MiB (/proc)."""
    with open(f"/proc/{pid}/status") as f:
        kib = next(int(line.split()[1]) for line in f if line.startswith("VmRSS:"))
    return round(kib / 1024, 1)


def machine_busy_seconds():
    """CPU time the whole machine spent busy, over all CPUs (/proc/stat)."""
    with open("/proc/stat") as f:
        fields = [int(x) for x in f.readline().split()[1:]]
    # user, nice, system, idle, iowait, irq, softirq, steal: all but idle and iowait.
    busy = fields[0] + fields[1] + fields[2] + fields[5] + fields[6] + fields[7]
    return busy / os.sysconf("SC_CLK_TCK")


def cpu_per_row(proc, machine_before, rows):
    """The server's CPU per row, and the rest of the machine's since
    `machine_before` (PostgreSQL and this script's polling), in µs."""
    server = cpu_seconds(proc.pid)
    rest = machine_busy_seconds() - machine_before - server
    return {"server_cpu_us_per_row": round(server / rows * 1e6, 1),
            "rest_cpu_us_per_row": round(rest / rows * 1e6, 1)}


def refuse_if_sealed(db, sealer):
    """Stops the run when a sealer-off run found seals: a server left
    running elsewhere answered, and every figure would be its."""
    if not sealer and any_sealed(db):
        sys.exit("rows were sealed with the sealer off: another server answered")


def sealing_rate(rows, cpus=None):
    """The sealer's rate on a backlog of `rows`; with `cpus`, the server and
    PostgreSQL (every process, new backends included) run on those CPUs alone."""
    db = "bench_chain_seal"
    fresh(db)
    seed(db, rows)
    # Only the seeded table: a VACUUM of the empty `seals` would tell the
    # planner it is empty, which no deployment's statistics say for long.
    psql(db, "VACUUM ANALYZE activities")
    machine_before = machine_busy_seconds()
    if cpus:
        pin(postgres_pids(), cpus)
    try:
        proc = serve(db, sealer=True, cpus=cpus)
        start, first = None, 0
        while True:
            now = time.monotonic()
            if start is None and any_sealed(db):
                start, first = now, sealed_count(db)
            if start is not None and all_sealed(db):
                break
            time.sleep(0.2)
        # From the server's start to the last seal: its start-up is in both.
        cpu = cpu_per_row(proc, machine_before, rows)
        stop(proc)
    finally:
        if cpus:
            pin(postgres_pids(), f"0-{os.cpu_count() - 1}")
    return {"measure": "sealing backlog", "rows": rows, "cpus": cpus or "all", "seconds": round(now - start, 2),
            "rows_per_s": round((rows - first) / (now - start)),
            **cpu}


def batches(seconds, cpus=None, measuring=None):
    """M2-style writers against the server on PORT: `logActivities` of 100,
    16 connections (wrk), a 3 s warm-up and then `seconds` measured, with
    wrk on the CPUs `cpus` or any; `measuring` is called between the two.
    Returns rows/s and non-2xx responses."""
    inputs = [{"action": "bench.write", "module": "bench", "metadata": {"title": f"row {i}", "n": i}}
              for i in range(100)]
    body = json.dumps({"query": "mutation($i: [LogInput!]!) { logActivities(inputs: $i) { activities { uuid } } }",
                       "variables": {"i": inputs}})
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as lua:
        lua.write('wrk.method = "POST"\nwrk.headers["Content-Type"] = "application/json"\n'
                  f"wrk.body = [==[{body}]==]\n")
    pin = ["taskset", "-c", cpus] if cpus else []
    url = f"http://127.0.0.1:{PORT}/graphql"
    try:
        subprocess.run([*pin, "wrk", "-t2", "-c16", "-d3s", "-s", lua.name, url], check=True, capture_output=True)
        if measuring:
            measuring()
        out = subprocess.run([*pin, "wrk", "-t2", "-c16", f"-d{seconds}s", "-s", lua.name, url],
                             check=True, capture_output=True, text=True).stdout
    finally:
        os.unlink(lua.name)
    req_s = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return round(req_s * 100), int(non2xx.group(1)) if non2xx else 0


def sealing_large(rows):
    """The sealer on a backlog of a whole log of `rows` (bench_chain_large,
    seeded once and kept; its chain is emptied before each run): the time to
    seal it all, the rate in each 10 s window, so that a rate that fell as
    `seals` grew would show, and the CPU per row: the server's, and the rest
    of the machine's (PostgreSQL, with its autovacuum and checkpoints, and
    this script's polling)."""
    db = "bench_chain_large"
    exists = psql("postgres", f"SELECT EXISTS (SELECT FROM pg_database WHERE datname = '{db}')") == "t"
    if not exists or count(db, "activities") != rows:
        fresh(db)
        seed(db, rows)
        psql(db, "VACUUM ANALYZE activities")
    psql(db, "TRUNCATE seals; DELETE FROM seal_anchor")
    if packed(db):
        psql(db, "TRUNCATE seal_batches")
    # A set-based seed is one transaction: its rows' positions are one txid
    # and consecutive seqs, so the newest seal's seq tells how far it is.
    first = int(psql(db, "SELECT min(seq) FROM activities"))
    machine_before = machine_busy_seconds()
    t0 = time.monotonic()
    proc = serve(db, sealer=True)
    windows, last = [], (t0, 0)
    try:
        # Looks every second for the end, and every 10 s at the progress.
        while not all_sealed(db):
            time.sleep(1)
            if time.monotonic() - last[0] >= 10:
                newest = newest_sealed_seq(db)
                done = newest - first + 1 if newest is not None else 0
                now = time.monotonic()
                windows.append(round((done - last[1]) / (now - last[0])))
                last = (now, done)
        seconds = time.monotonic() - t0
        cpu = cpu_per_row(proc, machine_before, rows)
    finally:
        stop(proc)
    return {"measure": "sealing a whole log", "rows": rows, "seconds": round(seconds, 1),
            "rows_per_s": round(rows / seconds), "rows_per_s_by_10s_window": windows,
            **cpu}


def writers(sealer, seconds):
    db = "bench_chain_write"
    fresh(db)
    proc = serve(db, sealer)
    try:
        rows_per_s, errors = batches(seconds)
        lag = count(db, "activities") - sealed_count(db)
        caught_up = catch_up(db) if sealer else None
    finally:
        stop(proc)
    return {"measure": f"writers, sealer {'on' if sealer else 'off'}", "rows_per_s": rows_per_s,
            "errors": errors, "unsealed_at_end": lag if sealer else None, "seconds_to_catch_up": caught_up}


def postgres_pids():
    pids = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/comm") as f:
                if f.read().startswith("postgres"):
                    pids.append(pid)
        except OSError:
            pass
    return pids


def postgres_cpu():
    """CPU seconds of every PostgreSQL process now, by pid."""
    cpu = {}
    for pid in postgres_pids():
        try:
            cpu[pid] = cpu_seconds(pid)
        except OSError:
            pass
    return cpu


def backends_of(db, pid):
    """The PostgreSQL backends serving process `pid`'s connections."""
    ss = subprocess.run(["ss", "-tnpH", "state", "established", "( dport = :5432 )"], capture_output=True,
                        text=True).stdout
    ports = [line.split()[2].rsplit(":", 1)[1] for line in ss.splitlines() if f"pid={pid}," in line]
    if not ports:
        return []
    return psql(db, f"SELECT pid FROM pg_stat_activity WHERE client_port IN ({','.join(ports)})").split()


def pin(pids, cpus):
    for pid in pids:
        subprocess.run(["taskset", "-pc", cpus, str(pid)], capture_output=True)


def separate_cores(sealer, seconds, backends_cpus="1", started=None, sealer_bin=None):
    """M2-style writers with CPU 0 (wrk, a server with its sealer off, and
    PostgreSQL, whose new backends inherit the postmaster's CPU), and a
    second instance on the same database on CPU 1: sealing, or idle when
    `sealer` is off. With `backends_cpus` "1" its database backends move to
    CPU 1 too, so that none of the sealer's work is on the writers' CPU;
    with None they stay on CPU 0, as a sealer on a host of its own would
    still share the database with the writers. `started(db)` is called once
    both servers are up, before the writers begin. `sealer_bin` is the
    second instance's build, when not BIN (the writers' server is BIN)."""
    db = "bench_chain_cores"
    fresh(db)
    pin(postgres_pids(), "0")
    procs = []
    try:
        procs.append(serve(db, False, PORT, "0"))
        procs.append(serve(db, sealer, PORT + 1, "1", sealer_bin))
        if started:
            started(db)
        done, seen, lags, rss = [], set(), [], []

        def keep_pinned():
            # The second instance's pools open connections as they need them.
            # The lag is sampled the same way whether the sealer is on or off.
            sampler = LagSampler(db)
            while not done:
                backends = backends_of(db, procs[1].pid)
                if backends_cpus:
                    pin(backends, backends_cpus)
                seen.update(backends)
                lags.append(sampler.sample())
                rss.append(rss_mib(procs[1].pid))
                time.sleep(0.5)
            sampler.close()

        pinner = threading.Thread(target=keep_pinned)
        pinner.start()
        before = {}
        try:
            rows_per_s, errors = batches(seconds, "0", lambda: before.update(
                postgres_cpu(), writers_server=cpu_seconds(procs[0].pid)))
            after = postgres_cpu()
            writers_server = cpu_seconds(procs[0].pid) - before["writers_server"]
            lag = count(db, "activities") - sealed_count(db)
        finally:
            done.append(True)
            pinner.join()
        # CPU over the measured seconds, as a share of one CPU: the second
        # instance's backends (all of the sealer's database work but the
        # WAL writer's and checkpointer's) against every other PostgreSQL
        # process alive at the end (the writers' backends and the rest).
        spent = {pid: cpu - before.get(pid, 0.0) for pid, cpu in after.items()}
        second = sum(cpu for pid, cpu in spent.items() if pid in seen)
        others = sum(cpu for pid, cpu in spent.items() if pid not in seen)
        caught_up = catch_up(db) if sealer else None
        refuse_if_sealed(db, sealer)
    finally:
        for proc in procs:
            stop(proc)
        pin(postgres_pids(), f"0-{os.cpu_count() - 1}")
    where = "its backends on CPU 1" if backends_cpus else "its backends on CPU 0"
    return {"measure": f"writers on CPU 0, sealer {'on' if sealer else 'off'} on CPU 1, {where}",
            "rows_per_s": rows_per_s,
            "errors": errors, "unsealed_at_end": lag if sealer else None,
            "max_lag_s": max((x for x in lags if x is not None), default=None), "seconds_to_catch_up": caught_up,
            "sealer_backends_moved": len(seen) if backends_cpus else 0,
            "second_instance_backends_cpu_share": round(second / seconds, 3),
            "second_instance_max_rss_mib": max(rss, default=None),
            "other_postgres_cpu_share": round(others / seconds, 3),
            "writers_server_cpu_share": round(writers_server / seconds, 3)}


class SimulatedSeals(threading.Thread):
    """What a candidate seal layout would make the database do, without
    building it: one psql session on CPU 1 whose backend is on CPU 0 (the
    writers'), storing one row per batch of 2,000 sealed rows at the rate a
    sealer that keeps up would (`rows_per_s` / 2,000 a second), in a
    transaction as the sealer's (BEGIN, the chain's advisory lock, INSERT,
    COMMIT). The row holds `hash_bytes` per sealed row in a `bytea` and
    `salt_chars` per sealed row of hex salts as lines of one text, fresh
    random values every batch (a client's values: PostgreSQL compresses
    them unless `storage` is "external"). Reading the rows and hashing are
    not simulated: the prototype measured them at 0.99-1.00x of off
    (BENCHMARKS.md) when the rows come from the publisher."""

    def __init__(self, hash_bytes, salt_chars, storage, rows_per_s):
        super().__init__()
        self.hash_bytes, self.salt_chars, self.storage = hash_bytes, salt_chars, storage
        self.interval = 2000 / rows_per_s
        self.done = threading.Event()
        self.batches, self.backend_cpu_s = 0, 0.0

    @staticmethod
    def prepare():
        psql("postgres", f"DROP DATABASE IF EXISTS {SIM_DB}")
        psql("postgres", f"CREATE DATABASE {SIM_DB}")
        for storage in ("main", "external"):
            psql(SIM_DB, f"CREATE TABLE seal_batches_{storage} (id bigserial PRIMARY KEY, "
                         "hashes bytea NOT NULL, salts text NOT NULL)")
        psql(SIM_DB, "ALTER TABLE seal_batches_external ALTER hashes SET STORAGE EXTERNAL, "
                     "ALTER salts SET STORAGE EXTERNAL")

    def run(self):
        session = subprocess.Popen(["taskset", "-c", "1", "psql", "-h", "127.0.0.1", "-U", "postgres", "-d",
                                    SIM_DB, "-qAtX", "-v", "ON_ERROR_STOP=1"],
                                   stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1)
        session.stdin.write("SELECT pg_backend_pid();\n")
        backend = session.stdout.readline().strip()
        pin([backend], "0")
        cpu_before, begun = cpu_seconds(backend), time.monotonic()
        while not self.done.is_set():
            hashes = os.urandom(self.hash_bytes * 2000).hex()
            salts = "\\n".join(os.urandom(self.salt_chars // 2).hex() for _ in range(2000)) \
                if self.salt_chars else ""
            # The only output is the last statement's, once the commit is done.
            session.stdin.write(f"BEGIN; DO $$BEGIN PERFORM pg_advisory_xact_lock(1); END$$; INSERT INTO "
                                f"seal_batches_{self.storage} (hashes, salts) VALUES ('\\x{hashes}', "
                                f"E'{salts}'); COMMIT; SELECT 1;\n")
            if not session.stdout.readline():
                sys.exit("the simulated sealer's statement failed")
            self.batches += 1
            self.done.wait(max(0.0, begun + self.batches * self.interval - time.monotonic()))
        self.backend_cpu_s = cpu_seconds(backend) - cpu_before
        session.stdin.close()
        session.wait()


def simulated(arm, spec, seconds, rows_per_s):
    """One `separate-cores` run, sealer off in both instances, with the arm
    beside the writers: "off"; "salted", the writers' rows given 16 random
    bytes more each (a column PostgreSQL fills); or HASH:SALTS:STORAGE, the
    simulated seal rows of `SimulatedSeals`."""
    started, seals = None, None
    if arm == "salted":
        def started(db):
            psql(db, "ALTER TABLE activities ADD COLUMN salt uuid NOT NULL DEFAULT gen_random_uuid()")
    elif arm != "off":
        hash_bytes, salt_chars, storage = spec.split(":")
        seals = SimulatedSeals(int(hash_bytes), int(salt_chars), storage, rows_per_s)
        seals.start()
    try:
        result = separate_cores(False, seconds, None, started)
    finally:
        if seals:
            seals.done.set()
            seals.join()
    result.update(measure="writers on CPU 0 beside a simulated seal write", arm=arm, spec=spec)
    if seals and seals.batches:
        result.update(sim_batches=seals.batches, sim_backend_cpu_share=round(
            seals.backend_cpu_s / (seals.batches * seals.interval), 3))
    return result


LAG_SECONDS = ("SELECT extract(epoch FROM (SELECT inserted_at FROM activities ORDER BY txid DESC, seq DESC "
               "LIMIT 1) - (SELECT a.inserted_at FROM seals s JOIN activities a ON (a.txid, a.seq) = "
               "(s.txid, s.seq) ORDER BY s.txid DESC, s.seq DESC LIMIT 1))")
# The same where seals are packed too: the newer of the two tables' newest.
LAG_SECONDS_PACKED = ("SELECT extract(epoch FROM (SELECT inserted_at FROM activities ORDER BY txid DESC, "
                      "seq DESC LIMIT 1) - (SELECT a.inserted_at FROM activities a JOIN ("
                      "(SELECT txid, seq FROM seals ORDER BY txid DESC, seq DESC LIMIT 1) UNION ALL "
                      "(SELECT last_txid, last_seq FROM seal_batches ORDER BY last_txid DESC, last_seq DESC "
                      "LIMIT 1) ORDER BY 1 DESC, 2 DESC LIMIT 1) s ON (a.txid, a.seq) = (s.txid, s.seq)))")


class LagSampler:
    """One psql session that measures, on request, how many seconds of
    writes the chain trails by: the newest row's time less the newest sealed
    row's. Index probes at both ends, so that sampling costs about the same
    whether the sealer is on or off (off, it finds no seal: no figure)."""

    def __init__(self, db):
        self.proc = subprocess.Popen(["psql", "-h", "127.0.0.1", "-U", "postgres", "-d", db, "-qAtX",
                                      "-v", "ON_ERROR_STOP=1"],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1)
        self.packed = False

    def sample(self):
        # `seal_batches` appears when a build that packs seals migrates.
        if not self.packed:
            self.proc.stdin.write("SELECT to_regclass('seal_batches') IS NOT NULL;\n")
            self.packed = self.proc.stdout.readline().strip() == "t"
        self.proc.stdin.write((LAG_SECONDS_PACKED if self.packed else LAG_SECONDS) + ";\n")
        line = self.proc.stdout.readline()
        if not line:
            sys.exit("the lag query failed")
        return float(line) if line.strip() else None

    def close(self):
        self.proc.stdin.close()
        self.proc.wait(timeout=10)


def steady(sealer, rate, seconds):
    """`log` calls at `rate` a second for `seconds`, open loop, with the
    sealer off or on; the seal lag is sampled every half second."""
    db = "bench_chain_steady"
    fresh(db)
    proc = serve(db, sealer)
    try:
        return steady_run(db, sealer, rate, seconds)
    finally:
        stop(proc)


def steady_run(db, sealer, rate, seconds):
    client = subprocess.Popen(
        [str(REPO / "bench/loadclient/target/release/af-loadclient"), "--target", f"127.0.0.1:{PORT}",
         "--subscribers", "0", "--rate", str(rate), "--duration", str(seconds), "--drain", "1",
         "--label", f"steady {rate}/s sealer {'on' if sealer else 'off'}"],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    sampler = LagSampler(db)
    lags = []
    while client.poll() is None:
        lags.append(sampler.sample())
        time.sleep(0.5)
    sampler.close()
    report = json.loads(client.stdout.read().strip().splitlines()[-1])
    caught_up = catch_up(db) if sealer else None
    refuse_if_sealed(db, sealer)
    lags = [lag for lag in lags if lag is not None]
    return {"measure": f"steady writers, sealer {'on' if sealer else 'off'}", "rate": rate,
            "writer": report["writer"], "max_lag_s": max(lags) if lags else None,
            "median_lag_s": sorted(lags)[len(lags) // 2] if lags else None,
            "seconds_to_catch_up": caught_up}


def erasure():
    db = "bench_chain_erase"
    rows = count(db, "activities")
    person = psql(db, f"SELECT {user('0')}")
    t0 = time.monotonic()
    out = subprocess.run([str(BIN), "forget", person, "--reason", "benchmark"], check=True, capture_output=True,
                         text=True, env={**os.environ, "DATABASE_URL": f"{BASE}/{db}", "RUST_LOG": "warn"})
    seconds = time.monotonic() - t0
    return {"measure": "erasure", "rows": rows, "seconds": round(seconds, 1), "output": out.stdout.strip()}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("what", choices=["seed-erasure", "erasure", "sealing", "backlog", "steady",
                                         "separate-cores", "separate-cores-ab", "seal-large",
                                         "storage-sim"])
    parser.add_argument("--rates", default="500,1000,2000")
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--seal-rows", type=int, default=200_000)
    parser.add_argument("--seconds", type=int, default=15)
    parser.add_argument("--sealer-backends", choices=["own", "writers"], default="own",
                        help="separate-cores: the sealing instance's database backends on its CPU or the writers'")
    parser.add_argument("--sealer-bin-b", help="separate-cores-ab: the build of arm B's sealing instance")
    parser.add_argument("--arms", default="packed=48:100:main,lean=32:0:external,tiny=1:0:main,salted",
                        help="storage-sim: NAME=HASH_BYTES:SALT_CHARS:STORAGE per row, or salted, comma-separated")
    parser.add_argument("--sim-rows-per-s", type=int, default=16000,
                        help="storage-sim: the sealed rows a second the simulated sealer stores")
    parser.add_argument("--cpus", help="backlog: run the server and PostgreSQL on these CPUs alone (taskset's list)")
    args = parser.parse_args()
    if args.what == "seed-erasure":
        fresh("bench_chain_erase")
        t0 = time.monotonic()
        seed("bench_chain_erase", args.rows)
        seed_salts("bench_chain_erase")
        print(json.dumps({"measure": "seeded", "rows": args.rows, "seconds": round(time.monotonic() - t0)}))
    elif args.what == "erasure":
        print(json.dumps(erasure()))
    elif args.what == "steady":
        # Off and on in turn, in the order off, on, on, off within each
        # round: a machine whose speed drifts through a run favours neither.
        for _ in range(args.rounds):
            for rate in (int(r) for r in args.rates.split(",")):
                for sealer in (False, True, True, False):
                    print(json.dumps(steady(sealer, rate, args.seconds)), flush=True)
    elif args.what == "seal-large":
        print(json.dumps(sealing_large(args.rows)), flush=True)
    elif args.what == "separate-cores":
        backends = "1" if args.sealer_backends == "own" else None
        for _ in range(args.rounds):
            for sealer in (False, True, True, False):
                print(json.dumps(separate_cores(sealer, args.seconds, backends)), flush=True)
    elif args.what == "separate-cores-ab":
        if not args.sealer_bin_b:
            sys.exit("separate-cores-ab needs --sealer-bin-b")
        backends = "1" if args.sealer_backends == "own" else None
        arms = {"off": (False, None), "A": (True, None), "B": (True, args.sealer_bin_b)}
        for _ in range(args.rounds):
            for arm in ("off", "A", "B", "B", "A", "off"):
                sealer, binary = arms[arm]
                result = separate_cores(sealer, args.seconds, backends, sealer_bin=binary)
                result.update(arm=arm, sealer_bin=str(binary or BIN))
                print(json.dumps(result), flush=True)
    elif args.what == "storage-sim":
        SimulatedSeals.prepare()
        arms = [(a.split("=", 1) + [""])[:2] for a in args.arms.split(",")]
        for _ in range(args.rounds):
            # off, then each arm, then each again in reverse, then off.
            for name, spec in [("off", "")] + arms + arms[::-1] + [("off", "")]:
                print(json.dumps(simulated(name, spec, args.seconds, args.sim_rows_per_s)), flush=True)
        psql("postgres", f"DROP DATABASE IF EXISTS {SIM_DB}")
    elif args.what == "backlog":
        for _ in range(args.rounds):
            print(json.dumps(sealing_rate(args.seal_rows, args.cpus)), flush=True)
    else:
        print(json.dumps(sealing_rate(args.seal_rows)), flush=True)
        for _ in range(args.rounds):
            for sealer in (False, True, True, False):
                print(json.dumps(writers(sealer, args.seconds)), flush=True)


if __name__ == "__main__":
    main()
