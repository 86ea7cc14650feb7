"""Benchmark many worker hosts against one PostgreSQL: 1, 2, 4, 8 worker processes, each in a
network namespace of its own.

Each "host" is a Linux network namespace holding only its loopback and one end of a veth pair;
the other end is on a bridge in the root namespace, where the database listens. The database
is a PostgreSQL cluster the benchmark creates for itself (``initdb`` in a temporary folder,
listening on 127.0.0.1 and the bridge, ``trust`` for the bridge's /24 only) and removes
afterwards: the shared server of the machine is never reconfigured or restarted
(``listen_addresses`` can only change with a restart).

For each worker count, in increasing order, the fleet grows to that many workers (``pgflow
run-worker --concurrency 10``; no-op handlers of a 3-step chain that append one line per
execution to a file of their process), they register, then one ``start_many`` makes that
point's runs visible at once. Reported per count, over that point's runs only:

- tasks/s, from the database's own clock: tasks / (last ``completed_at`` - first
  ``started_at``), and its ratio to pgbench TPC-B (4 clients) of the same cluster, run before
  and after the points (mean of the two);
- connections per worker host: the most ``pg_stat_activity`` rows seen at once from one
  host's address while it worked, by ``application_name``;
- the CPU the database processes and the workers used during the drain, in cores;
- executions: every handler call of every worker, and how many tasks ran more than once.

Needs root (``ip netns``, ``ip link``), ``iproute2`` and the PostgreSQL server binaries
(``initdb``, ``pg_ctl``; Debian's are found in ``/usr/lib/postgresql/*/bin``). Namespaces,
links, workers and the cluster are removed at the end, also after an error or Ctrl-C.

    sudo .venv/bin/python bench/bench_hosts.py            # --quick (default): about 1.5 min
    sudo .venv/bin/python bench/bench_hosts.py --long     # 6,000 runs per point
    .venv/bin/python bench/bench_hosts.py --counts 1,2 --runs 500 --json
"""

from __future__ import annotations

import argparse
import contextlib
import glob
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _pgbench import BenchError, Pgbench

from pgflow_yaml import core
from pgflow_yaml.client import Client
from pgflow_yaml.worker.service import prepare

RESULTS = Path(__file__).resolve().parent / "results"
TEMPLATE = "hosts_template"  # the core and the flow, installed once, copied for each point
CONCURRENCY = 10

HANDLERS = """
import os

_out = None


def noop(input, ctx):
    global _out
    if _out is None:  # one line per execution, appended at once (O_APPEND: whole lines)
        path = os.path.join(os.environ["BENCH_RECORD_DIR"], f"executions.{os.getpid()}")
        _out = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    os.write(_out, f"{ctx.run_id} {ctx.step_slug} {ctx.task_index}\\n".encode())
    return 1
"""

FLOW = """slug: hosts_chain
steps:
  - {slug: a, handler: "hosts_steps:noop"}
  - {slug: b, handler: "hosts_steps:noop", depends_on: [a]}
  - {slug: c, handler: "hosts_steps:noop", depends_on: [b]}
"""


def run(*cmd: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    """Run a command, raising ``BenchError`` with its stderr when it fails (``check``)."""
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if check and done.returncode != 0:
        raise BenchError(f"{' '.join(cmd)} failed: {done.stderr.strip()}")
    return done


def pg_bindir() -> Path:
    """Return the folder of ``initdb`` and ``pg_ctl``: PATH, else Debian's newest."""
    found = shutil.which("pg_ctl")
    if found and shutil.which("initdb"):
        return Path(os.path.realpath(found)).parent
    for folder in sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True):
        if Path(folder, "initdb").exists():
            return Path(folder)
    raise BenchError("no initdb/pg_ctl found (install the PostgreSQL server package)")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# -- the network -----------------------------------------------------------------------------


