"""A small client for Bureau, the credit reference agency daemon, on grpcio.

    from bureau_client import Bureau
    bureau = Bureau("127.0.0.1:50051", ca="certs/ca.pem", cert="certs/bank.pem", key="certs/bank.key")
    reference = bureau.register_consent("11010519491231002X", "loan-origination", evidence=b"signed form")
    report = bureau.individual_report("11010519491231002X", "loan-origination", consent=reference)

Stubs are generated from the bureau's proto files with grpcio-tools the first time they are needed
(BUREAU_PROTO, or the repository's proto/ folder beside this package).
"""
import base64
import datetime
import hashlib
import importlib
import os
import sys
import tempfile
from pathlib import Path

import grpc

from .log_entry import MalformedEntry, UnresolvedReference, decode_entry, resolve

__all__ = ["Bureau", "verify_inclusion", "verify_note", "leaf_hash", "decode_entry", "resolve", "MalformedEntry",
           "UnresolvedReference"]

_stubs = None


def _proto_folder():
    if os.environ.get("BUREAU_PROTO"):
        return Path(os.environ["BUREAU_PROTO"])
    return Path(__file__).resolve().parents[3] / "proto"


def stubs():
    """The generated modules, as a namespace: common, report, consent, oversight and their *_grpc."""
    global _stubs
    if _stubs is None:
        from importlib import resources

        from grpc_tools import protoc

        proto = _proto_folder()
        out = Path(tempfile.mkdtemp(prefix="bureau-stubs-"))
        files = sorted(str(p.relative_to(proto)) for p in (proto / "bureau").rglob("*.proto"))
        well_known = str(resources.files("grpc_tools") / "_proto")
        if protoc.main(["protoc", f"-I{proto}", f"-I{well_known}", f"--python_out={out}", f"--grpc_python_out={out}", *files]) != 0:
            raise RuntimeError(f"cannot generate stubs from {proto}")
        sys.path.insert(0, str(out))

        class Stubs:
            pass

        for name in ["common", "report", "consent", "oversight", "catalog", "subject"]:
            setattr(Stubs, name, importlib.import_module(f"bureau.v1.{name}_pb2"))
            setattr(Stubs, name + "_grpc", importlib.import_module(f"bureau.v1.{name}_pb2_grpc"))
        _stubs = Stubs
    return _stubs


def _purpose(name):
    return getattr(stubs().common, "PURPOSE_" + name.upper().replace("-", "_"))


