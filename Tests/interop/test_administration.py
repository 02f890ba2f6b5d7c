"""An operator runs a real bureaud from the command line: the store is bureaud's, the CA's key the operator's."""
import subprocess

import grpc

from conftest import BIN, seeded_bureaud
from test_interop import channel

LENDER = "91110000600037341L"


def bureau(address, certs, *arguments):
    """Runs `bureau ARGUMENTS` as the demo operator, staff member op-9, against bureaud at `address`."""
    return subprocess.run(
        [str(BIN / "bureau"), *arguments, "--server", address, "--cert", str(certs / "operator.pem"),
         "--ca", str(certs / "ca.pem"), "--operator-id", "op-9"],
        check=True, capture_output=True, text=True,
    ).stdout


def test_operator_registers_issues_and_revokes_over_the_api(stubs, certs, tmp_path):
    data = tmp_path / "data"
    proc, _, address = seeded_bureaud(certs, data)
    try:
        bureau(address, certs, "institution", "add", "--code", LENDER, "--name", "Interop Lender", "--role", "agency",
               "--purpose", "loan-origination")
        # The certificate is signed here, with the openssl-made development CA; bureaud checks it against ca.pem.
        out = tmp_path / "lender"
        printed = bureau(address, certs, "institution", "issue-cert", "--code", LENDER, "--ca-dir", str(certs), "--out", str(out))
        assert "bound as log entry" in printed
        (tmp_path / "lender.pem").replace(certs / "interop-lender.pem")
        (tmp_path / "lender.key").replace(certs / "interop-lender.key")
        with channel(address, certs, who="interop-lender") as ch:
            catalog = stubs.catalog_grpc.CatalogServiceStub(ch)
            assert catalog.ListCategories(stubs.catalog.ListCategoriesRequest(), timeout=10).version == 1
            bureau(address, certs, "institution", "revoke-cert", "--pem", str(certs / "interop-lender.pem"))
            try:
                catalog.ListCategories(stubs.catalog.ListCategoriesRequest(), timeout=10)
                raise AssertionError("a revoked certificate was served")
            except grpc.RpcError as error:
                assert error.code() == grpc.StatusCode.UNAUTHENTICATED, error
        listed = bureau(address, certs, "institution", "list")
        assert "Interop Lender" in listed and "Bureau Operations" in listed
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        for name in ("interop-lender.pem", "interop-lender.key"):
            (certs / name).unlink(missing_ok=True)
