"""Access-log entries as stored and hashed (docs/LOG-ENTRY.md): the compact binary entry (version byte 0x01)
and the JSON entry written before it (first byte `{`), and the references by which a compact entry names an
earlier compact entry holding the same actor, legal basis or disclosure profile.

    entry = decode_entry(logged.canonical)            # referenced parts are None, their index in entry["references"]
    entry = resolve(entry, index, lambda i: decode_entry(fetch(i)))
"""
import json

# Pinned action codes: code n is ACTIONS[n - 1]; code 0 means the name follows.
ACTIONS = [
    "report.individual", "report.business", "score.individual", "score.business",
    "furnish.submit", "furnish.correct", "furnish.delete", "furnish.seed", "furnish.import",
    "consent.register", "consent.revoke", "subject.history", "subject.statement", "subject.freeze",
    "subject.unfreeze", "subject.fraud-alert", "subject.fraud-alert-removed", "repair.request",
    "repair.approve", "repair.reject", "dispute.file", "dispute.answer", "licence.suspend",
    "licence.reinstate", "anomaly.detected", "retention.purge", "institution.register",
    "institution.update", "catalogue.replace", "certificate.bind", "certificate.revoke",
    "keys.rotate", "keys.encrypt-existing",
]
PURPOSES = [
    "loan-origination", "credit-card-origination", "post-loan-management", "guarantee-review",
    "employment-screening", "tenant-screening", "insurance-underwriting", "regulatory-supervision",
    "court-order", "self-access",
]
OUTCOMES = ["hit", "no-hit", "denied", "frozen", "applied"]
# The shared parts, in the order they appear, with the fields each holds.
PARTS = {
    "actor": ["institution", "certificate_sha256", "operator_id"],
    "legal_basis": ["legal_basis"],
    "disclosure": ["disclosure_version", "disclosed_fields"],
}
LABELS = {"actor": "actor", "legal_basis": "legal basis", "disclosure": "disclosure profile"}


class MalformedEntry(ValueError):
    """Bytes that are not a log entry."""


class UnresolvedReference(ValueError):
    """A reference that does not lead to an earlier compact entry holding that part."""


class _Reader:
    def __init__(self, data):
        self.data, self.at = bytes(data), 0

    def byte(self, what):
        if self.at >= len(self.data):
            raise MalformedEntry("ends before the " + what)
        self.at += 1
        return self.data[self.at - 1]

    def take(self, n, what):
        if n > len(self.data) - self.at:
            raise MalformedEntry("ends inside the " + what)
        self.at += n
        return self.data[self.at - n:self.at]

    def varint(self, what):
        value, shift = 0, 0
        while True:
            b = self.byte(what)
            if shift >= 64 or (shift == 63 and b > 1):
                raise MalformedEntry("the %s is longer than 64 bits" % what)
            value |= (b & 0x7F) << shift
            if not b & 0x80:
                if b == 0 and shift:
                    raise MalformedEntry("the %s is not in its shortest form" % what)
                return value
            shift += 7

    def string(self, what):
        raw = self.take(self.varint(what), what)
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            raise MalformedEntry("the %s is not UTF-8" % what) from None

    def part(self, name, entry):
        tag = self.byte(LABELS[name] + " tag")
        if tag == 1:
            entry["references"][name] = self.varint(LABELS[name] + " reference")
            for field in PARTS[name]:
                entry[field] = None
        elif tag == 0:
            if name == "actor":
                entry["institution"] = self.string("institution")
                entry["certificate_sha256"] = self.string("certificate fingerprint")
                entry["operator_id"] = self.string("operator id")
            elif name == "legal_basis":
                entry["legal_basis"] = self.string("legal basis")
            else:
                entry["disclosure_version"] = self.varint("disclosure version")
                entry["disclosed_fields"] = [self.string("disclosed field") for _ in range(self.varint("field count"))]
        else:
            raise MalformedEntry("%s tag %d is neither 0 nor 1" % (LABELS[name], tag))


def decode_entry(data):
    """The entry in `data` as a dict with the JSON entry's keys, plus "references" (part -> definition index)."""
    data = bytes(data)
    if data[:1] == b"{":
        entry = json.loads(data)
        entry["references"] = {}
        entry["version"] = 0
        return entry
    r = _Reader(data)
    if r.byte("version") != 1:
        raise MalformedEntry("version byte is not 0x01")
    entry = {"references": {}, "version": 1}
    entry["time"] = int.from_bytes(r.take(8, "time"), "big", signed=True)
    code = r.byte("action")
    if code == 0:
        entry["action"] = r.string("action name")
        if entry["action"] in ACTIONS:
            raise MalformedEntry("action %s is written by name but has a code" % entry["action"])
    elif code <= len(ACTIONS):
        entry["action"] = ACTIONS[code - 1]
    else:
        raise MalformedEntry("unknown action code %d" % code)
    entry["request_id"] = r.string("request id")
    r.part("actor", entry)
    entry["subjects"] = [r.take(32, "subject").hex() for _ in range(r.varint("subject count"))]
    purpose = r.byte("purpose")
    if purpose > len(PURPOSES):
        raise MalformedEntry("unknown purpose code %d" % purpose)
    if purpose:
        entry["purpose"] = PURPOSES[purpose - 1]
    entry["consent_reference"] = r.string("consent reference")
    r.part("legal_basis", entry)
    outcome = r.byte("outcome")
    if outcome >= len(OUTCOMES):
        raise MalformedEntry("unknown outcome code %d" % outcome)
    entry["outcome"] = OUTCOMES[outcome]
    entry["reason"] = r.string("reason")
    r.part("disclosure", entry)
    entry["change_sha256"] = r.string("change digest")
    if r.at != len(r.data):
        raise MalformedEntry("%d bytes after the last field" % (len(r.data) - r.at))
    return entry


def resolve(entry, index, holder):
    """`entry` (at log index `index`) with each referenced part filled in from the entry holding it; `holder(i)`
    returns the decoded entry at index i, or None. A reference resolves when it names a compact entry before this
    one that holds that part inline and not empty. Raises UnresolvedReference."""
    out = dict(entry)
    for name, target in entry["references"].items():
        def unresolved(why):
            return UnresolvedReference("entry %d refers to entry %d for its %s, which does not resolve: %s"
                                       % (index, target, LABELS[name], why))
        if target >= index:
            raise unresolved("a reference points back to an earlier entry")
        found = holder(target)
        if found is None or found["version"] != 1 or name in found["references"] or not {
            "actor": found["institution"] or found["certificate_sha256"] or found["operator_id"],
            "legal_basis": found["legal_basis"], "disclosure": found["disclosed_fields"],
        }[name]:
            raise unresolved("no compact entry there holds a %s of its own" % LABELS[name])
        for field in PARTS[name]:
            out[field] = found[field]
    return out
