"""A cluster of real processes on one machine (issue 16): PostgreSQL and Redis on 127.0.0.1, N servers
(`python -m bot serve` on ports P, P+1, ...) and nginx in front as the load balancer.

    python -m tools.cluster start [--processes 2] [--port 5005] [--proxy-port 8080] [--dir var/cluster]
    python -m tools.cluster stop [--dir var/cluster]

`make cluster` and `make cluster-stop` run these; tests/test_cluster.py starts the same PostgreSQL,
Redis and nginx (the classes below) on free ports under its own directory. Not imported by the product.

Rasa's tracker store and the product's own store go to PostgreSQL (DATABASE_URL; docs/store.md) and
Rasa's lock store to Redis (LOCK_STORE_URL), as in tests/test_cluster.py: nothing the processes share
is a file, so they could run on several hosts. AIGUILLAGE_STORE=sqlite keeps the product's store in ONE
SQLite file (AIGUILLAGE_DB) shared by the processes of this host instead.
The local PostgreSQL trusts connections from 127.0.0.1 without a password (a development cluster):
on separate hosts, see docs/operations.md "Several processes".
"""

from __future__ import annotations

import argparse
import getpass
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PG_BIN = Path(os.environ.get("AIGUILLAGE_PG_BIN", "/usr/lib/postgresql/15/bin"))
REDIS = shutil.which("redis-server") or "/usr/bin/redis-server"
NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
DEPLOY = ROOT / "deploy" / "nginx.conf"
PG_USER = PG_DB = "aiguillage"
# Rasa's ticket lock lifetime (its own variable): a process killed during a turn leaves that turn's
# ticket in Redis, and the conversation's next turn waits until it expires (Rasa's default: 60 s). A
# turn takes well under a second; past this lifetime a slow turn no longer holds the conversation.
TICKET_LOCK_LIFETIME_S = "15"


class ClusterError(RuntimeError):
    """A part of the cluster could not start."""