@dataclass
class Network:
    """A bridge in the root namespace and one namespace per worker host, each on a veth pair."""

    tag: str
    subnet: str  # "10.213.X" : the bridge is .1, host i is .(10 + i)
    namespaces: list[str] = field(default_factory=list)
    bridge_up: bool = False

    @property
    def bridge(self) -> str:
        return f"pgfb{self.tag}"

    @property
    def server_ip(self) -> str:
        return f"{self.subnet}.1"

    def host_ip(self, i: int) -> str:
        return f"{self.subnet}.{10 + i}"

    def namespace(self, i: int) -> str:
        return f"pgflow-bench-{self.tag}-{i}"

    def create_bridge(self) -> None:
        run("ip", "link", "add", self.bridge, "type", "bridge")
        self.bridge_up = True
        run("ip", "addr", "add", f"{self.server_ip}/24", "dev", self.bridge)
        run("ip", "link", "set", self.bridge, "up")

    def add_host(self, i: int) -> str:
        """Create host ``i``: its namespace (loopback up) and a veth pair to the bridge."""
        ns = self.namespace(i)
        outer, inner = f"pgfb{self.tag}v{i}", f"pgfb{self.tag}p{i}"
        run("ip", "netns", "add", ns)
        self.namespaces.append(ns)
        run("ip", "link", "add", outer, "type", "veth", "peer", "name", inner)
        run("ip", "link", "set", inner, "netns", ns)
        run("ip", "link", "set", outer, "master", self.bridge)
        run("ip", "link", "set", outer, "up")
        inside = ("ip", "netns", "exec", ns, "ip")
        run(*inside, "link", "set", "lo", "up")
        run(*inside, "link", "set", inner, "name", "eth0")
        run(*inside, "addr", "add", f"{self.host_ip(i)}/24", "dev", "eth0")
        run(*inside, "link", "set", "eth0", "up")
        return ns

    def tear_down(self) -> None:
        """Delete every namespace (their veth pairs go with them) and the bridge."""
        for ns in self.namespaces:
            run("ip", "netns", "del", ns, check=False)
        self.namespaces.clear()
        if self.bridge_up:
            run("ip", "link", "del", self.bridge, check=False)
            self.bridge_up = False


# -- the database --------------------------------------------------------------------------


@contextlib.contextmanager
def own_cluster(net: Network, keep_log: Path) -> Iterator[tuple[str, int]]:
    """Create, start, then stop and remove a PostgreSQL cluster listening on the bridge.

    Yields the DSN of its ``postgres`` database (through 127.0.0.1) and the postmaster's pid.
    """
    bindir = pg_bindir()
    folder = Path(tempfile.mkdtemp(prefix="pgflow-bench-hosts-"))
    data = folder / "data"
    port = free_port()
    as_postgres: tuple[str, ...] = ("runuser", "-u", "postgres", "--") if os.geteuid() == 0 else ()
    if as_postgres:
        shutil.chown(folder, "postgres")
    started = False
    try:
        run(
            *as_postgres,
            str(bindir / "initdb"),
            "-D",
            str(data),
            "-U",
            "postgres",
            "--auth=trust",
            "-E",
            "UTF8",
            "--no-sync",
        )
        with (data / "postgresql.conf").open("a") as conf:
            conf.write(
                f"\nlisten_addresses = '127.0.0.1,{net.server_ip}'\nport = {port}\n"
                f"unix_socket_directories = '{folder}'\nmax_connections = 200\n"
                "shared_buffers = 128MB\n"
            )
        with (data / "pg_hba.conf").open("a") as hba:
            hba.write(f"host all all {net.subnet}.0/24 trust\n")
        log = folder / "server.log"
        run(*as_postgres, str(bindir / "pg_ctl"), "-D", str(data), "-l", str(log), "-w", "start")
        started = True
        pid = int((data / "postmaster.pid").read_text().split()[0])
        yield f"postgresql://postgres@127.0.0.1:{port}/postgres", pid
    finally:
        if started:
            run(
                *as_postgres,
                str(bindir / "pg_ctl"),
                "-D",
                str(data),
                "-m",
                "fast",
                "-w",
                "stop",
                check=False,
            )
            with contextlib.suppress(OSError):
                shutil.copy(folder / "server.log", keep_log)
        shutil.rmtree(folder, ignore_errors=True)


