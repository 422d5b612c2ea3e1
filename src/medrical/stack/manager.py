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

from medrical.config import (
    LOOPBACK,
    SSL_CA_FILE,
    SSL_CERT_FILE,
    SSL_KEY_FILE,
    STACK_PORT_FIELDS,
    StackSettings,
)
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


# Files `stack up --tls` writes into the stack's client/ folder, beside Aiven's three.
CLIENT_CONFIG_SSL = "medrical-ssl.toml"
CLIENT_CONFIG_SASL_SSL = "medrical-sasl-ssl.toml"


def _ports(settings: StackSettings) -> dict[str, list[int]]:
    kafka = [settings.kafka_port, settings.controller_port]
    if settings.tls:
        kafka.append(settings.kafka_sasl_port)
    return {
        "postgres": [settings.postgres_port],
        "kafka": kafka,
        "registry": [settings.registry_port, settings.registry_management_port],
        "connect": [settings.connect_port],
    }


def address(settings: StackSettings, service: str) -> str:
    if settings.tls:
        return {
            "postgres": f"postgresql://{LOOPBACK}:{settings.postgres_port}/medrical (SSL)",
            "kafka": f"{LOOPBACK}:{settings.kafka_port} (mTLS), :{settings.kafka_sasl_port} "
            "(SASL_SSL)",
            "registry": f"https://{LOOPBACK}:{settings.registry_port}/apis/ccompat/v7",
            "connect": f"https://{LOOPBACK}:{settings.connect_port}",
        }[service]
    return {
        "postgres": f"postgresql://{LOOPBACK}:{settings.postgres_port}/medrical",
        "kafka": f"{LOOPBACK}:{settings.kafka_port}",
        "registry": f"http://{LOOPBACK}:{settings.registry_port}/apis/ccompat/v7",
        "connect": f"http://{LOOPBACK}:{settings.connect_port}",
    }[service]


# --- health checks: each returns a short detail when healthy, raises otherwise ----------------


def _postgres_password(layout: StackLayout) -> str:
    return layout.postgres_password_file.read_text(encoding="utf-8").strip()


def _postgres_tls_kwargs(settings: StackSettings, layout: StackLayout) -> dict[str, Any]:
    if not settings.tls:
        return {}
    return {"sslmode": "verify-full", "sslrootcert": str(layout.tls.ca_cert)}


def check_postgres(settings: StackSettings, layout: StackLayout) -> str:
    import psycopg

    with psycopg.connect(
        host=LOOPBACK,
        port=settings.postgres_port,
        user=POSTGRES_USER,
        password=_postgres_password(layout),
        dbname="postgres",
        connect_timeout=3,
        **_postgres_tls_kwargs(settings, layout),
    ) as conn:
        version = conn.execute("SHOW server_version").fetchone()
    return f"PostgreSQL {version[0] if version else '?'}"


def _stack_kafka_conf(settings: StackSettings, layout: StackLayout | None) -> dict[str, Any]:
    """librdkafka settings of the stack's own probes: its mutual-TLS identity in TLS mode."""
    conf: dict[str, Any] = {"bootstrap.servers": f"{LOOPBACK}:{settings.kafka_port}"}
    if settings.tls and layout is not None:
        tls = layout.tls
        conf |= {
            "security.protocol": "ssl",
            "ssl.ca.location": str(tls.ca_cert),
            "ssl.certificate.location": str(tls.stack_cert),
            "ssl.key.location": str(tls.stack_key),
            "ssl.endpoint.identification.algorithm": "https",
        }
    return conf


def _quiet_librdkafka() -> logging.Logger:
    quiet = logging.getLogger("medrical.stack.librdkafka")
    quiet.setLevel(logging.CRITICAL)
    return quiet


