"""Faults met by a real bureaud: a disk that fills up and frees again, and clients offering TLS below 1.2."""
import json
import os
import resource
import socket
import struct

import grpc
import pytest

from conftest import POSTGRES, seeded_bureaud
from test_crash import leaf_hash, root
from test_interop import PERSON, channel

# A full disk here is the LMDB file's (RLIMIT_FSIZE on data.mdb); PostgreSQL's full disk is the server's.
pytestmark = pytest.mark.skipif(bool(POSTGRES), reason="fills the LMDB file; not the PostgreSQL store")


def read_log(stubs, address, certs):
    """Every log entry's leaf hash and request id, checked against the signed checkpoint's root."""
    with channel(address, certs, who="regulator") as ch:
        oversight = stubs.oversight_grpc.OversightServiceStub(ch)
        checkpoint = oversight.GetCheckpoint(stubs.oversight.GetCheckpointRequest(), timeout=10)
        leaves, request_ids = [], []
        while len(leaves) < checkpoint.tree_size:
            page = oversight.GetEntries(stubs.oversight.GetEntriesRequest(start=len(leaves), count=1000), timeout=10)
            for entry in page.entries:
                assert leaf_hash(entry.canonical) == entry.leaf_hash
                leaves.append(entry.leaf_hash)
                request_ids.append(json.loads(entry.canonical)["request_id"])
    assert root(leaves) == checkpoint.root_hash, "the entries do not make up the checkpoint's root"
    return leaves, request_ids


def test_disk_full_is_unavailable_and_recovers_when_space_returns(stubs, certs, tmp_path):
    """The data file may not grow past a file-size limit (as on a full disk): reports are refused with
    UNAVAILABLE and nothing is disclosed or half-written; once the limit is lifted the same daemon serves
    again, and every receipt it gave is in a log that verifies."""
    data = tmp_path / "full-data"
    proc, port, address = seeded_bureaud(certs, data)
    mdb = data / "lmdb" / "data.mdb"
    try:
        # Let the data file grow by 64 KiB at most from here on.
        limit = os.path.getsize(mdb) + 64 * 1024 + 1000
        resource.prlimit(proc.pid, resource.RLIMIT_FSIZE, (limit, resource.RLIM_INFINITY))
        receipts, refused = [], []
        with channel(address, certs) as ch:
            reports = stubs.report_grpc.ReportServiceStub(ch)
            for n in range(5000):
                request = stubs.report.IndividualReportRequest(
                    identifier=PERSON, purpose=stubs.common.PURPOSE_POST_LOAN_MANAGEMENT, request_id=f"full-{n}"
                )
                try:
                    answer = reports.GetIndividualReport(request, timeout=10)
                    assert answer.report.identity.name, "a granted report discloses the file"
                    receipts.append((answer.receipt.entry_index, answer.receipt.leaf_hash))
                except grpc.RpcError as error:
                    assert error.code() == grpc.StatusCode.UNAVAILABLE, error
                    assert "storage device is full" in error.details(), error.details()
                    refused.append(request.request_id)
                    if len(refused) >= 5:
                        break
            assert refused, "the data file never reached the limit"
            assert os.path.getsize(mdb) <= limit
            assert proc.poll() is None, "bureaud must survive a full disk"

            # Space returns: the limit is lifted and the same daemon serves again.
            resource.prlimit(proc.pid, resource.RLIMIT_FSIZE, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))
            for n in range(3):
                request = stubs.report.IndividualReportRequest(
                    identifier=PERSON, purpose=stubs.common.PURPOSE_POST_LOAN_MANAGEMENT, request_id=f"after-{n}"
                )
                answer = reports.GetIndividualReport(request, timeout=10)
                receipts.append((answer.receipt.entry_index, answer.receipt.leaf_hash))

        leaves, request_ids = read_log(stubs, address, certs)
        for index, leaf in receipts:
            assert leaves[index] == leaf, f"receipt {index} does not match the logged entry"
        assert not set(refused) & set(request_ids), "a refused report left a log entry"
        with open(data / "bureaud.log") as log:
            assert "storage device is full" in log.read(), "the refusal is in the daemon's log"
        print(f"{len(receipts)} receipts kept, {len(refused)} reports refused while full, log of {len(leaves)} entries verifies")
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        proc.log.close()


def client_hello(version, ciphers):
    """A minimal TLS ClientHello record offering `version` (no supported_versions extension)."""
    extensions = b""
    # server_name is left out; supported groups and EC point formats for the ECDHE suites.
    groups = struct.pack(">H", 4) + struct.pack(">HH", 0x001D, 0x0017)
    extensions += struct.pack(">HH", 0x000A, len(groups)) + groups
    extensions += struct.pack(">HH", 0x000B, 2) + b"\x01\x00"
    if version >= 0x0303:
        algorithms = struct.pack(">H", 6) + struct.pack(">HHH", 0x0403, 0x0804, 0x0401)
        extensions += struct.pack(">HH", 0x000D, len(algorithms)) + algorithms
    suites = b"".join(struct.pack(">H", c) for c in ciphers)
    body = (struct.pack(">H", version) + os.urandom(32) + b"\x00" + struct.pack(">H", len(suites)) + suites
            + b"\x01\x00" + struct.pack(">H", len(extensions)) + extensions)
    handshake = b"\x01" + struct.pack(">I", len(body))[1:] + body
    return b"\x16" + struct.pack(">H", 0x0301) + struct.pack(">H", len(handshake)) + handshake


def first_record(address, hello):
    host, port = address.rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=10) as s:
        s.sendall(hello)
        header = s.recv(5)
        assert len(header) == 5, f"no TLS record in answer: {header!r}"
        length = struct.unpack(">H", header[3:5])[0]
        body = b""
        while len(body) < min(length, 2):
            chunk = s.recv(length - len(body))
            if not chunk:
                break
            body += chunk
        return header[0], body


def test_tls_below_1_2_is_refused(bureaud, stubs, certs):
    address, _ = bureaud
    ecdhe_cbc = [0xC013, 0xC014, 0xC009, 0xC00A, 0x002F, 0x0035]
    for version, name in [(0x0301, "TLS 1.0"), (0x0302, "TLS 1.1")]:
        content_type, body = first_record(address, client_hello(version, ecdhe_cbc))
        # An alert record: fatal (2), protocol_version (70).
        assert content_type == 0x15, f"{name}: expected an alert, got record type {content_type}"
        assert body[:2] == b"\x02\x46", f"{name}: expected a fatal protocol_version alert, got {body!r}"
    # The same hello at TLS 1.2 gets a ServerHello: the refusal above is about the version alone.
    content_type, body = first_record(address, client_hello(0x0303, [0xC02B, 0xC02C, 0xC02F, 0xC030] + ecdhe_cbc))
    assert content_type == 0x16 and body[:1] == b"\x02", f"TLS 1.2: expected a ServerHello, got {content_type} {body!r}"
    # And the daemon keeps serving.
    with channel(address, certs) as ch:
        answer = stubs.report_grpc.ReportServiceStub(ch).GetIndividualReport(
            stubs.report.IndividualReportRequest(
                identifier=PERSON, purpose=stubs.common.PURPOSE_POST_LOAN_MANAGEMENT, request_id="after-tls-probe"
            ),
            timeout=10,
        )
        assert answer.receipt.leaf_hash