def missing() -> list[str]:
    """The binaries this machine lacks (Debian: postgresql-15, redis-server, nginx)."""
    wanted = {"PostgreSQL 15 (postgresql-15)": PG_BIN / "pg_ctl", "Redis (redis-server)": Path(REDIS), "nginx": Path(NGINX)}
    return [name for name, path in wanted.items() if not path.exists()]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port: int, seconds: float, proc: subprocess.Popen | None = None, what: str = "") -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise ClusterError(f"{what} exited with {proc.returncode}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.1)
    raise ClusterError(f"{what} did not listen on 127.0.0.1:{port} within {seconds:.0f} s")


def _as_postgres() -> list[str]:
    """PostgreSQL refuses to run as root: as root, its commands run as the `postgres` user."""
    return ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []


class Postgres:
    """A PostgreSQL 15 cluster of its own (initdb) in `data`, on 127.0.0.1:`port`, TCP only."""

    def __init__(self, data: Path, port: int, settings: dict[str, str] | None = None):
        """`settings`: more server settings (`-c name=value`), e.g. {"log_min_duration_statement": "0"}
        to log every round trip (bench/pg_trips.py)."""
        self.data, self.port, self.settings = Path(data), port, dict(settings or {})
        self.log = self.data.parent / "postgres.log"
        self.url = f"postgresql://{PG_USER}@127.0.0.1:{port}/{PG_DB}"

    def _run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        done = subprocess.run([*_as_postgres(), *args], capture_output=True, text=True)
        if check and done.returncode != 0:
            raise ClusterError(f"{' '.join(args[:2])} failed: {done.stderr.strip() or done.stdout.strip()}")
        return done

    def start(self) -> str:
        if not (self.data / "PG_VERSION").exists():
            self.data.mkdir(parents=True, exist_ok=True)
            self.data.chmod(0o700)
            if os.geteuid() == 0:
                shutil.chown(self.data, "postgres", "postgres")
            self._run(str(PG_BIN / "initdb"), "-D", str(self.data), "-U", PG_USER, "--auth=trust", "-E", "UTF8", "--no-sync")
        self.log.touch()
        if os.geteuid() == 0:
            shutil.chown(self.log, "postgres", "postgres")
        options = f"-p {self.port} -c listen_addresses=127.0.0.1 -c unix_socket_directories='' -c fsync=on"
        options += "".join(f" -c {name}={value}" for name, value in self.settings.items())
        self._run(str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-l", str(self.log), "-o", options, "-w", "-t", "60", "start")
        exists = self._run(
            str(PG_BIN / "psql"), "-h", "127.0.0.1", "-p", str(self.port), "-U", PG_USER, "-d", "postgres", "-tAc",
            f"select 1 from pg_database where datname = '{PG_DB}'",
        )  # fmt: skip
        if exists.stdout.strip() != "1":
            self._run(str(PG_BIN / "createdb"), "-h", "127.0.0.1", "-p", str(self.port), "-U", PG_USER, PG_DB)
        return self.url

    def stop(self) -> None:
        self._run(str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "stop", check=False)

    def restart(self) -> None:
        """`pg_ctl restart` in fast mode (the clients' connections are cut), with the same options."""
        self._run(str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-l", str(self.log), "-m", "fast", "-w", "-t", "60", "restart")

    def query(self, sql: str) -> list[list[str]]:
        """Rows of a query through psql (tab-separated fields): what a test reads back."""
        done = self._run(
            str(PG_BIN / "psql"), "-h", "127.0.0.1", "-p", str(self.port), "-U", PG_USER, "-d", PG_DB,
            "-tA", "-F", "\t", "-c", sql,
        )  # fmt: skip
        return [line.split("\t") for line in done.stdout.splitlines() if line]


class Redis:
    """A Redis server on 127.0.0.1:`port`, its files in `directory`, nothing saved to disk."""

    def __init__(self, directory: Path, port: int):
        self.dir, self.port, self.proc = Path(directory), port, None
        self.url = f"redis://127.0.0.1:{port}/1"

    def start(self) -> str:
        self.dir.mkdir(parents=True, exist_ok=True)
        cmd = [REDIS, "--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.dir), "--save", "", "--appendonly", "no"]
        with open(self.dir / "redis.log", "ab") as log:
            self.proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        (self.dir / "redis.pid").write_text(str(self.proc.pid))
        wait_port(self.port, 30, self.proc, "redis-server")
        return self.url

    def stop(self) -> None:
        _stop_pidfile(self.dir / "redis.pid", self.proc)


def site_config(upstream_ports: list[int], listen_port: int) -> str:
    """deploy/nginx.conf as shipped, but for the listen address and the upstream's servers."""
    site = DEPLOY.read_text()
    servers = "".join(f"    server 127.0.0.1:{p};\n" for p in upstream_ports)
    swaps = {
        "    server 127.0.0.1:5005;\n": servers,
        "    listen 80;\n    listen [::]:80;\n": f"    listen 127.0.0.1:{listen_port};\n",
    }
    for old, new in swaps.items():
        if site.count(old) != 1:
            raise ClusterError(f"deploy/nginx.conf no longer has {old!r}")
        site = site.replace(old, new)
    return site


class Nginx:
    """nginx with deploy/nginx.conf in front of `upstream_ports`, listening on 127.0.0.1:`port`."""

    def __init__(self, directory: Path, port: int, upstream_ports: list[int]):
        self.dir, self.port, self.upstream, self.proc = Path(directory), port, upstream_ports, None
        self.url = f"http://127.0.0.1:{port}"

    def start(self) -> str:
        tmp = self.dir
        for d in ("body", "proxy", "fastcgi", "uwsgi", "scgi"):
            (tmp / d).mkdir(parents=True, exist_ok=True)
        conf = tmp / "nginx.conf"
        conf.write_text(
            f"""user {getpass.getuser()};
worker_processes 1;
pid {tmp}/nginx.pid;
error_log {tmp}/error.log warn;
events {{ worker_connections 512; }}
http {{
    include /etc/nginx/mime.types;
    access_log {tmp}/access.log;
    client_body_temp_path {tmp}/body;
    proxy_temp_path {tmp}/proxy;
    fastcgi_temp_path {tmp}/fastcgi;
    uwsgi_temp_path {tmp}/uwsgi;
    scgi_temp_path {tmp}/scgi;
{site_config(self.upstream, self.port)}
}}
"""
        )
        base = [NGINX, "-c", str(conf), "-p", str(tmp), "-e", str(tmp / "error.log")]
        check = subprocess.run([*base, "-t"], capture_output=True, text=True)
        if check.returncode != 0:
            raise ClusterError(f"nginx -t: {check.stderr}")
        self.proc = subprocess.Popen(
            [*base, "-g", "daemon off;"], stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT, start_new_session=True
        )
        (tmp / "nginx.main.pid").write_text(str(self.proc.pid))
        wait_port(self.port, 30, self.proc, "nginx")
        return self.url

    def stop(self) -> None:
        _stop_pidfile(self.dir / "nginx.main.pid", self.proc)


def _stop_pidfile(pidfile: Path, proc: subprocess.Popen | None, seconds: float = 20) -> None:
    """SIGTERM to the process this tool started (its pid recorded at start), SIGKILL after `seconds`."""
    if proc is not None:
        proc.terminate()
        try:
            proc.wait(timeout=seconds)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        pidfile.unlink(missing_ok=True)
        return
    if not pidfile.exists():
        return
    pid = int(pidfile.read_text())
    try:
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            os.kill(pid, 0)
            time.sleep(0.2)
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    pidfile.unlink(missing_ok=True)


def server_env(port: int, db: Path, database_url: str | None, lock_url: str | None, base: dict | None = None) -> dict:
    """The environment of one server process of the cluster (None: that part stays on SQLite / in memory)."""
    env = dict(os.environ if base is None else base)
    for name, value in (("DATABASE_URL", database_url), ("LOCK_STORE_URL", lock_url)):
        env.pop(name, None)
        if value is not None:
            env[name] = value
    env.update(
        PORT=str(port),
        AIGUILLAGE_DB=str(db),
        AIGUILLAGE_TRUSTED_PROXIES="127.0.0.1,::1",  # nginx, on this host
        TICKET_LOCK_LIFETIME=env.get("TICKET_LOCK_LIFETIME") or TICKET_LOCK_LIFETIME_S,
        RASA_TELEMETRY_ENABLED="false",
        SQLALCHEMY_SILENCE_UBER_WARNING="1",
    )
    return env


def start_server(port: int, env: dict, log: Path) -> subprocess.Popen:
    """One server process (`python -m bot serve`) on 127.0.0.1:`port`, its output in `log`."""
    cmd = [sys.executable, "-m", "bot", "serve", "--model", str(ROOT / "models" / "aiguillage.tar.gz"),
           "--interface", "127.0.0.1", "--port", str(port), "--credentials", "credentials.yml", "--endpoints", "endpoints.yml"]  # fmt: skip
    with open(log, "ab") as out:
        return subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)


def wait_server(port: int, seconds: float = 300, proc: subprocess.Popen | None = None) -> None:
    """Until the server on `port` answers /chat/config (the model loads in 15 to 40 s)."""
    deadline = time.monotonic() + seconds
    while True:
        if proc is not None and proc.poll() is not None:
            raise ClusterError(f"the server on port {port} exited with {proc.returncode}")
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/chat/config", timeout=2)
            return
        except OSError:
            if time.monotonic() > deadline:
                raise ClusterError(f"the server on port {port} did not answer within {seconds:.0f} s") from None
            time.sleep(1)


def start(directory: Path, processes: int, port: int, proxy_port: int) -> None:
    absent = missing()
    if absent:
        raise ClusterError(f"not installed: {', '.join(absent)} (make postgres redis nginx)")
    directory.mkdir(parents=True, exist_ok=True)
    pg = Postgres(directory / "postgres", int(os.environ.get("CLUSTER_PG_PORT", "5433")))
    database_url = pg.start()
    lock_url = Redis(directory / "redis", int(os.environ.get("CLUSTER_REDIS_PORT", "6380"))).start()
    db = Path(os.environ.get("AIGUILLAGE_DB") or ROOT / "var" / "aiguillage.db")
    ports = [port + i for i in range(processes)]
    for p in ports:
        proc = start_server(p, server_env(p, db, database_url, lock_url), directory / f"server-{p}.log")
        (directory / f"server-{p}.pid").write_text(str(proc.pid))
    for p in ports:
        try:
            wait_server(p)
        except ClusterError as exc:
            raise ClusterError(f"{exc}: see {directory}/server-{p}.log") from None
    proxy = Nginx(directory / "nginx", proxy_port, ports).start()
    print(f"PostgreSQL {database_url}\nRedis {lock_url}\nservers: {', '.join(map(str, ports))} (store {db})")
    print(f"nginx: {proxy}/chat/   stop: make cluster-stop")


def stop(directory: Path) -> None:
    for pidfile in sorted(directory.glob("server-*.pid")):
        _stop_pidfile(pidfile, None)
    _stop_pidfile(directory / "nginx" / "nginx.main.pid", None)
    _stop_pidfile(directory / "redis" / "redis.pid", None)
    if (directory / "postgres" / "PG_VERSION").exists():
        Postgres(directory / "postgres", 0).stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.cluster", description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=["start", "stop"])
    parser.add_argument("--dir", default=str(ROOT / "var" / "cluster"), help="data, logs and pids (default var/cluster)")
    parser.add_argument("--processes", type=int, default=2, help="server processes (default 2)")
    parser.add_argument("--port", type=int, default=5005, help="the first server's port (then +1, +2, ...)")
    parser.add_argument("--proxy-port", type=int, default=8080, help="nginx's port on 127.0.0.1")
    args = parser.parse_args(argv)
    try:
        if args.command == "start":
            start(Path(args.dir).resolve(), args.processes, args.port, args.proxy_port)
        else:
            stop(Path(args.dir).resolve())
    except ClusterError as exc:
        print(f"cluster: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