def check_kafka(settings: StackSettings, layout: StackLayout | None = None) -> str:
    from confluent_kafka.admin import AdminClient

    conf = _stack_kafka_conf(settings, layout)
    conf["logger"] = _quiet_librdkafka()  # connection-refused noise while the broker starts
    admin = AdminClient(conf)
    metadata = admin.list_topics(timeout=3)
    detail = f"{len(metadata.brokers)} broker(s), {len(metadata.topics)} topic(s)"
    if settings.tls and layout is not None and layout.kafka_sasl_password_file.exists():
        sasl_conf: dict[str, Any] = {
            "bootstrap.servers": f"{LOOPBACK}:{settings.kafka_sasl_port}",
            "security.protocol": "sasl_ssl",
            "ssl.ca.location": str(layout.tls.ca_cert),
            "sasl.mechanism": rendering.KAFKA_SASL_MECHANISM,
            "sasl.username": rendering.KAFKA_SASL_USER,
            "sasl.password": _read_secret(layout.kafka_sasl_password_file),
            "logger": _quiet_librdkafka(),
        }
        sasl = AdminClient(sasl_conf)
        sasl.list_topics(timeout=5)
        detail += "; mTLS and SASL_SSL"
    return detail


def _read_secret(path: Path) -> str:
    return path.read_text(encoding="utf-8").strip()


def check_registry(settings: StackSettings, layout: StackLayout | None = None) -> str:
    if settings.tls and layout is not None:
        import ssl

        url = f"https://{LOOPBACK}:{settings.registry_port}/apis/ccompat/v7/subjects"
        password = _read_secret(layout.registry_password_file)
        response = httpx.get(
            url,
            timeout=3,
            auth=(rendering.REGISTRY_USER, password),
            verify=ssl.create_default_context(cafile=str(layout.tls.ca_cert)),
        )
    else:
        url = f"http://{LOOPBACK}:{settings.registry_port}/apis/ccompat/v7/subjects"
        response = httpx.get(url, timeout=3)
    response.raise_for_status()
    return f"{len(response.json())} subject(s)"


def check_connect(settings: StackSettings, layout: StackLayout | None = None) -> str:
    if settings.tls and layout is not None:
        import ssl

        base = f"https://{LOOPBACK}:{settings.connect_port}"
        http = httpx.Client(
            timeout=5,
            auth=(rendering.CONNECT_USER, _read_secret(layout.connect_password_file)),
            verify=ssl.create_default_context(cafile=str(layout.tls.ca_cert)),
        )
    else:
        base = f"http://{LOOPBACK}:{settings.connect_port}"
        http = httpx.Client(timeout=5)
    with http:
        response = http.get(f"{base}/connector-plugins")
        response.raise_for_status()
        classes = {plugin["class"] for plugin in response.json()}
        if fetch.JDBC_SINK_CLASS not in classes:
            raise StackError(f"Connect is up but does not list {fetch.JDBC_SINK_CLASS}")
        version = http.get(base).json().get("version", "?")
    return f"Kafka Connect {version}, JDBC sink plugin loaded"


def _health(settings: StackSettings, layout: StackLayout, service: str) -> str:
    if service == "postgres":
        return check_postgres(settings, layout)
    if service == "kafka":
        return check_kafka(settings, layout)
    if service == "registry":
        return check_registry(settings, layout)
    return check_connect(settings, layout)


# --- the stack ---------------------------------------------------------------------------------


