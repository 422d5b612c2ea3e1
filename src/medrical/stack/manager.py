"""Bringing the local stack up and down, in order, each service behind a real health check."""

from __future__ import annotations

import base64
import contextlib
import logging
import os
import pwd
import secrets
import shutil
import socket
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from medrical.config import LOOPBACK, StackSettings
from medrical.errors import StackError
from medrical.stack import fetch, process, rendering
from medrical.stack.java import JavaRuntime, find_java
from medrical.stack.layout import SERVICES, StackLayout

log = logging.getLogger(__name__)

POSTGRES_USER = "medrical"
DATABASES = ("medrical", "registry")
START_TIMEOUT_S = {"postgres": 60.0, "kafka": 120.0, "registry": 180.0, "connect": 240.0}


@dataclass(frozen=True)
class ServiceStatus:
    name: str
    address: str
    pid: int | None
    healthy: bool
    detail: str
    resident_mib: float | None


def _ports(settings: StackSettings) -> dict[str, list[int]]:
    return {
        "postgres": [settings.postgres_port],
        "kafka": [settings.kafka_port, settings.controller_port],
        "registry": [settings.registry_port, settings.registry_management_port],
        "connect": [settings.connect_port],
    }


def address(settings: StackSettings, service: str) -> str:
    return {
        "postgres": f"postgresql://{LOOPBACK}:{settings.postgres_port}/medrical",
        "kafka": f"{LOOPBACK}:{settings.kafka_port}",
        "registry": f"http://{LOOPBACK}:{settings.registry_port}/apis/ccompat/v7",
        "connect": f"http://{LOOPBACK}:{settings.connect_port}",
    }[service]


# --- health checks: each returns a short detail when healthy, raises otherwise ----------------


def _postgres_password(layout: StackLayout) -> str:
    return layout.postgres_password_file.read_text(encoding="utf-8").strip()


def check_postgres(settings: StackSettings, layout: StackLayout) -> str:
    import psycopg

    with psycopg.connect(
        host=LOOPBACK,
        port=settings.postgres_port,
        user=POSTGRES_USER,
        password=_postgres_password(layout),
        dbname="postgres",
        connect_timeout=3,
    ) as conn:
        version = conn.execute("SHOW server_version").fetchone()
    return f"PostgreSQL {version[0] if version else '?'}"


def check_kafka(settings: StackSettings) -> str:
    from confluent_kafka.admin import AdminClient

    quiet = logging.getLogger("medrical.stack.librdkafka")
    quiet.setLevel(logging.CRITICAL)
    conf: dict[str, Any] = {"bootstrap.servers": f"{LOOPBACK}:{settings.kafka_port}"}
    conf["logger"] = quiet  # librdkafka's connection-refused noise while the broker starts
    admin = AdminClient(conf)
    metadata = admin.list_topics(timeout=3)
    return f"{len(metadata.brokers)} broker(s), {len(metadata.topics)} topic(s)"


def check_registry(settings: StackSettings) -> str:
    url = f"http://{LOOPBACK}:{settings.registry_port}/apis/ccompat/v7/subjects"
    response = httpx.get(url, timeout=3)
    response.raise_for_status()
    return f"{len(response.json())} subject(s)"


def check_connect(settings: StackSettings) -> str:
    base = f"http://{LOOPBACK}:{settings.connect_port}"
    response = httpx.get(f"{base}/connector-plugins", timeout=5)
    response.raise_for_status()
    classes = {plugin["class"] for plugin in response.json()}
    if fetch.JDBC_SINK_CLASS not in classes:
        raise StackError(f"Connect is up but does not list {fetch.JDBC_SINK_CLASS}")
    version = httpx.get(base, timeout=3).json().get("version", "?")
    return f"Kafka Connect {version}, JDBC sink plugin loaded"


def _health(settings: StackSettings, layout: StackLayout, service: str) -> str:
    if service == "postgres":
        return check_postgres(settings, layout)
    if service == "kafka":
        return check_kafka(settings)
    if service == "registry":
        return check_registry(settings)
    return check_connect(settings)


# --- the stack ---------------------------------------------------------------------------------


