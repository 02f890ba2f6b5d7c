"""Python's grpcio, an independent client, against a real bureaud over mutual TLS."""
import subprocess

import grpc
import pytest

from conftest import BIN

PERSON = "11010519491231002X"


def channel(address, certs, who="bank"):
    credentials = grpc.ssl_channel_credentials(
        root_certificates=(certs / "ca.pem").read_bytes(),
        private_key=(certs / f"{who}.key").read_bytes(),
        certificate_chain=(certs / f"{who}.pem").read_bytes(),
    )
    return grpc.secure_channel(address, credentials, options=[("grpc.ssl_target_name_override", "localhost")])


def test_bank_gets_masked_report(stubs, certs, bureaud):
    address, _ = bureaud
    with channel(address, certs) as ch:
        client = stubs.report_grpc.ReportServiceStub(ch)
        request = stubs.report.IndividualReportRequest(
            identifier=PERSON,
            purpose=stubs.common.PURPOSE_LOAN_ORIGINATION,
            consent_reference="consent-py-1",
            request_id="py-interop-1",
        )
        response = client.GetIndividualReport(request, timeout=10)
    identity = response.report.identity
    assert identity.name == "王**"
    assert identity.identifier == "110105********002X"
    assert identity.birth_date.year == 1949 and identity.birth_date.month == 0
    assert identity.phone == "138****5678"
    assert identity.address.detail == ""
    assert len(response.report.accounts) == 3
    assert all(a.account_number.startswith("*") for a in response.report.accounts)
    assert len(response.receipt.leaf_hash) == 32
    assert response.report.header.report_number == str(response.receipt.entry_index)


def test_unlicensed_purpose_is_denied(stubs, certs, bureaud):
    address, _ = bureaud
    with channel(address, certs) as ch:
        client = stubs.report_grpc.ReportServiceStub(ch)
        request = stubs.report.IndividualReportRequest(
            identifier=PERSON, purpose=stubs.common.PURPOSE_EMPLOYMENT_SCREENING, consent_reference="c", request_id="py-2"
        )
        with pytest.raises(grpc.RpcError) as failure:
            client.GetIndividualReport(request, timeout=10)
    assert failure.value.code() == grpc.StatusCode.PERMISSION_DENIED
    assert "employment-screening" in failure.value.details()
    trailers = dict(failure.value.trailing_metadata() or ())
    assert "bureau-receipt-index" in trailers


def test_invalid_identifier_names_the_field(stubs, certs, bureaud):
    address, _ = bureaud
    with channel(address, certs) as ch:
        client = stubs.report_grpc.ReportServiceStub(ch)
        request = stubs.report.IndividualReportRequest(
            identifier="110101199001011234", purpose=stubs.common.PURPOSE_LOAN_ORIGINATION, consent_reference="c"
        )
        with pytest.raises(grpc.RpcError) as failure:
            client.GetIndividualReport(request, timeout=10)
    assert failure.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert failure.value.details().startswith("identifier: ")


def test_connection_without_client_certificate_fails(stubs, certs, bureaud):
    address, _ = bureaud
    credentials = grpc.ssl_channel_credentials(root_certificates=(certs / "ca.pem").read_bytes())
    with grpc.secure_channel(address, credentials, options=[("grpc.ssl_target_name_override", "localhost")]) as ch:
        client = stubs.catalog_grpc.CatalogServiceStub(ch)
        with pytest.raises(grpc.RpcError) as failure:
            client.ListCategories(stubs.catalog.ListCategoriesRequest(), timeout=5)
    assert failure.value.code() == grpc.StatusCode.UNAVAILABLE


def test_both_queries_show_in_log_tail(stubs, certs, bureaud):
    address, data = bureaud
    out = subprocess.run(
        [str(BIN / "bureau"), "log", "tail", "--data", str(data), "-n", "50"], check=True, capture_output=True, text=True
    ).stdout
    assert "request py-interop-1" in out
    assert "for loan-origination -> hit" in out
    assert "for employment-screening -> denied" in out
    assert PERSON not in out