@contextlib.contextmanager
def pgbouncer(net: Network, server_url: str, pool_size: int, folder: Path) -> Iterator[int]:
    """Run a transaction-mode PgBouncer on the bridge in front of the cluster; yield its port."""
    from psycopg.conninfo import conninfo_to_dict

    binary = shutil.which("pgbouncer") or "/usr/sbin/pgbouncer"
    if not os.access(binary, os.X_OK):
        raise BenchError("--pgbouncer needs the pgbouncer binary (apt-get install pgbouncer)")
    server = conninfo_to_dict(server_url)
    port = free_port()
    users = folder / "pgbouncer-users.txt"
    users.write_text('"postgres" ""\n')
    ini = folder / "pgbouncer.ini"
    ini.write_text(
        f"[databases]\n* = host=127.0.0.1 port={server['port']}\n[pgbouncer]\n"
        f"listen_addr = {net.server_ip}\nlisten_port = {port}\nunix_socket_dir =\n"
        f"auth_type = trust\nauth_file = {users}\npool_mode = transaction\n"
        f"default_pool_size = {pool_size}\nmax_client_conn = 1000\n"
        "ignore_startup_parameters = extra_float_digits,options\n"
    )
    argv = [binary, *(["-u", "nobody"] if os.geteuid() == 0 else []), str(ini)]
    log = (folder / "pgbouncer.log").open("wb")
    proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 15
        while True:
            with contextlib.suppress(OSError), socket.create_connection((net.server_ip, port), 1):
                break
            if proc.poll() is not None or time.monotonic() > deadline:
                raise BenchError(
                    "pgbouncer did not start: " + (folder / "pgbouncer.log").read_text()
                )
            time.sleep(0.1)
        yield port
    finally:
        proc.terminate()
        proc.wait(10)
        log.close()


def dsn_at(url: str, host: str, dbname: str, port: int | None = None) -> str:
    from psycopg.conninfo import conninfo_to_dict, make_conninfo

    params = conninfo_to_dict(url)
    params.update(host=host, dbname=dbname)
    if port is not None:
        params["port"] = str(port)
    return make_conninfo("", **params)


def cpu_seconds(pids: list[int]) -> dict[int, float]:
    """Return user + system CPU seconds of each live process."""
    tick = os.sysconf("SC_CLK_TCK")
    found = {}
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        found[pid] = (int(fields[11]) + int(fields[12])) / tick
    return found


def children(pid: int) -> list[int]:
    """Return the pids of a process's children (the postmaster's backends and helpers)."""
    kids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(stat[1]) == pid:
                kids.append(int(entry.name))
    return kids


# -- one point -------------------------------------------------------------------------------


@dataclass
class Point:
    workers: int
    runs: int
    tasks: int
    seconds: float
    tasks_per_s: float
    connections_per_host: int
    connections_by_name: dict[str, int]
    server_connections: int
    db_cpu_cores: float
    worker_cpu_cores: float
    executions: int
    tasks_run_twice: int
    tasks_never_run: int
    tasks_attempted_twice: int
    executions_per_worker: list[int]
    ratio_tpcb: float = 0.0


