"""`bureau keys encrypt-existing` refuses a folder a running bureaud has open (naming its process), a folder
encrypted already, and a PostgreSQL store. The conversion itself is tested in the Swift suite "Converting an
installation made before encryption at rest" (EncryptExistingTests), on folders of the old layout."""
import subprocess

import pytest

from conftest import BIN, POSTGRES, seeded_bureaud


def encrypt_existing(*args):
    return subprocess.run([str(BIN / "bureau"), "keys", "encrypt-existing", *args], capture_output=True, text=True)


@pytest.mark.skipif(bool(POSTGRES), reason="an LMDB data folder only")
def test_refuses_a_folder_bureaud_has_open_then_says_nothing_to_do(certs, tmp_path):
    data = tmp_path / "data"
    proc, _, _ = seeded_bureaud(certs, data)
    try:
        running = encrypt_existing("--data", str(data))
        assert running.returncode != 0
        assert f"process {proc.pid} has" in running.stderr and "stop it first" in running.stderr, running.stderr
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        proc.log.close()
    stopped = encrypt_existing("--data", str(data))
    assert stopped.returncode != 0
    assert "encrypted at rest already" in stopped.stderr and "nothing to do" in stopped.stderr, stopped.stderr


def test_refuses_a_postgresql_store(tmp_path):
    answer = encrypt_existing("--data", str(tmp_path / "data"), "--store", "postgresql://bureau@127.0.0.1:5432/bureau")
    assert answer.returncode != 0
    assert "PostgreSQL store" in answer.stderr and "nothing to convert" in answer.stderr, answer.stderr
