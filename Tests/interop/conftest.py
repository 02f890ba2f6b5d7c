"""Fixtures for the interop tests: Python stubs generated from proto/, dev certificates, and a real
bureaud started on a free port with a fresh, seeded data folder."""
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from importlib import resources
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(os.environ.get("BUREAU_BIN", ROOT / ".build" / "debug"))
# The Python client (its log-entry decoder is the independent reader of docs/LOG-ENTRY.md).
sys.path.insert(0, str(ROOT / "clients" / "python"))
# A PostgreSQL server the suite may make databases on (e.g. postgresql://postgres@127.0.0.1:5432, trusted on the
# loopback), or `scratch` for a throwaway cluster the suite makes itself (see ScratchCluster; `make test` runs the
# suite so a second time): when set, every bureaud and bureau command of the suite runs on a PostgreSQL store of
# its own instead of LMDB (the same tests, the same answers expected). Unset: LMDB.
POSTGRES = os.environ.get("BUREAU_TEST_POSTGRES", "").rstrip("/")
PSQL = "psql"


class ScratchCluster:
    """A PostgreSQL cluster made with initdb in a scratch folder (never the system's cluster), listening on a free
    loopback port over TCP only with trusted logins for `postgres`, stopped and deleted at the end of the run. The
    server's programs run as the `postgres` user when the suite runs as root (CI does; initdb refuses root), as
    the Swift tests' PostgresHarness does. Durability is off (fsync): the suite checks behaviour; a cluster left
    by a killed run is stopped by the next."""

    PREFIX = "bureau-interop-pg-"

    def __init__(self):
        versions = sorted((int(v) for v in os.listdir("/usr/lib/postgresql") if v.isdigit()), reverse=True) \
            if os.path.isdir("/usr/lib/postgresql") else []
        bins = [f"/usr/lib/postgresql/{v}/bin" for v in versions if os.access(f"/usr/lib/postgresql/{v}/bin/initdb", os.X_OK)]
        if not bins:
            raise RuntimeError("BUREAU_TEST_POSTGRES=scratch needs PostgreSQL's server (Debian: postgresql; make test-deps installs it)")
        self.bin = bins[0]
        self.as_server = ["/usr/sbin/runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        self.stop_leftovers()
        self.folder = Path(tempfile.mkdtemp(prefix=f"{self.PREFIX}{os.getpid()}-"))
        if self.as_server:
            shutil.chown(self.folder, "postgres", "postgres")
        self.data = self.folder / "data"
        self.server("initdb", "-D", str(self.data), "--username=postgres", "--auth=trust", "--encoding=UTF8",
                    "--no-locale", "--no-sync")
        with open(self.data / "postgresql.conf", "a") as conf:
            conf.write("\nlisten_addresses = '127.0.0.1'\nunix_socket_directories = ''\nfsync = off\n"
                       "full_page_writes = off\nmax_connections = 200\nshared_buffers = 32MB\n")
        for _ in range(5):
            self.port = free_port()
            started = subprocess.run(
                self.as_server + [f"{self.bin}/pg_ctl", "-D", str(self.data), "-l", str(self.folder / "postgres.log"),
                                  "-w", "-t", "60", "-o", f"-p {self.port}", "start"],
                capture_output=True, text=True, cwd="/",
            )
            if started.returncode == 0:
                break
        else:
            log = (self.folder / "postgres.log").read_text() if (self.folder / "postgres.log").exists() else ""
            self.remove()
            raise RuntimeError(f"the scratch PostgreSQL cluster did not start: {started.stderr}{log[-2000:]}")
        self.url = f"postgresql://postgres@127.0.0.1:{self.port}"

    def server(self, program, *arguments):
        subprocess.run(self.as_server + [f"{self.bin}/{program}", *arguments], check=True, capture_output=True, cwd="/")

    def remove(self):
        subprocess.run(self.as_server + [f"{self.bin}/pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop"],
                       capture_output=True, cwd="/")
        shutil.rmtree(self.folder, ignore_errors=True)

    def stop_leftovers(self):
        """Stops and deletes the clusters of runs whose process is gone (killed before they stopped theirs)."""
        base = Path(tempfile.gettempdir())
        for folder in base.glob(f"{self.PREFIX}*"):
            pid = folder.name[len(self.PREFIX):].split("-")[0]
            if pid.isdigit() and not Path(f"/proc/{pid}").exists():
                subprocess.run(self.as_server + [f"{self.bin}/pg_ctl", "-D", str(folder / "data"), "-m", "immediate", "-w",
                                                 "stop"], capture_output=True, cwd="/")
                shutil.rmtree(folder, ignore_errors=True)


_scratch = None


def pytest_configure(config):
    """With BUREAU_TEST_POSTGRES=scratch, starts the run's own cluster before any test is collected."""
    global POSTGRES, PSQL, _scratch
    if POSTGRES == "scratch":
        _scratch = ScratchCluster()
        POSTGRES = _scratch.url
        PSQL = f"{_scratch.bin}/psql"


def pytest_unconfigure(config):
    global _scratch
    if _scratch is not None:
        _scratch.remove()
        _scratch = None


@pytest.fixture(scope="session")
def stubs(tmp_path_factory):
    """Generates the Python stubs from proto/ with grpcio-tools into a temporary folder."""
    from grpc_tools import protoc

    out = tmp_path_factory.mktemp("stubs")
    well_known = str(resources.files("grpc_tools") / "_proto")
    protos = sorted(str(p.relative_to(ROOT / "proto")) for p in (ROOT / "proto" / "bureau").rglob("*.proto"))
    rc = protoc.main(
        ["protoc", f"-I{ROOT / 'proto'}", f"-I{well_known}", f"--python_out={out}", f"--grpc_python_out={out}", *protos]
    )
    assert rc == 0, "protoc failed"
    sys.path.insert(0, str(out))
    from bureau.v1 import common_pb2, report_pb2, report_pb2_grpc, catalog_pb2, catalog_pb2_grpc  # noqa: F401
    from bureau.v1 import consent_pb2, consent_pb2_grpc, oversight_pb2, oversight_pb2_grpc  # noqa: F401

    class Stubs:
        common = common_pb2
        report = report_pb2
        report_grpc = report_pb2_grpc
        catalog = catalog_pb2
        catalog_grpc = catalog_pb2_grpc
        consent = consent_pb2
        consent_grpc = consent_pb2_grpc
        oversight = oversight_pb2
        oversight_grpc = oversight_pb2_grpc

    return Stubs


@pytest.fixture(scope="session")
def certs(tmp_path_factory):
    folder = tmp_path_factory.mktemp("certs")
    subprocess.run([str(ROOT / "scripts" / "make-dev-certs"), str(folder)], check=True, capture_output=True)
    # The development KEK beside the certificates: every bureau and bureaud started from here uses it.
    os.environ["BUREAU_KEY_FILE"] = str(folder / "kek.key")
    return folder


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def store_args(data):
    """`--store URL` for the data folder `data` when the suite runs on PostgreSQL (a new, migrated database for
    each data folder), else nothing."""
    if not POSTGRES:
        return []
    marker = data / "store-url"
    if not marker.exists():
        name = "bureau_interop_" + uuid.uuid4().hex[:12]
        subprocess.run(
            [PSQL, "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", f"{POSTGRES}/postgres", "-c", f"CREATE DATABASE {name}"],
            check=True, capture_output=True,
        )
        url = f"{POSTGRES}/{name}?sslmode=disable"
        subprocess.run([str(BIN / "bureau"), "store", "migrate", "--store", url], check=True, capture_output=True)
        marker.write_text(url)
    return ["--store", marker.read_text()]


def start_bureaud(certs, data, port, config=None):
    """Starts bureaud on `port` with `data` (and the configuration file `config`, if given); returns the
    process once it listens."""
    log = open(data / "bureaud.log", "a+")
    proc = subprocess.Popen(
        [
            str(BIN / "bureaud"), "--port", str(port), "--data", str(data),
            "--cert", str(certs / "server.pem"), "--key", str(certs / "server.key"), "--ca", str(certs / "ca.pem"),
            "--metrics-port", "0",
            *(["--config", str(config)] if config else []),
            *store_args(data),
        ],
        stdout=subprocess.PIPE, stderr=log, text=True,
    )
    deadline = time.time() + 30
    line = ""
    while time.time() < deadline:
        line = proc.stdout.readline()
        if "listening on" in line or proc.poll() is not None:
            break
    assert "listening on" in line, f"bureaud did not start: {line!r}"
    proc.log = log
    return proc


def seed(certs, data):
    subprocess.run(
        [str(BIN / "bureau"), "demo", "seed", "--data", str(data), "--certs", str(certs), *store_args(data)],
        check=True, capture_output=True,
    )


def seeded_bureaud(certs, data, config=None):
    """Seeds a new data folder and starts bureaud on it; returns (process, port, address)."""
    data.mkdir()
    seed(certs, data)
    port = free_port()
    return start_bureaud(certs, data, port, config), port, f"127.0.0.1:{port}"


@pytest.fixture(scope="session")
def bureaud(certs, tmp_path_factory):
    """A running bureaud with demo data; yields (address, data folder)."""
    data = tmp_path_factory.mktemp("data")
    seed(certs, data)
    port = free_port()
    proc = start_bureaud(certs, data, port)
    log = proc.log
    try:
        yield f"127.0.0.1:{port}", data
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        log.seek(0)
        server_log = log.read()
        log.close()
        assert "11010519491231002X" not in server_log, "the server log must not hold a cleartext identifier"