def start_worker(
    ns: str, folder: Path, dsn: str, record_dir: Path, log: Path, extra: tuple[str, ...] = ()
) -> subprocess.Popen[bytes]:
    env = dict(os.environ, BENCH_RECORD_DIR=str(record_dir), PYTHONUNBUFFERED="1")
    with log.open("wb") as out:
        return subprocess.Popen(
            [
                "ip",
                "netns",
                "exec",
                ns,
                sys.executable,
                "-m",
                "pgflow_yaml",
                "run-worker",
                str(folder),
                "--dsn",
                dsn,
                "--concurrency",
                str(CONCURRENCY),
                "--log-format",
                "json",
                "--log-level",
                "warning",
                *extra,
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=folder,
            env=env,
        )


@dataclass
class Fleet:
    """The worker processes started so far (host ``i`` runs in namespace ``i``)."""

    net: Network
    folder: Path
    dsn: str  # what the workers connect to (the bridge address; PgBouncer's with --pgbouncer)
    extra: tuple[str, ...]
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def grow(self, count: int, watch: psycopg.Connection[Any]) -> None:
        """Start workers until ``count`` run; wait until all of them are registered."""
        while len(self.procs) < count:
            i = len(self.procs)
            log = self.folder / f"worker-{i}.log"
            self.procs.append(
                start_worker(
                    self.net.namespace(i), self.folder, self.dsn, self.folder, log, self.extra
                )
            )
        deadline = time.monotonic() + 120
        while True:
            row = watch.execute(
                "select count(*) from pgflow.workers where stopped_at is null"
            ).fetchone()
            if row and row[0] >= count:
                return
            dead = [i for i, p in enumerate(self.procs) if p.poll() is not None]
            if dead or time.monotonic() > deadline:
                log = self.folder / f"worker-{dead[0] if dead else 0}.log"
                raise BenchError("a worker did not start:\n" + log.read_text()[-2000:])
            time.sleep(0.1)

    def stop(self) -> None:
        """Stop every worker with SIGTERM (killed if it does not exit within a minute)."""
        for proc in self.procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.procs:
            try:
                proc.wait(60)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)


def executions_of(folder: Path, run_ids: set[str]) -> tuple[Counter[str], list[int]]:
    """Return how often each task of these runs was executed, and the executions per worker."""
    done: Counter[str] = Counter()
    per_worker = []
    for path in sorted(folder.glob("executions.*")):
        lines = [line for line in path.read_text().splitlines() if line.split()[0] in run_ids]
        per_worker.append(len(lines))
        done.update(lines)
    return done, per_worker