class LocalStack:
    def __init__(self, settings: StackSettings) -> None:
        self.layout = StackLayout.of(settings)
        if not settings.tls and self._running_mode() == "tls":
            # A stack started with --tls is probed and described as such until it stops.
            settings = settings.model_copy(update={"tls": True})
        self.settings = settings

    def _running_mode(self) -> str | None:
        try:
            return self.layout.mode_file.read_text(encoding="utf-8").strip() or None
        except OSError:
            return None

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
        self._refuse_mode_change()
        engines = fetch.fetch_engines(self.settings.cache_dir)
        java = find_java(self.settings.java_home)
        self._prepare_dirs()
        if self.settings.tls:
            self._prepare_tls()
        _write_private(self.layout.mode_file, "tls\n" if self.settings.tls else "plain\n")
        timings: dict[str, float] = {}
        for service in SERVICES:
            if process.running(self.layout.pid_file(service)):
                report(f"{service:<9} already running at {address(self.settings, service)}")
                continue
            self._check_ports_free(service)
            started = time.monotonic()
            starter = getattr(self, f"_start_{service}")
            child = starter(engines, java)
            if service == "kafka" and self.settings.tls:
                self._wait_healthy_tls_kafka(child)
            else:
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

    def _refuse_mode_change(self) -> None:
        mode = self._running_mode()
        wanted = "tls" if self.settings.tls else "plain"
        if mode is not None and mode != wanted and self.is_running():
            raise StackError(
                f"the stack is running {'with' if mode == 'tls' else 'without'} TLS.",
                hint="Run `medrical stack down` first, then `medrical stack up"
                f"{' --tls' if self.settings.tls else ''}`.",
            )

    def _prepare_tls(self) -> None:
        """Certificates, passwords, Connect's secrets and the client files of TLS mode."""
        from medrical.stack import tls

        layout = self.layout
        layout.client.mkdir(parents=True, exist_ok=True, mode=0o700)
        layout.client.chmod(0o700)
        tls.ensure_stack_certificates(
            layout.tls, layout.client, (SSL_CA_FILE, SSL_CERT_FILE, SSL_KEY_FILE)
        )
        for secret_file in (
            layout.kafka_sasl_password_file,
            layout.registry_password_file,
            layout.connect_password_file,
        ):
            if not secret_file.exists():
                _write_private(secret_file, secrets.token_urlsafe(24) + "\n")
        _write_private(
            layout.connect_users_file,
            f"{rendering.CONNECT_USER}: {_read_secret(layout.connect_password_file)}\n",
        )
        layout.connect_jaas_file.write_text(
            rendering.connect_jaas_config(layout.connect_users_file), encoding="utf-8"
        )
        keystore_password = secrets.token_urlsafe(24)
        tls.write_pkcs12(
            layout.tls.rest_keystore,
            layout.tls.server_cert,
            layout.tls.server_key,
            keystore_password,
        )
        _write_private(
            layout.connect_secrets_file,
            f"postgres.password={_postgres_password(layout)}\n"
            f"registry.password={_read_secret(layout.registry_password_file)}\n"
            f"{rendering.CONNECT_REST_KEYSTORE_SECRET_KEY}={keystore_password}\n",
        )
        self._prepare_postgres_tls()
        self._write_client_configs()

    def _prepare_postgres_tls(self) -> None:
        """PostgreSQL wants its key owned by its own user and closed to everyone else."""
        layout = self.layout
        folder = layout.postgres_tls
        folder.mkdir(parents=True, exist_ok=True)
        folder.chmod(0o700)
        cert, key = folder / "server.crt", folder / "server.key"
        cert.write_bytes(layout.tls.server_cert.read_bytes())
        _write_private_bytes(key, layout.tls.server_key.read_bytes())
        user = self._postgres_user()
        if user is not None:
            entry = pwd.getpwnam(user)
            for path in (folder, cert, key):
                os.chown(path, entry.pw_uid, entry.pw_gid)
        (layout.etc / "pg_hba-tls.conf").write_text(rendering.postgres_tls_hba(), encoding="utf-8")

    def _write_client_configs(self) -> None:
        from medrical.config import render_toml

        layout = self.layout
        for protocol, name in (("SSL", CLIENT_CONFIG_SSL), ("SASL_SSL", CLIENT_CONFIG_SASL_SSL)):
            tree = rendering.client_settings(
                self.settings,
                protocol=protocol,
                ca=layout.client / SSL_CA_FILE,
                cert=layout.client / SSL_CERT_FILE,
                key=layout.client / SSL_KEY_FILE,
                sasl_password=_read_secret(layout.kafka_sasl_password_file),
                registry_password=_read_secret(layout.registry_password_file),
                connect_password=_read_secret(layout.connect_password_file),
            )
            header = (
                "# Medrical's settings for the local TLS stack, written by `medrical stack up "
                "--tls`.\n# Use them in one step: `medrical configure from-stack"
                f"{' --sasl-ssl' if protocol == 'SASL_SSL' else ''}`, or "
                "`medrical --config <this file> ...`.\n"
            )
            _write_private(layout.client / name, header + render_toml(tree))

    def _wait_healthy_tls_kafka(self, child: subprocess.Popen[bytes]) -> None:
        """Wait for the mutual-TLS listener, create the SCRAM user, then check SASL_SSL too."""
        password = self.layout.kafka_sasl_password_file
        hidden = password.with_name(password.name + ".pending")
        # Until its SCRAM user exists, the SASL_SSL probe would fail: leave it out at first.
        password.rename(hidden)
        try:
            self._wait_healthy("kafka", child)
        finally:
            hidden.rename(password)
        self._upsert_scram_user()
        self._wait_healthy("kafka", child)

    def _upsert_scram_user(self) -> None:
        from confluent_kafka.admin import AdminClient
        from confluent_kafka.admin._scram import (
            ScramCredentialInfo,
            ScramMechanism,
            UserScramCredentialUpsertion,
        )

        conf = _stack_kafka_conf(self.settings, self.layout)
        conf["logger"] = _quiet_librdkafka()
        admin = AdminClient(conf)
        upsert = UserScramCredentialUpsertion(
            rendering.KAFKA_SASL_USER,
            ScramCredentialInfo(ScramMechanism.SCRAM_SHA_512, 8192),
            _read_secret(self.layout.kafka_sasl_password_file).encode("utf-8"),
        )
        futures = admin.alter_user_scram_credentials([upsert])
        for future in futures.values():
            try:
                future.result(timeout=30)
            except Exception as exc:  # KafkaException: say what failed, never the password
                raise StackError(f"Kafka did not accept the SCRAM user: {_short(exc)}") from exc

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
                process.stop(self.layout.pid_file(service))  # forgets the PID file and child
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
                *self._postgres_tls_options(),
            ],
            pid_file=self.layout.pid_file("postgres"),
            log_file=self.layout.log_file("postgres"),
            user=user,
        )

    def _postgres_tls_options(self) -> list[str]:
        if not self.settings.tls:
            return []
        folder = self.layout.postgres_tls
        return rendering.postgres_tls_options(
            folder / "server.crt", folder / "server.key", self.layout.etc / "pg_hba-tls.conf"
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
            **_postgres_tls_kwargs(self.settings, self.layout),
        ) as conn:
            existing = {row[0] for row in conn.execute("SELECT datname FROM pg_database")}
            for name in DATABASES:
                if name not in existing:
                    conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))

    def _start_kafka(self, engines: Path, java: JavaRuntime) -> subprocess.Popen[bytes]:
        data = self.layout.data / "kafka"
        properties = self.layout.etc / "server.properties"
        tls = self.layout.tls if self.settings.tls else None
        properties.write_text(
            rendering.kafka_server_properties(self.settings, data, tls), encoding="utf-8"
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
                    # Joined to its option: a base64 id may start with "-".
                    f"--cluster-id={cluster_id}",
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
        tls = self.layout.tls if self.settings.tls else None
        props = rendering.registry_system_properties(self.settings, "registry", tls)
        env = dict(os.environ)
        # Quarkus reads this from the environment, keeping the password off the command line.
        env["APICURIO_DATASOURCE_PASSWORD"] = _postgres_password(self.layout)
        if tls is not None:
            env[rendering.REGISTRY_PASSWORD_ENV] = _read_secret(self.layout.registry_password_file)
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
                self.settings,
                engines / "plugins",
                self.layout.connect_secrets_file,
                self.layout.tls if self.settings.tls else None,
            ),
            encoding="utf-8",
        )
        jaas = (
            [f"-Djava.security.auth.login.config={self.layout.connect_jaas_file}"]
            if self.settings.tls
            else []
        )
        return process.spawn(
            [
                *self._java_command(java, self.settings.connect_heap_mb, "connect"),
                *jaas,
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
        if not self.is_running():
            self.layout.mode_file.unlink(missing_ok=True)
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
        shutil.rmtree(self.layout.tls.folder, ignore_errors=True)
        shutil.rmtree(self.layout.client, ignore_errors=True)

    def log_path(self, service: str) -> Path:
        return self.layout.log_file(service)


def _write_private(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)
    path.chmod(0o600)


def _write_private_bytes(path: Path, content: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(content)
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
    for name in STACK_PORT_FIELDS:
        if getattr(settings, name) == port:
            return name
    return "port"


def _short(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return text[:160]
