"""Kill bureaud with SIGKILL under load: every receipt a client got must be in the log after restart."""
import hashlib
import signal
import threading
import time

import grpc

from conftest import seeded_bureaud, start_bureaud
from test_interop import PERSON, channel


def leaf_hash(canonical):
    return hashlib.sha256(b"\x00" + canonical).digest()


def root(leaves):
    """RFC 6962 Merkle tree hash."""
    if not leaves:
        return hashlib.sha256(b"").digest()
    if len(leaves) == 1:
        return leaves[0]
    k = 1
    while k * 2 < len(leaves):
        k *= 2
    return hashlib.sha256(b"\x01" + root(leaves[:k]) + root(leaves[k:])).digest()


def test_receipts_survive_sigkill(stubs, certs, tmp_path):
    data = tmp_path / "crash-data"
    proc, port, address = seeded_bureaud(certs, data)

    receipts = []
    lock = threading.Lock()
    stop = threading.Event()

    def load(worker):
        with channel(address, certs) as ch:
            client = stubs.report_grpc.ReportServiceStub(ch)
            n = 0
            while not stop.is_set():
                n += 1
                request = stubs.report.IndividualReportRequest(
                    identifier=PERSON, purpose=stubs.common.PURPOSE_POST_LOAN_MANAGEMENT, request_id=f"crash-{worker}-{n}"
                )
                try:
                    answer = client.GetIndividualReport(request, timeout=2)
                except grpc.RpcError:
                    continue
                with lock:
                    receipts.append((answer.receipt.entry_index, answer.receipt.leaf_hash))

    threads = [threading.Thread(target=load, args=(w,)) for w in range(8)]
    for t in threads:
        t.start()
    time.sleep(1.5)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=10)
    stop.set()
    for t in threads:
        t.join(timeout=30)
    assert len(receipts) > 20, "the load produced too few answers"

    proc = start_bureaud(certs, data, port)
    try:
        with channel(address, certs, who="regulator") as ch:
            oversight = stubs.oversight_grpc.OversightServiceStub(ch)
            checkpoint = oversight.GetCheckpoint(stubs.oversight.GetCheckpointRequest(), timeout=10)
            leaves = []
            while len(leaves) < checkpoint.tree_size:
                page = oversight.GetEntries(
                    stubs.oversight.GetEntriesRequest(start=len(leaves), count=1000), timeout=10
                )
                for entry in page.entries:
                    assert entry.index == len(leaves)
                    assert leaf_hash(entry.canonical) == entry.leaf_hash
                    leaves.append(entry.leaf_hash)
        assert root(leaves) == checkpoint.root_hash, "the entries do not make up the checkpoint's root"
        for index, leaf in receipts:
            assert index < len(leaves), f"receipt {index} is beyond the log ({len(leaves)} entries)"
            assert leaves[index] == leaf, f"receipt {index} does not match the logged entry"
        print(f"checked {len(receipts)} receipts against a log of {len(leaves)} entries after SIGKILL")
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        proc.log.close()
