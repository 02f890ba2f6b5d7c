"""A bank's loan-origination query: file the applicant's consent, then ask for the report."""
import os

from bureau_client import Bureau

bank = Bureau(
    os.environ.get("BUREAU_ADDRESS", "127.0.0.1:50051"),
    ca=os.environ.get("BUREAU_CA", "certs/ca.pem"),
    cert=os.environ.get("BUREAU_CERT", "certs/bank.pem"),
    key=os.environ.get("BUREAU_KEY", "certs/bank.key"),
)
applicant = "11010519491231002X"
consent = bank.register_consent(applicant, "loan-origination", evidence=b"scanned consent form of application 42")
answer = bank.individual_report(applicant, "loan-origination", consent=consent, request_id="application-42")
report = answer.report
print("applicant:", report.identity.name, report.identity.identifier)
print("score:", report.score.value, [reason.text for reason in report.score.reasons])
print("accounts:", len(report.accounts), "delinquent:", report.summary.delinquent_accounts)
print(f"receipt: {answer.receipt.entry_index}:{answer.receipt.leaf_hash.hex()}")
bank.close()
