"""Limits met by stock clients against a real bureaud: concurrent calls beyond the advertised stream limit,
oversized requests, idle connections, and TLS 1.2 cipher suites (see the README's security section)."""
import socket
import ssl
import struct
import time
from concurrent.futures import ThreadPoolExecutor

import grpc

from conftest import seeded_bureaud
from test_faults import client_hello, first_record
from test_interop import PERSON, channel


def test_150_concurrent_calls_on_one_channel_all_succeed(bureaud, stubs, certs):
    """The server advertises SETTINGS_MAX_CONCURRENT_STREAMS, so grpcio queues the calls over it instead of
    having the connection killed by a GOAWAY."""
    address, _ = bureaud
    with channel(address, certs) as ch:
        catalog = stubs.catalog_grpc.CatalogServiceStub(ch)
        grpc.channel_ready_future(ch).result(timeout=10)
        calls = [catalog.ListCategories.future(stubs.catalog.ListCategoriesRequest(), timeout=20) for _ in range(150)]
        failures = []
        for call in calls:
            try:
                assert call.result().categories
            except grpc.RpcError as error:
                failures.append(f"{error.code()}: {error.details()}")
    assert not failures, f"{len(failures)} of 150 calls failed, first: {failures[0]}"


def test_oversized_request_is_resource_exhausted_naming_the_limit(bureaud, stubs, certs):
    """A request message over 4 MiB is answered RESOURCE_EXHAUSTED with the limit in the message (not a
    stream reset, which clients see as CANCELLED), and the connection goes on serving."""
    address, _ = bureaud
    with channel(address, certs) as ch:
        reports = stubs.report_grpc.ReportServiceStub(ch)
        request = stubs.report.IndividualReportRequest(
            identifier=PERSON, purpose=stubs.common.PURPOSE_POST_LOAN_MANAGEMENT, request_id="x" * (5 << 20)
        )
        try:
            reports.GetIndividualReport(request, timeout=20)
            raise AssertionError("a 5 MiB request was accepted")
        except grpc.RpcError as error:
            assert error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED, f"{error.code()}: {error.details()}"
            assert "4194304" in error.details() and "limits.max_request_bytes" in error.details(), error.details()
        # The same channel still works.
        assert stubs.catalog_grpc.CatalogServiceStub(ch).ListCategories(stubs.catalog.ListCategoriesRequest(), timeout=10)


def test_idle_connection_is_closed(stubs, certs, tmp_path):
    """A TLS connection that opens HTTP/2 and then sends nothing gets a GOAWAY after
    limits.idle_timeout_seconds and, as it answers nothing, is closed keepalive_timeout_seconds later; a
    client that never finishes its handshake is closed after limits.handshake_timeout_seconds."""
    config = tmp_path / "bureau.toml"
    config.write_text("[limits]\nidle_timeout_seconds = 1\nhandshake_timeout_seconds = 1\nkeepalive_timeout_seconds = 1\n")
    proc, port, address = seeded_bureaud(certs, tmp_path / "data", config)
    try:
        context = ssl.create_default_context(cafile=str(certs / "ca.pem"))
        context.load_cert_chain(str(certs / "bank.pem"), str(certs / "bank.key"))
        context.set_alpn_protocols(["h2"])
        with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
            with context.wrap_socket(raw, server_hostname="localhost") as tls:
                tls.sendall(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + b"\x00\x00\x00\x04\x00\x00\x00\x00\x00")
                start, frames = time.monotonic(), b""
                while chunk := tls.recv(4096):
                    frames += chunk
                elapsed = time.monotonic() - start
        types = []
        while len(frames) >= 9:
            length = int.from_bytes(frames[:3], "big")
            types.append(frames[3])
            frames = frames[9 + length:]
        assert 7 in types, f"no GOAWAY before the close, frame types {types}"
        assert 1.5 < elapsed < 8, f"closed after {elapsed:.1f} s, expected about 2 s"

        # Half-open: TCP connected, no ClientHello. Closed after the handshake timeout.
        with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
            start = time.monotonic()
            assert raw.recv(1) == b""
            elapsed = time.monotonic() - start
        assert 0.5 < elapsed < 8, f"half-open connection closed after {elapsed:.1f} s, expected about 1 s"
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        proc.log.close()