def measure(count: int, runs: int, fleet: Fleet, local: str, postmaster: int) -> Point:
    """Grow the fleet to ``count`` workers, drain ``runs`` new chains, return the figures."""
    net = fleet.net
    with psycopg.connect(local, autocommit=True) as watch, Client(local) as client:
        fleet.grow(count, watch)
        time.sleep(0.5)  # every worker idle and listening
        watched = [p.pid for p in fleet.procs]
        db_before, w_before = cpu_seconds(children(postmaster)), cpu_seconds(watched)
        wall = time.monotonic()
        ids = client.start_many("hosts_chain", [{"i": i} for i in range(runs)])
        most: Counter[str] = Counter()
        by_name: dict[str, int] = {}
        server_most = 0
        host_ips = {net.host_ip(i) for i in range(count)}
        while True:
            rows = watch.execute(
                "select host(client_addr), application_name, count(*)"
                " from pg_stat_activity where datname = current_database()"
                " and client_addr is not null and application_name <> 'bench-hosts'"
                " group by 1, 2"
            ).fetchall()
            per_host: Counter[str] = Counter()
            names: dict[str, Counter[str]] = {}
            server_most = max(server_most, sum(n for _, _, n in rows))
            for addr, name, n in rows:
                if addr in host_ips:
                    per_host[addr] += n
                    names.setdefault(addr, Counter())[name] += n
            for addr, n in per_host.items():
                if n > most[addr]:
                    most[addr] = n
                    by_name = dict(sorted(names[addr].items()))
            left = watch.execute(
                "select count(*) from pgflow.runs where run_id = any(%s::uuid[])"
                " and status not in ('completed', 'failed')",
                (ids,),
            ).fetchone()
            if left and left[0] == 0:
                break
            if any(p.poll() is not None for p in fleet.procs):
                raise BenchError("a worker exited during the drain")
            time.sleep(0.25)
        wall = time.monotonic() - wall
        db_after = cpu_seconds(children(postmaster))
        w_after = cpu_seconds(watched)
        span = watch.execute(
            "select count(*), extract(epoch from max(completed_at) - min(started_at)),"
            " count(*) filter (where attempts_count > 1)"
            " from pgflow.step_tasks where run_id = any(%s::uuid[])",
            (ids,),
        ).fetchone()
        assert span is not None
        failed = watch.execute(
            "select count(*) from pgflow.runs where run_id = any(%s::uuid[])"
            " and status <> 'completed'",
            (ids,),
        ).fetchone()
        if failed and failed[0]:
            raise BenchError(f"{failed[0]} runs did not complete")
    done, per_worker = executions_of(fleet.folder, set(ids))
    tasks, seconds, attempts_twice = int(span[0]), float(span[1]), int(span[2])
    db_cpu = sum(v - db_before.get(pid, 0.0) for pid, v in db_after.items())
    w_cpu = sum(v - w_before.get(pid, 0.0) for pid, v in w_after.items())
    return Point(
        workers=count,
        runs=runs,
        tasks=tasks,
        seconds=round(seconds, 3),
        tasks_per_s=round(tasks / seconds, 1),
        connections_per_host=max(most.values()) if most else 0,
        connections_by_name=by_name,
        server_connections=server_most,
        db_cpu_cores=round(db_cpu / wall, 2),
        worker_cpu_cores=round(w_cpu / wall, 2),
        executions=sum(done.values()),
        tasks_run_twice=sum(1 for n in done.values() if n > 1),
        tasks_never_run=tasks - len(done),
        tasks_attempted_twice=attempts_twice,
        executions_per_worker=per_worker,
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--quick", action="store_true", help="1,000 runs per point (default)")
    mode.add_argument("--long", action="store_true", help="6,000 runs per point")
    parser.add_argument("--counts", default="1,2,4,8", help="worker processes per point")
    parser.add_argument("--runs", type=int, help="runs of the 3-step chain per point")
    parser.add_argument("--pgbench-seconds", type=int, default=3)
    parser.add_argument(
        "--pgbouncer",
        action="store_true",
        help="workers claim and report through a transaction-mode PgBouncer (LISTEN direct)",
    )
    parser.add_argument("--pool-size", type=int, default=10, help="PgBouncer's default_pool_size")
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    args = parser.parse_args()
    if os.geteuid() != 0:
        print("bench_hosts needs root: it creates network namespaces (ip netns)", file=sys.stderr)
        return 2
    if shutil.which("ip") is None:
        print("bench_hosts needs iproute2's `ip`", file=sys.stderr)
        return 2
    runs = args.runs or (6000 if args.long else 1000)
    counts = sorted({int(c) for c in args.counts.split(",")})  # the fleet only grows
    tag = str(os.getpid() % 100000)
    net = Network(tag=tag, subnet=f"10.213.{os.getpid() % 250 + 1}")
    workers: list[subprocess.Popen[bytes]] = []

    def interrupted(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    for signum in (signal.SIGTERM, signal.SIGHUP):  # tear down as on Ctrl-C
        signal.signal(signum, interrupted)
    RESULTS.mkdir(exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    points: list[Point] = []
    began = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="pgflow-bench-hosts-flows-") as tmp:
        folder = Path(tmp)
        os.chmod(folder, 0o755)
        (folder / "hosts_steps.py").write_text(HANDLERS)
        (folder / "hosts_chain.yaml").write_text(FLOW)
        try:
            net.create_bridge()
            for i in range(max(counts)):
                net.add_host(i)
            with contextlib.ExitStack() as stack:
                url, pm = stack.enter_context(
                    own_cluster(net, RESULTS / f"bench_hosts_{stamp}_server.log")
                )
                bouncer = None
                if args.pgbouncer:
                    bouncer = stack.enter_context(pgbouncer(net, url, args.pool_size, folder))
                with psycopg.connect(url, autocommit=True) as admin:
                    admin.execute(f"create database {TEMPLATE}")
                template = dsn_at(url, "127.0.0.1", TEMPLATE)
                with psycopg.connect(template, autocommit=True) as conn:
                    core.install(conn)
                prepare([folder / "hosts_chain.yaml"], template, apply=True)
                with psycopg.connect(url, autocommit=True) as admin:
                    admin.execute(f"create database hosts template {TEMPLATE}")
                local = dsn_at(url, "127.0.0.1", "hosts") + " application_name=bench-hosts"
                remote = dsn_at(url, net.server_ip, "hosts")
                extra: tuple[str, ...] = ()
                if bouncer is not None:  # claims and reports through PgBouncer, LISTEN direct
                    extra = ("--transaction-pooling", "--listen-dsn", remote)
                    remote = dsn_at(url, net.server_ip, "hosts", bouncer)
                fleet = Fleet(net, folder, remote, extra, workers)
                tpcb = stack.enter_context(Pgbench(url, clients=4))
                before = tpcb.run(args.pgbench_seconds).tps
                for count in counts:
                    points.append(measure(count, runs, fleet, local, pm))
                    print(
                        f"  {count} worker(s): {points[-1].tasks_per_s:,.0f} tasks/s"
                        f" ({time.monotonic() - began:.0f} s)",
                        file=sys.stderr,
                    )
                fleet.stop()
                after = tpcb.run(args.pgbench_seconds).tps
        finally:
            for proc in workers:
                if proc.poll() is None:
                    proc.kill()
                    proc.wait(10)
            net.tear_down()
    tpcb = (before + after) / 2
    for point in points:
        point.ratio_tpcb = round(point.tasks_per_s / tpcb, 3)
    result = {
        "benchmark": "bench_hosts",
        "cpus": os.cpu_count(),
        "concurrency_per_worker": CONCURRENCY,
        "runs_per_point": runs,
        "pgbouncer_pool_size": args.pool_size if args.pgbouncer else None,
        "pgbench_tpcb_tps": {"before": round(before, 1), "after": round(after, 1)},
        "points": [asdict(p) for p in points],
        "seconds": round(time.monotonic() - began, 1),
    }
    (RESULTS / f"bench_hosts_{stamp}.json").write_text(json.dumps(result, indent=2))
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    print(
        f"pgbench TPC-B (4 clients, same cluster): {before:,.0f} / {after:,.0f} TPS;"
        f" {os.cpu_count()} CPUs shared by the database and every worker"
    )
    if args.pgbouncer:
        print(f"through PgBouncer (transaction mode, pool size {args.pool_size}), LISTEN direct")
    print(
        "workers | tasks/s | / TPC-B | db CPU cores | worker CPU cores | conns/host"
        " | server conns | executions | run twice"
    )
    for p in points:
        print(
            f"{p.workers:7} | {p.tasks_per_s:7,.0f} | {p.ratio_tpcb:7.2f} | {p.db_cpu_cores:12.2f}"
            f" | {p.worker_cpu_cores:16.2f} | {p.connections_per_host:10}"
            f" | {p.server_connections:12} | {p.executions:10,} | {p.tasks_run_twice:9}"
        )
    if points:
        print("connections of one host, by application_name:", points[-1].connections_by_name)
        print(
            "tasks never run:",
            [p.tasks_never_run for p in points],
            "| tasks with more than one attempt in the database:",
            [p.tasks_attempted_twice for p in points],
            "| executions per worker at the largest count:",
            points[-1].executions_per_worker,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
