"""Python's grpcio, an independent client, against a real bureaud over mutual TLS."""
import datetime
import hashlib
import subprocess

import grpc
import pytest

from conftest import BIN, store_args

PERSON = "11010519491231002X"


def channel(address, certs, who="bank"):
    credentials = grpc.ssl_channel_credentials(
        root_certificates=(certs / "ca.pem").read_bytes(),
        private_key=(certs / f"{who}.key").read_bytes(),
        certificate_chain=(certs / f"{who}.pem").read_bytes(),
    )
    return grpc.secure_channel(address, credentials, options=[("grpc.ssl_target_name_override", "localhost")])


def date(stubs, d):
    return stubs.common.CalendarDate(year=d.year, month=d.month, day=d.day)


def register_consent(stubs, ch, single_use=False):
    """The bank files the consent the applicant signed and gets the reference to quote."""
    consents = stubs.consent_grpc.ConsentServiceStub(ch)
    today = datetime.date.today()
    answer = consents.RegisterConsent(
        stubs.consent.RegisterConsentRequest(
            request_id="py-consent-1",
            subject_kind=stubs.common.SUBJECT_KIND_INDIVIDUAL,
            subject_identifier=PERSON,
            purpose=stubs.common.PURPOSE_LOAN_ORIGINATION,
            valid_from=date(stubs, today),
            valid_until=date(stubs, today + datetime.timedelta(days=30)),
            evidence_sha256=hashlib.sha256(b"signed consent form, applicant 42").digest(),
            single_use=single_use,
        ),
        timeout=10,
    )
    assert answer.consent_reference.startswith("CONSENT-")
    assert len(answer.receipt.leaf_hash) == 32
    return answer.consent_reference


def test_bank_gets_masked_report_with_consent(stubs, certs, bureaud):
    address, _ = bureaud
    with channel(address, certs) as ch:
        reference = register_consent(stubs, ch)
        client = stubs.report_grpc.ReportServiceStub(ch)
        request = stubs.report.IndividualReportRequest(
            identifier=PERSON,
            purpose=stubs.common.PURPOSE_LOAN_ORIGINATION,
            consent_reference=reference,
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
    assert response.report.summary.accounts == 3
    assert response.report.header.tier == 3
    assert len(response.receipt.leaf_hash) == 32
    assert response.report.header.report_number == str(response.receipt.entry_index)


def test_single_use_consent_then_revoked_consent(stubs, certs, bureaud):
    address, _ = bureaud
    with channel(address, certs) as ch:
        client = stubs.report_grpc.ReportServiceStub(ch)
        once = register_consent(stubs, ch, single_use=True)
        request = stubs.report.IndividualReportRequest(
            identifier=PERSON, purpose=stubs.common.PURPOSE_LOAN_ORIGINATION, consent_reference=once, request_id="py-once"
        )
        client.GetIndividualReport(request, timeout=10)
        with pytest.raises(grpc.RpcError) as failure:
            client.GetIndividualReport(request, timeout=10)
        assert failure.value.code() == grpc.StatusCode.PERMISSION_DENIED
        assert "already used" in failure.value.details()

        standing = register_consent(stubs, ch)
        consents = stubs.consent_grpc.ConsentServiceStub(ch)
        consents.RevokeConsent(
            stubs.consent.RevokeConsentRequest(request_id="py-revoke", consent_reference=standing, reason="withdrawn by applicant"),
            timeout=10,
        )
        with pytest.raises(grpc.RpcError) as failure:
            client.GetIndividualReport(
                stubs.report.IndividualReportRequest(
                    identifier=PERSON, purpose=stubs.common.PURPOSE_LOAN_ORIGINATION, consent_reference=standing
                ),
                timeout=10,
            )
        assert failure.value.code() == grpc.StatusCode.PERMISSION_DENIED
        assert "revoked" in failure.value.details()


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
        [str(BIN / "bureau"), "log", "tail", "--data", str(data), "-n", "50", *store_args(data)], check=True, capture_output=True, text=True
    ).stdout
    assert "request py-interop-1" in out
    assert "for loan-origination -> hit" in out
    assert "for employment-screening -> denied" in out
    assert PERSON not in out