def test_client_that_does_not_answer_keepalive_pings_is_disconnected(stubs, certs, tmp_path):
    """With no idle timeout in the way, a connection whose client goes silent is pinged after
    limits.keepalive_interval_seconds and closed when the ping is not answered within
    limits.keepalive_timeout_seconds."""
    config = tmp_path / "bureau.toml"
    config.write_text("[limits]\nidle_timeout_seconds = 300\nkeepalive_interval_seconds = 1\nkeepalive_timeout_seconds = 1\n")
    proc, port, address = seeded_bureaud(certs, tmp_path / "data", config)
    try:
        context = ssl.create_default_context(cafile=str(certs / "ca.pem"))
        context.load_cert_chain(str(certs / "bank.pem"), str(certs / "bank.key"))
        context.set_alpn_protocols(["h2"])
        with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
            with context.wrap_socket(raw, server_hostname="localhost") as tls:
                tls.sendall(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + b"\x00\x00\x00\x04\x00\x00\x00\x00\x00")
                start, frames = time.monotonic(), b""
                while chunk := tls.recv(4096):
                    frames += chunk
                elapsed = time.monotonic() - start
        types = []
        while len(frames) >= 9:
            length = int.from_bytes(frames[:3], "big")
            types.append(frames[3])
            frames = frames[9 + length:]
        assert 6 in types, f"no PING before the close, frame types {types}"
        assert 1.5 < elapsed < 8, f"closed after {elapsed:.1f} s, expected about 2 s"
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        proc.log.close()


def test_tls12_offers_only_aead_suites_with_forward_secrecy(bureaud, stubs, certs):
    """A TLS 1.2 ClientHello offering only CBC (or non-ECDHE) suites is refused with a handshake_failure
    alert; one offering ECDHE with AES-GCM or ChaCha20-Poly1305 among them gets a ServerHello choosing one
    of those; Python's ssl module with CBC-SHA1 suites only cannot connect."""
    address, _ = bureaud
    cbc_sha1 = [0xC013, 0xC014, 0xC009, 0xC00A, 0x002F, 0x0035]
    rsa_gcm = [0x009C, 0x009D]
    for suites, name in [(cbc_sha1, "CBC-SHA1"), (rsa_gcm, "RSA key exchange with AES-GCM")]:
        content_type, body = first_record(address, client_hello(0x0303, suites))
        # An alert record: fatal (2), handshake_failure (40).
        assert content_type == 0x15 and body[:2] == b"\x02\x28", f"{name}: expected handshake_failure, got {content_type} {body!r}"
    good = {0xC02B, 0xC02C, 0xC02F, 0xC030, 0xCCA8, 0xCCA9}
    content_type, body = first_record(address, client_hello(0x0303, cbc_sha1 + rsa_gcm + sorted(good)))
    assert content_type == 0x16 and body[:1] == b"\x02", f"expected a ServerHello, got {content_type} {body!r}"
    host, port = address.rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=10) as s:
        s.sendall(client_hello(0x0303, cbc_sha1 + rsa_gcm + sorted(good)))
        data = b""
        while len(data) < 5 + 4 + 2 + 32 + 1 + 32 + 2:
            data += s.recv(4096)
    # record header (5), handshake header (4), version (2), random (32), session id (1 + n), suite (2)
    session_length = data[5 + 4 + 2 + 32]
    offset = 5 + 4 + 2 + 32 + 1 + session_length
    chosen = struct.unpack(">H", data[offset:offset + 2])[0]
    assert chosen in good, f"the server chose suite {chosen:#06x}"

    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.load_verify_locations(str(certs / "ca.pem"))
    context.load_cert_chain(str(certs / "bank.pem"), str(certs / "bank.key"))
    context.maximum_version = ssl.TLSVersion.TLSv1_2
    context.set_ciphers("ECDHE-RSA-AES128-SHA:ECDHE-ECDSA-AES128-SHA:AES128-SHA:AES256-SHA")
    with socket.create_connection((host, int(port)), timeout=10) as raw:
        try:
            context.wrap_socket(raw, server_hostname="localhost")
            raise AssertionError("a CBC-only TLS 1.2 client was accepted")
        except ssl.SSLError as error:
            assert "HANDSHAKE_FAILURE" in str(error).upper() or "ALERT" in str(error).upper(), error
    # A stock grpcio client (TLS 1.3 or ECDHE-GCM) still connects.
    with channel(address, certs) as ch:
        assert stubs.catalog_grpc.CatalogServiceStub(ch).ListCategories(stubs.catalog.ListCategoriesRequest(), timeout=10)
