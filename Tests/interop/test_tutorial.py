"""The Python client's tutorial, run as written against a real bureaud."""
import os
import subprocess
import sys

from conftest import BIN, ROOT


def test_tutorial_runs_as_written(certs, bureaud):
    address, data = bureaud
    env = dict(os.environ)
    env.update(
        PYTHONPATH=str(ROOT / "clients" / "python"),
        BUREAU_ADDRESS=address,
        BUREAU_CA=str(certs / "ca.pem"),
        BUREAU_CERT=str(certs / "bank.pem"),
        BUREAU_KEY=str(certs / "bank.key"),
        BUREAU_REGULATOR_CERT=str(certs / "regulator.pem"),
        BUREAU_REGULATOR_KEY=str(certs / "regulator.key"),
    )
    bank = subprocess.run(
        [sys.executable, str(ROOT / "clients" / "python" / "examples" / "loan_origination.py")],
        env=env, capture_output=True, text=True, check=True,
    ).stdout
    assert "applicant: 王** 110105********002X" in bank
    receipt = [line for line in bank.splitlines() if line.startswith("receipt: ")][0].split(" ", 1)[1]

    env["BUREAU_VERIFIER_KEY"] = subprocess.run(
        [str(BIN / "bureau"), "log", "verifier-key", "--data", str(data)], capture_output=True, text=True, check=True
    ).stdout.strip()
    regulator = subprocess.run(
        [sys.executable, str(ROOT / "clients" / "python" / "examples" / "regulator_verify.py"), receipt],
        env=env, capture_output=True, text=True, check=True,
    ).stdout
    assert "signature verified" in regulator
    assert "report.individual by 91110000100000016D for loan-origination -> hit" in regulator
    assert "fields disclosed under table v" in regulator and " 0 fields" not in regulator
