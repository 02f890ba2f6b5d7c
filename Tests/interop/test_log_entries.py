"""The access log read by an independent decoder (clients/python/bureau_client/log_entry.py, written from
docs/LOG-ENTRY.md): its golden vectors, and every entry of a real bureaud's log."""
import re

import pytest

from bureau_client import MalformedEntry, UnresolvedReference, decode_entry, resolve
from conftest import POSTGRES, ROOT
from test_crash import leaf_hash, root
from test_interop import PERSON, channel, register_consent


def golden_vectors():
    """The two vectors of docs/LOG-ENTRY.md, as the document prints them in one piece."""
    text = (ROOT / "docs" / "LOG-ENTRY.md").read_text()
    blocks = re.findall(r"```\n([0-9a-f\n]+)```", text)
    one_piece = [b.replace("\n", "") for b in blocks]
    referring = re.search(r"\n\n(01[0-9a-f]+)\n```", text).group(1)
    return bytes.fromhex(one_piece[0]), bytes.fromhex(referring)


def test_golden_vectors_decode_as_documented():
    inline, referring = golden_vectors()
    first = decode_entry(inline)
    assert len(inline) == 314 and len(referring) == 58
    assert first["action"] == "report.individual" and first["time"] == 1800000000000
    assert first["institution"] == "91110000100000016D" and first["certificate_sha256"] == "ab" * 32
    assert first["subjects"] == ["07" * 32] and first["purpose"] == "post-loan-management"
    assert first["legal_basis"].startswith("Regulation on the Administration") and len(first["legal_basis"]) == 127
    assert first["disclosure_version"] == 3
    assert first["disclosed_fields"] == ["identity.name:masked", "accounts.balance:shown"]
    later = decode_entry(referring)
    assert later["references"] == {"actor": 1, "legal_basis": 2, "disclosure": 3}
    assert later["institution"] is None and later["disclosed_fields"] is None
    # Entry 1, 2 and 3 all being the first one, the later entry resolves to the same parts.
    resolved = resolve(later, 4, lambda i: first if i in (1, 2, 3) else None)
    assert {k: resolved[k] for k in ("institution", "legal_basis", "disclosed_fields")} == \
        {k: first[k] for k in ("institution", "legal_basis", "disclosed_fields")}
    with pytest.raises(UnresolvedReference, match="entry 4 refers to entry 1 for its actor, which does not resolve"):
        resolve(later, 4, lambda i: later)
    with pytest.raises(MalformedEntry, match="shortest form"):
        decode_entry(referring[:10] + b"\x83\x00" + referring[11:])
    with pytest.raises(MalformedEntry, match="after the last field"):
        decode_entry(referring + b"\x00")


def test_every_entry_of_a_real_log_decodes_and_its_references_resolve(stubs, certs, bureaud):
    address, _ = bureaud
    with channel(address, certs) as ch:
        reference = register_consent(stubs, ch)
        reports = stubs.report_grpc.ReportServiceStub(ch)
        receipts = []
        for n in range(3):
            request = stubs.report.IndividualReportRequest(
                identifier=PERSON, purpose=stubs.common.PURPOSE_LOAN_ORIGINATION, consent_reference=reference,
                request_id="py-entries-%d" % n,
            )
            receipts.append(reports.GetIndividualReport(request, timeout=10).receipt.entry_index)
    with channel(address, certs, who="regulator") as ch:
        oversight = stubs.oversight_grpc.OversightServiceStub(ch)
        checkpoint = oversight.GetCheckpoint(stubs.oversight.GetCheckpointRequest(), timeout=10)
        raw = []
        while len(raw) < checkpoint.tree_size:
            page = oversight.GetEntries(stubs.oversight.GetEntriesRequest(start=len(raw), count=1000), timeout=10)
            raw += [e.canonical for e in page.entries]
    assert root([leaf_hash(b) for b in raw]) == checkpoint.root_hash
    decoded = [decode_entry(b) for b in raw]
    entries = [resolve(e, i, lambda j: decoded[j] if j < len(decoded) else None) for i, e in enumerate(decoded)]
    assert all(b[0] == 1 for b in raw), "a new bureaud writes compact entries only"
    for index in receipts:
        entry = entries[index]
        assert entry["action"] == "report.individual" and entry["outcome"] == "hit"
        assert entry["institution"] == "91110000100000016D"
        assert entry["legal_basis"] and len(entry["disclosed_fields"]) > 10
        assert PERSON not in raw[index].decode("latin-1"), "no cleartext identifier in an entry"
    # The later reports refer to the first one's parts instead of repeating them: on LMDB, which indexes the
    # entries holding each part (log.parts); the PostgreSQL store keeps no such index and writes every part inline
    # (docs/LOG-ENTRY.md allows both; the entries resolve the same).
    if POSTGRES:
        assert decoded[receipts[-1]]["references"] == {}
    else:
        assert decoded[receipts[-1]]["references"].keys() == {"actor", "legal_basis", "disclosure"}
        assert len(raw[receipts[-1]]) < 120