class Bureau:
    """A connection to bureaud over mutual TLS, as the institution whose certificate it presents."""

    def __init__(self, address, ca, cert, key, server_name="localhost", timeout=10):
        credentials = grpc.ssl_channel_credentials(
            root_certificates=Path(ca).read_bytes(), private_key=Path(key).read_bytes(), certificate_chain=Path(cert).read_bytes()
        )
        self.channel = grpc.secure_channel(address, credentials, options=[("grpc.ssl_target_name_override", server_name)])
        self.timeout = timeout
        s = stubs()
        self.reports = s.report_grpc.ReportServiceStub(self.channel)
        self.consents = s.consent_grpc.ConsentServiceStub(self.channel)
        self.oversight = s.oversight_grpc.OversightServiceStub(self.channel)

    def close(self):
        self.channel.close()

    def register_consent(self, identifier, purpose, evidence, days=30, single_use=False, request_id="consent"):
        """Files the subject's signed consent (its SHA-256) and returns the reference to quote."""
        s = stubs()
        today = datetime.date.today()
        until = today + datetime.timedelta(days=days)
        answer = self.consents.RegisterConsent(
            s.consent.RegisterConsentRequest(
                request_id=request_id, subject_kind=s.common.SUBJECT_KIND_INDIVIDUAL, subject_identifier=identifier,
                purpose=_purpose(purpose), single_use=single_use, evidence_sha256=hashlib.sha256(evidence).digest(),
                valid_from=s.common.CalendarDate(year=today.year, month=today.month, day=today.day),
                valid_until=s.common.CalendarDate(year=until.year, month=until.month, day=until.day),
            ),
            timeout=self.timeout,
        )
        return answer.consent_reference

    def individual_report(self, identifier, purpose, consent="", request_id=""):
        """The masked report and its log receipt (a ReportResponse message)."""
        s = stubs()
        return self.reports.GetIndividualReport(
            s.report.IndividualReportRequest(identifier=identifier, purpose=_purpose(purpose), consent_reference=consent, request_id=request_id),
            timeout=self.timeout,
        )

    def checkpoint(self):
        """The latest signed checkpoint (regulators)."""
        return self.oversight.GetCheckpoint(stubs().oversight.GetCheckpointRequest(), timeout=self.timeout)

    def prove_receipt(self, verifier_key, entry_index, leaf):
        """Proves that a receipt is in the log against a checkpoint signed by `verifier_key`. Returns the
        checkpoint's (size, root); raises ValueError when anything does not verify."""
        note = self.checkpoint().signed_note
        origin, size, root = verify_note(verifier_key, note)
        proof = self.oversight.GetInclusionProof(
            stubs().oversight.InclusionProofRequest(entry_index=entry_index, tree_size=size), timeout=self.timeout
        )
        verify_inclusion(entry_index, size, leaf, list(proof.proof), root)
        return size, root

    def _entry_bytes(self, index):
        page = self.oversight.GetEntries(stubs().oversight.GetEntriesRequest(start=index, count=1), timeout=self.timeout)
        if not page.entries or page.entries[0].index != index:
            return None
        return page.entries[0]

    def log_entry(self, index):
        """Entry `index` of the log, decoded (docs/LOG-ENTRY.md), with the parts it refers to (actor, legal basis,
        disclosure profile) filled in from the entries holding them, and its leaf hash. Reads only: prove the
        leaf with prove_receipt (and the holders' leaves likewise) to have it proven."""
        logged = self._entry_bytes(index)
        if logged is None:
            raise ValueError("the log has no entry %d" % index)
        if leaf_hash(logged.canonical) != logged.leaf_hash:
            raise ValueError("entry %d does not hash to the leaf the server sent" % index)

        def holder(i):
            found = self._entry_bytes(i)
            return decode_entry(found.canonical) if found is not None else None

        return resolve(decode_entry(logged.canonical), index, holder), logged.leaf_hash


def leaf_hash(entry):
    """RFC 6962 leaf hash of an entry's canonical bytes."""
    return hashlib.sha256(b"\x00" + entry).digest()


def _node(left, right):
    return hashlib.sha256(b"\x01" + left + right).digest()


def verify_inclusion(index, size, leaf, proof, root):
    """RFC 9162 inclusion verification; raises ValueError."""
    if index >= size or len(leaf) != 32 or len(root) != 32 or any(len(p) != 32 for p in proof):
        raise ValueError("malformed inclusion proof")
    fn, sn, r = index, size - 1, leaf
    for p in proof:
        if sn == 0:
            raise ValueError("proof too long")
        if fn & 1 or fn == sn:
            r = _node(p, r)
            if not fn & 1:
                while True:
                    fn >>= 1
                    sn >>= 1
                    if fn & 1 or fn == 0:
                        break
        else:
            r = _node(r, p)
        fn >>= 1
        sn >>= 1
    if sn != 0 or r != root:
        raise ValueError("the proof does not lead to the root")


def verify_note(verifier_key, note):
    """Checks a C2SP signed note's Ed25519 signature with a `name+hash+base64` verifier key and returns the
    checkpoint's (origin, size, root)."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    name, key_hash, key = verifier_key.split("+", 2)
    raw = base64.b64decode(key)
    if raw[0] != 1 or hashlib.sha256(name.encode() + b"\n" + raw).digest()[:4].hex() != key_hash:
        raise ValueError("not an Ed25519 verifier key")
    body, _, signatures = note.rpartition("\n\n")
    body += "\n"
    for line in signatures.splitlines():
        prefix = "\u2014 " + name + " "
        if line.startswith(prefix):
            blob = base64.b64decode(line[len(prefix):])
            if blob[:4].hex() == key_hash:
                Ed25519PublicKey.from_public_bytes(raw[1:]).verify(blob[4:], body.encode())
                origin, size, root = body.split("\n")[:3]
                return origin, int(size), base64.b64decode(root)
    raise ValueError("no signature by " + name)
