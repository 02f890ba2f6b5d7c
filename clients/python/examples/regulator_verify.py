"""A regulator proves that a report's receipt is in the log, knowing only the bureau's verifier key."""
import os
import sys

from bureau_client import Bureau

verifier_key = os.environ["BUREAU_VERIFIER_KEY"]
index, leaf = sys.argv[1].split(":")
regulator = Bureau(
    os.environ.get("BUREAU_ADDRESS", "127.0.0.1:50051"),
    ca=os.environ.get("BUREAU_CA", "certs/ca.pem"),
    cert=os.environ.get("BUREAU_REGULATOR_CERT", "certs/regulator.pem"),
    key=os.environ.get("BUREAU_REGULATOR_KEY", "certs/regulator.key"),
)
size, root = regulator.prove_receipt(verifier_key, int(index), bytes.fromhex(leaf))
print(f"receipt {index} is in the log of {size} entries (root {root.hex()}), signature verified")
entry, entry_leaf = regulator.log_entry(int(index))
assert entry_leaf == bytes.fromhex(leaf), "the entry the server sent is not the one of the receipt"
print(f"entry {index}: {entry['action']} by {entry['institution']} for {entry['purpose']} -> {entry['outcome']}, "
      f"{len(entry['disclosed_fields'])} fields disclosed under table v{entry['disclosure_version']}")
regulator.close()
