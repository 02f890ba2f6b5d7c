"""Fixtures for the interop tests: Python stubs generated from proto/, dev certificates, and a real
bureaud started on a free port with a fresh, seeded data folder."""
import os
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
# A PostgreSQL server the suite may make databases on (e.g. postgresql://postgres@127.0.0.1:5432, trusted on the
# loopback): when set, every bureaud and bureau command of the suite runs on a PostgreSQL store of its own
# instead of LMDB (the same tests, the same answers expected). Unset: LMDB.
POSTGRES = os.environ.get("BUREAU_TEST_POSTGRES", "").rstrip("/")


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
            ["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", f"{POSTGRES}/postgres", "-c", f"CREATE DATABASE {name}"],
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