class LocalStack:
    def __init__(self, settings: StackSettings) -> None:
        self.settings = settings
        self.layout = StackLayout.of(settings)

    # status ------------------------------------------------------------------------------------

    def status(self) -> list[ServiceStatus]:
        result = []
        for service in SERVICES:
            tracked = process.running(self.layout.pid_file(service))
            healthy, detail = False, "not running"
            if tracked is not None:
                try:
                    detail = _health(self.settings, self.layout, service)
                    healthy = True
                except Exception as exc:  # a health probe may fail in many ways
                    detail = f"running, not answering: {_short(exc)}"
            result.append(
                ServiceStatus(
                    service,
                    address(self.settings, service),
                    tracked.pid if tracked else None,
                    healthy,
                    detail,
                    tracked.resident_mib() if tracked else None,
                )
            )
        return result

    def is_running(self) -> bool:
        return any(process.running(self.layout.pid_file(s)) for s in SERVICES)

    # up ------------------------------------------------------------------------------------------

    def up(self, report: Callable[[str], None] = log.info) -> dict[str, float]:
        """Start every service that is not running; return seconds each took to be healthy."""
        engines = fetch.fetch_engines(self.settings.cache_dir)
        java = find_java(self.settings.java_home)
        self._prepare_dirs()
        timings: dict[str, float] = {}
        for service in SERVICES:
            if process.running(self.layout.pid_file(service)):
                report(f"{service:<9} already running at {address(self.settings, service)}")
                continue
            self._check_ports_free(service)
            started = time.monotonic()
            starter = getattr(self, f"_start_{service}")
            child = starter(engines, java)
            self._wait_healthy(service, child)
            timings[service] = time.monotonic() - started
            report(
                f"{service:<9} up at {address(self.settings, service)} ({timings[service]:.1f} s)"
            )
        return timings

    def _prepare_dirs(self) -> None:
        for folder in (self.layout.etc, self.layout.run, self.layout.logs, self.layout.data):
            folder.mkdir(parents=True, exist_ok=True)
        self.layout.secrets.mkdir(parents=True, exist_ok=True)
        self.layout.secrets.chmod(0o700)
        if not self.layout.postgres_password_file.exists():
            _write_private(self.layout.postgres_password_file, secrets.token_urlsafe(24) + "\n")
        password = _postgres_password(self.layout)
        _write_private(self.layout.connect_secrets_file, f"postgres.password={password}\n")

    def _check_ports_free(self, service: str) -> None:
        for port in _ports(self.settings)[service]:
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
                probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                try:
                    probe.bind((LOOPBACK, port))
                except OSError:
                    field = _port_setting(self.settings, port)
                    raise StackError(
                        f"port {port} on {LOOPBACK}, needed by {service}, is already in use "
                        "by another program.",
                        hint=f"Stop that program, or choose another port with "
                        f"MEDRICAL_STACK__{field.upper()}=<port>.",
                    ) from None

    def _wait_healthy(self, service: str, child: subprocess.Popen[bytes]) -> None:
        deadline = time.monotonic() + START_TIMEOUT_S[service]
        last_error = ""
        while time.monotonic() < deadline:
            if child.poll() is not None:
                self.layout.pid_file(service).unlink(missing_ok=True)
                raise StackError(
                    f"{service} exited during start-up (exit code {child.returncode}).",
                    hint=f"Full log: {self.layout.log_file(service)}",
                    log_tail=process.tail(self.layout.log_file(service)),
                )
            try:
                _health(self.settings, self.layout, service)
                return
            except Exception as exc:  # not ready yet: keep polling until the deadline
                last_error = _short(exc)
            time.sleep(0.5)
        process.stop(self.layout.pid_file(service))
        raise StackError(
            f"{service} did not become healthy within {START_TIMEOUT_S[service]:.0f} s "
            f"(last check: {last_error}).",
            hint=f"Full log: {self.layout.log_file(service)}",
            log_tail=process.tail(self.layout.log_file(service)),
        )

    def _java_command(self, java: JavaRuntime, heap_mb: int, service: str) -> list[str]:
        log4j = self.layout.etc / f"log4j2-{service}.properties"
        log4j.write_text(rendering.log4j2_config(service), encoding="utf-8")
        return [
            str(java.executable),
            f"-Xms{heap_mb // 2}m",
            f"-Xmx{heap_mb}m",
            "-XX:+ExitOnOutOfMemoryError",
            "-XX:+UseSerialGC",
            "-Djava.awt.headless=true",
            f"-Dlog4j2.configurationFile={log4j}",
            f"-Dmedrical.stack.service={service}",
        ]

    # each service ------------------------------------------------------------------------------

    def _postgres_user(self) -> str | None:
        """PostgreSQL will not run as root; run it as the system's postgres user then."""
        if os.geteuid() != 0:
            return None
        for name in ("postgres", "nobody"):
            with contextlib.suppress(KeyError):
                pwd.getpwnam(name)
                return name
        raise StackError("running as root, and no unprivileged user to run PostgreSQL as.")

    def _start_postgres(self, _engines: Path, _java: JavaRuntime) -> subprocess.Popen[bytes]:
        bindir = _postgres_bindir()
        data = self.layout.data / "postgres"
        user = self._postgres_user()
        if not (data / "PG_VERSION").exists():
            self._initdb(bindir, data, user)
        return process.spawn(
            [
                str(bindir / "postgres"),
                "-D",
                str(data),
                "-c",
                f"listen_addresses={LOOPBACK}",
                "-c",
                f"port={self.settings.postgres_port}",
                "-c",
                "unix_socket_directories=",
                "-c",
                "max_connections=100",
                "-c",
                "shared_buffers=128MB",
                "-c",
                "fsync=on",
            ],
            pid_file=self.layout.pid_file("postgres"),
            log_file=self.layout.log_file("postgres"),
            user=user,
        )

    def _initdb(self, bindir: Path, data: Path, user: str | None) -> None:
        shutil.rmtree(data, ignore_errors=True)
        data.mkdir(parents=True)
        data.chmod(0o700)
        # initdb reads the superuser password from a file, never from its command line.
        pwfile = self.layout.data / ".initdb-pw"
        _write_private(pwfile, _postgres_password(self.layout) + "\n")
        if user is not None:
            entry = pwd.getpwnam(user)
            os.chown(data, entry.pw_uid, entry.pw_gid)
            os.chown(pwfile, entry.pw_uid, entry.pw_gid)
        try:
            result = subprocess.run(
                [
                    str(bindir / "initdb"),
                    "-D",
                    str(data),
                    "-U",
                    POSTGRES_USER,
                    f"--pwfile={pwfile}",
                    "--auth=scram-sha-256",
                    "-E",
                    "UTF8",
                    "--locale=C",
                ],
                capture_output=True,
                text=True,
                user=user,
                check=False,
            )
        finally:
            pwfile.unlink(missing_ok=True)
        if result.returncode != 0:
            raise StackError(
                "initdb could not create the PostgreSQL data folder.",
                log_tail=(result.stdout + result.stderr)[-2000:],
            )

    def _ensure_databases(self) -> None:
        import psycopg
        from psycopg import sql

        with psycopg.connect(
            host=LOOPBACK,
            port=self.settings.postgres_port,
            user=POSTGRES_USER,
            password=_postgres_password(self.layout),
            dbname="postgres",
            autocommit=True,
            connect_timeout=5,
        ) as conn:
            existing = {row[0] for row in conn.execute("SELECT datname FROM pg_database")}
            for name in DATABASES:
                if name not in existing:
                    conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))

    def _start_kafka(self, engines: Path, java: JavaRuntime) -> subprocess.Popen[bytes]:
        data = self.layout.data / "kafka"
        properties = self.layout.etc / "server.properties"
        properties.write_text(
            rendering.kafka_server_properties(self.settings, data), encoding="utf-8"
        )
        base = self._java_command(java, self.settings.kafka_heap_mb, "kafka")
        classpath = ["-cp", str(engines / "lib" / "*")]
        if not (data / "meta.properties").exists():
            cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).rstrip(b"=").decode()
            result = subprocess.run(
                [
                    *base[:1],
                    "-Xmx256m",
                    *classpath,
                    "kafka.tools.StorageTool",
                    "format",
                    "--standalone",
                    "--ignore-formatted",
                    "-t",
                    cluster_id,
                    "-c",
                    str(properties),
                ],
                capture_output=True,
                text=True,
                check=False,
            )
            if result.returncode != 0:
                raise StackError(
                    "Kafka's storage could not be formatted.",
                    log_tail=(result.stdout + result.stderr)[-2000:],
                )
        return process.spawn(
            [*base, *classpath, "kafka.Kafka", str(properties)],
            pid_file=self.layout.pid_file("kafka"),
            log_file=self.layout.log_file("kafka"),
        )

    def _start_registry(self, engines: Path, java: JavaRuntime) -> subprocess.Popen[bytes]:
        self._ensure_databases()
        props = rendering.registry_system_properties(self.settings, "registry")
        env = dict(os.environ)
        # Quarkus reads this from the environment, keeping the password off the command line.
        env["APICURIO_DATASOURCE_PASSWORD"] = _postgres_password(self.layout)
        return process.spawn(
            [
                *self._java_command(java, self.settings.registry_heap_mb, "registry"),
                *(f"-D{key}={value}" for key, value in props.items()),
                "-jar",
                str(engines / "apicurio" / "quarkus-run.jar"),
            ],
            pid_file=self.layout.pid_file("registry"),
            log_file=self.layout.log_file("registry"),
            env=env,
            cwd=self.layout.data,
        )

    def _start_connect(self, engines: Path, java: JavaRuntime) -> subprocess.Popen[bytes]:
        properties = self.layout.etc / "connect-distributed.properties"
        properties.write_text(
            rendering.connect_worker_properties(
                self.settings, engines / "plugins", self.layout.connect_secrets_file
            ),
            encoding="utf-8",
        )
        return process.spawn(
            [
                *self._java_command(java, self.settings.connect_heap_mb, "connect"),
                "-cp",
                str(engines / "lib" / "*"),
                "org.apache.kafka.connect.cli.ConnectDistributed",
                str(properties),
            ],
            pid_file=self.layout.pid_file("connect"),
            log_file=self.layout.log_file("connect"),
        )

    # down / reset --------------------------------------------------------------------------------

    def down(self, report: Callable[[str], None] = log.info) -> list[str]:
        stopped = []
        for service in reversed(SERVICES):
            if process.stop(self.layout.pid_file(service), timeout_s=45):
                stopped.append(service)
                report(f"{service:<9} stopped")
        return stopped

    def reset(self) -> None:
        if self.is_running():
            raise StackError(
                "the stack is running; its data cannot be wiped under it.",
                hint="Run `medrical stack down` first, or `medrical stack reset --force`.",
            )
        for folder in (self.layout.data, self.layout.logs, self.layout.etc, self.layout.run):
            shutil.rmtree(folder, ignore_errors=True)
        shutil.rmtree(self.layout.secrets, ignore_errors=True)

    def log_path(self, service: str) -> Path:
        return self.layout.log_file(service)


def _write_private(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)
    path.chmod(0o600)


def _postgres_bindir() -> Path:
    candidates: Iterator[Path] = iter(
        sorted(Path("/usr/lib/postgresql").glob("*/bin"), key=_pg_major, reverse=True)
    )
    for candidate in candidates:
        if (candidate / "postgres").is_file() and (candidate / "initdb").is_file():
            return candidate
    on_path = shutil.which("postgres")
    if on_path and shutil.which("initdb"):
        return Path(on_path).resolve().parent
    raise StackError(
        "PostgreSQL's server binaries (postgres, initdb) are not installed.",
        hint="Install them (Debian: `apt-get install postgresql`), then run `medrical stack up`.",
    )


def _pg_major(bindir: Path) -> int:
    try:
        return int(bindir.parent.name)
    except ValueError:
        return 0


def _port_setting(settings: StackSettings, port: int) -> str:
    for name in (
        "kafka_port",
        "controller_port",
        "registry_port",
        "registry_management_port",
        "connect_port",
        "postgres_port",
    ):
        if getattr(settings, name) == port:
            return name
    return "port"


def _short(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return text[:160]
