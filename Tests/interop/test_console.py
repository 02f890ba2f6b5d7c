"""The regulator's console in a real browser: headless Debian chromium driven by Selenium, against one real bureaud
with demo data and one `bureau console`. Screenshots go to Tests/interop/artifacts (git-ignored)."""
import json
import re
import shutil
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support import expected_conditions
from selenium.webdriver.support.ui import WebDriverWait

from conftest import BIN, free_port, seed, start_bureaud

BANK = "91110000100000016D"
PERSON = "11010519491231002X"
ARTIFACTS = Path(__file__).resolve().parent / "artifacts"


def bureau(*arguments, check=True):
    return subprocess.run([str(BIN / "bureau"), *arguments], check=check, capture_output=True, text=True, timeout=60)


def bank_report(address, certs, purpose="loan-origination", consent="DEMO-CONSENT-0001", identifier=PERSON, kind="individual"):
    return bureau("report", kind, "--id", identifier, "--purpose", purpose, "--consent", consent, "--server", address,
                  "--cert", str(certs / "bank.pem"), "--ca", str(certs / "ca.pem"), check=False)


class Bureau:
    """One bureaud on a fixed port, restartable on another data folder."""

    def __init__(self, certs, port):
        self.certs, self.port, self.proc = certs, port, None
        self.address = f"127.0.0.1:{port}"

    def start(self, data):
        self.proc = start_bureaud(self.certs, data, self.port)

    def stop(self):
        if self.proc:
            self.proc.terminate()
            self.proc.wait(timeout=30)
            self.proc.log.close()
            self.proc = None


@pytest.fixture(scope="module")
def setup(certs, tmp_path_factory):
    """bureaud on demo data (a copy of the data folder taken before it started, for the fork) and the console."""
    root = tmp_path_factory.mktemp("console")
    data, earlier = root / "data", root / "data-earlier"
    data.mkdir()
    seed(certs, data)
    server = Bureau(certs, free_port())
    # bureaud makes its checkpoint key on first start: the copy is taken after it, so both logs sign with one key.
    server.start(data)
    server.stop()
    shutil.copytree(data, earlier)
    server.start(data)
    # A refused query too (the bank is not licensed for employment screening).
    assert bank_report(server.address, certs, purpose="employment-screening", consent="C-1").returncode != 0
    key = bureau("log", "verifier-key", "--data", str(data)).stdout.strip()
    memory = root / "memory.json"
    console = subprocess.Popen(
        [str(BIN / "bureau"), "console", "--server", server.address, "--cert", str(certs / "regulator.pem"),
         "--ca", str(certs / "ca.pem"), "--verifier-key", key, "--listen", "127.0.0.1:0", "--memory", str(memory)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    url = None
    deadline = time.time() + 30
    while time.time() < deadline and url is None:
        line = console.stdout.readline()
        match = re.search(r"(http://127\.0\.0\.1:\d+)/\?token=([0-9a-f]{64})", line)
        if match:
            url = match
        elif console.poll() is not None:
            break
    assert url, f"the console did not start: {console.stderr.read()}"
    try:
        yield {"server": server, "base": url.group(1), "token": url.group(2), "url": url.group(0), "memory": memory,
               "earlier": earlier, "certs": certs}
    finally:
        console.terminate()
        console.wait(timeout=30)
        server.stop()


@pytest.fixture(scope="module")
def browser(setup):
    """One headless chromium for the suite, 1280 px wide, with the session cookie set by the printed URL."""
    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which("chromium") or "/usr/bin/chromium"
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1280,1000", "--lang=en-GB"):
        options.add_argument(argument)
    driver = webdriver.Chrome(service=Service(shutil.which("chromedriver") or "/usr/bin/chromedriver"), options=options)
    driver.implicitly_wait(2)
    driver.get(setup["url"])
    try:
        yield driver
    finally:
        driver.quit()


def screenshot(driver, name):
    ARTIFACTS.mkdir(exist_ok=True)
    driver.save_screenshot(str(ARTIFACTS / name))


def follow(driver, element):
    """Clicks a link or button and waits for the next page."""
    page = driver.find_element(By.TAG_NAME, "html")
    element.click()
    WebDriverWait(driver, 15).until(expected_conditions.staleness_of(page))


def rows(driver):
    return driver.find_elements(By.CSS_SELECTOR, "#results tbody tr")


def test_requests_without_the_session_token_are_refused(setup):
    for path in ("/", "/log", "/entry/0", "/static/console.css", "/?token=" + "0" * 64):
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(setup["base"] + path, timeout=10)
        assert refused.value.code == 403


def test_each_page_loads(setup, browser):
    browser.get(setup["base"] + "/")
    assert browser.current_url == setup["base"] + "/", "the token leaves the address bar"
    assert browser.find_element(By.TAG_NAME, "h1").text == "Dashboard"
    assert int(browser.find_element(By.ID, "tree-size").text) >= 12
    for chart in ("chart-purpose", "chart-outcome", "chart-institution"):
        assert browser.find_element(By.ID, chart).find_elements(By.TAG_NAME, "rect"), chart
    assert BANK in browser.find_element(By.ID, "refusals").text
    # Times are shown in the viewer's zone by the page's script, with UTC kept on hover.
    shown = browser.find_element(By.TAG_NAME, "time")
    assert shown.get_attribute("title").endswith(" UTC") and re.match(r"\d{4}-\d\d-\d\dT", shown.get_attribute("datetime"))
    assert shown.text != shown.get_attribute("title"), "converted by console.js"
    assert not browser.find_elements(By.CSS_SELECTOR, ".banner")
    screenshot(browser, "dashboard.png")
    for path, title in (("/log", "Access log"), ("/checkpoints", "Checkpoints"), ("/actions", "Actions")):
        browser.get(setup["base"] + path)
        assert browser.find_element(By.TAG_NAME, "h1").text == title
        assert not browser.find_elements(By.CSS_SELECTOR, ".banner"), path
        if path == "/checkpoints":
            assert browser.find_elements(By.CSS_SELECTOR, "#seen tbody tr"), "the checkpoint seen is remembered"


def test_keyboard_alone_gets_around(setup, browser):
    browser.get(setup["base"] + "/")
    ActionChains(browser).send_keys(Keys.TAB).perform()
    assert browser.switch_to.active_element.get_attribute("href").endswith("#main"), "a skip link comes first"
    ActionChains(browser).send_keys(Keys.TAB, Keys.TAB).perform()
    assert browser.switch_to.active_element.text == "Access log"
    page = browser.find_element(By.TAG_NAME, "html")
    ActionChains(browser).send_keys(Keys.ENTER).perform()
    WebDriverWait(browser, 15).until(expected_conditions.staleness_of(page))
    assert browser.find_element(By.TAG_NAME, "h1").text == "Access log"


def test_switches_to_chinese_and_back(setup, browser):
    browser.get(setup["base"] + "/")
    follow(browser, browser.find_element(By.CSS_SELECTOR, "a.lang"))
    assert browser.find_element(By.TAG_NAME, "h1").text == "概览"
    browser.get(setup["base"] + "/log")
    assert browser.find_element(By.TAG_NAME, "h1").text == "查询日志", "the choice is remembered"
    follow(browser, browser.find_element(By.CSS_SELECTOR, "a.lang"))
    assert browser.find_element(By.TAG_NAME, "h1").text == "Access log"


def test_search_by_subject(setup, browser):
    browser.get(setup["base"] + "/log")
    browser.find_element(By.ID, "f-subject").send_keys(PERSON)
    follow(browser, browser.find_element(By.ID, "search"))
    found = rows(browser)
    purposes = {row.find_elements(By.TAG_NAME, "td")[4].text for row in found}
    assert {"loan-origination", "employment-screening"} <= purposes, purposes
    for row in found:
        assert "✔ Verified" in row.text
    # The identifier is hashed by the bureau: only keyed hashes show.
    assert PERSON not in browser.find_element(By.ID, "results").text


def test_search_by_institution(setup, browser):
    browser.get(setup["base"] + "/log")
    browser.find_element(By.ID, "f-institution").send_keys(BANK)
    follow(browser, browser.find_element(By.ID, "search"))
    found = rows(browser)
    assert len(found) >= 2
    for row in found:
        cells = row.find_elements(By.TAG_NAME, "td")
        assert cells[3].text == BANK and "✔ Verified" in cells[7].text
    outcomes = [row.find_elements(By.TAG_NAME, "td")[5].text for row in found]
    assert "✘ denied" in outcomes, "a refusal is marked with a symbol and a word"


def test_search_with_a_bad_field_explains(setup, browser):
    browser.get(setup["base"] + "/log?institution=not-a-code")
    assert "institution" in browser.find_element(By.ID, "search-error").text


def test_an_entry_opens_verified(setup, browser):
    browser.get(setup["base"] + f"/log?institution={BANK}&purpose=loan-origination")
    follow(browser, rows(browser)[0].find_element(By.TAG_NAME, "a"))
    assert browser.find_element(By.ID, "entry-mark").text == "✔ Verified"
    fields = browser.find_element(By.ID, "entry-fields").text
    assert "loan-origination" in fields and BANK in fields
    assert browser.find_elements(By.CSS_SELECTOR, "ol.proof li"), "the inclusion proof is shown"
    screenshot(browser, "entry.png")


def entry_fields(driver):
    """The entry page's fields, by name."""
    cells = (row.find_elements(By.TAG_NAME, "td") for row in driver.find_elements(By.CSS_SELECTOR, "#entry-fields tbody tr"))
    return {name.text: value.text for name, value in cells}


def test_a_report_entry_shows_the_parts_it_refers_to(setup, browser):
    """A report after the first by the same bank under the same profile holds its actor, legal basis and disclosure
    profile as references to an earlier entry: the page shows them resolved against the verified entry holding them."""
    server, certs = setup["server"], setup["certs"]
    for _ in range(2):
        assert bank_report(server.address, certs).returncode == 0
    browser.get(setup["base"] + f"/log?institution={BANK}&purpose=loan-origination&outcome=hit")
    links = [row.find_element(By.TAG_NAME, "a") for row in rows(browser)]
    newest = max(links, key=lambda link: int(link.text.lstrip("#")))
    follow(browser, newest)
    assert browser.find_element(By.ID, "entry-mark").text == "✔ Verified"
    fields = entry_fields(browser)
    assert fields["Institution"] == BANK
    assert fields["legal_basis"].startswith("Regulation on the Administration of Credit Reporting Industry")
    disclosed = fields["disclosed_fields"].split(", ")
    assert len(disclosed) >= 5 and any(field.startswith("identity.") for field in disclosed), disclosed
    assert int(fields["disclosure_version"]) >= 1
    # The parts are not in the entry's bytes: they came through its references.
    stored = bytes.fromhex(browser.find_element(By.CSS_SELECTOR, "details pre").get_attribute("textContent").strip())
    assert stored[0] == 0x01, "a compact entry"
    for part in (BANK, fields["legal_basis"], disclosed[0]):
        assert part.encode() not in stored, part


def test_export_csv_and_jsonl(setup, browser):
    cookie = f"bureau_console={browser.get_cookie('bureau_console')['value']}"
    lines = {}
    for fmt in ("csv", "jsonl"):
        request = urllib.request.Request(f"{setup['base']}/log/export?format={fmt}&institution={BANK}", headers={"Cookie": cookie})
        with urllib.request.urlopen(request, timeout=30) as answer:
            lines[fmt] = answer.read().decode().splitlines()
    assert lines["csv"][0].startswith("index,time,action,institution")
    assert len(lines["csv"]) - 1 == len(lines["jsonl"]) >= 2
    exported = [json.loads(line) for line in lines["jsonl"]]
    assert all(entry["institution"] == BANK for entry in exported)
    # Every entry resolved: a report's disclosed fields and legal basis, though later reports only refer to them.
    reports = [entry for entry in exported if entry["action"] == "report.individual" and entry["outcome"] == "hit"]
    assert len(reports) >= 2 and all(entry["disclosed_fields"] and entry["legal_basis"] for entry in reports)
    assert [row.split(",")[0] for row in lines["csv"][1:]] == [str(entry["index"]) for entry in exported]


def test_suspending_the_bank_refuses_it(setup, browser):
    server, certs = setup["server"], setup["certs"]
    assert bank_report(server.address, certs).returncode == 0
    browser.get(setup["base"] + "/actions")
    browser.find_element(By.ID, "l-institution").send_keys(BANK)
    browser.find_element(By.ID, "l-reason").send_keys("inspection finding 7")
    browser.find_element(By.ID, "l-operator").send_keys("analyst-li")
    follow(browser, browser.find_element(By.ID, "licence-submit"))
    summary = browser.find_element(By.ID, "confirm-summary").text
    assert BANK in summary and "analyst-li" in summary
    follow(browser, browser.find_element(By.ID, "confirm"))
    receipt = browser.find_element(By.ID, "receipt")
    assert browser.find_element(By.ID, "receipt-status").text == "suspended"
    assert "✔ Verified" in receipt.text
    refused = bank_report(server.address, certs)
    assert refused.returncode != 0 and "permissionDenied" in refused.stderr and "is suspended" in refused.stderr
    # The logged action names the analyst.
    follow(browser, browser.find_element(By.ID, "receipt-entry"))
    assert "analyst analyst-li: inspection finding 7" in browser.find_element(By.ID, "entry-fields").text
    # Reinstated through the console again.
    browser.get(setup["base"] + "/actions")
    browser.find_element(By.ID, "l-institution").send_keys(BANK)
    browser.find_element(By.CSS_SELECTOR, "input[name=action][value=reinstate]").click()
    browser.find_element(By.ID, "l-reason").send_keys("finding remedied")
    browser.find_element(By.ID, "l-operator").send_keys("analyst-li")
    follow(browser, browser.find_element(By.ID, "licence-submit"))
    follow(browser, browser.find_element(By.ID, "confirm"))
    assert browser.find_element(By.ID, "receipt-status").text == "active"
    assert bank_report(server.address, certs).returncode == 0


def test_a_verifier_key_of_another_log_stops_the_console(setup, tmp_path):
    """A well-formed key that is not the bureau's: the first checkpoint does not verify, and the console says so."""
    import base64
    import hashlib

    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    name = "bureau.local/access-log"
    public = Ed25519PrivateKey.generate().public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    key_hash = hashlib.sha256(name.encode() + b"\n\x01" + public).digest()[:4].hex()
    encoded = base64.b64encode(b"\x01" + public).decode()
    key = f"{name}+{key_hash}+{encoded}"
    certs = setup["certs"]
    result = bureau("console", "--server", setup["server"].address, "--cert", str(certs / "regulator.pem"), "--ca",
                    str(certs / "ca.pem"), "--verifier-key", key, "--listen", "127.0.0.1:0", "--memory",
                    str(tmp_path / "memory.json"), check=False)
    assert result.returncode != 0
    assert "--verifier-key: the bureau's checkpoint does not verify" in result.stderr, result.stderr


def test_bureaud_gone_shows_a_banner(setup, browser):
    setup["server"].stop()
    browser.get(setup["base"] + "/")
    banner = browser.find_element(By.ID, "unreachable")
    assert "bureaud cannot be reached" in banner.text
    assert "Traceback" not in browser.page_source and "Fatal error" not in browser.page_source
    assert browser.find_element(By.ID, "tree-size").text, "what was verified before still shows"


def test_a_forked_log_is_reported_on_every_page(setup, browser):
    """bureaud comes back on a copy of its data folder taken earlier, which then receives other entries: both logs
    are signed with the same key, neither extends the other."""
    server, certs = setup["server"], setup["certs"]
    server.start(setup["earlier"])
    assert bank_report(server.address, certs, kind="business", identifier="91110000200000013F", purpose="guarantee-review",
                       consent="DEMO-CONSENT-0002").returncode == 0
    deadline = time.time() + 30
    while True:
        browser.get(setup["base"] + "/")
        if browser.find_elements(By.ID, "fork-warning") or time.time() > deadline:
            break
        time.sleep(0.5)
    assert browser.find_elements(By.ID, "fork-warning"), [b.text for b in browser.find_elements(By.CSS_SELECTOR, ".banner")]
    warning = browser.find_element(By.ID, "fork-warning")
    assert "FORK" in warning.text
    assert warning.value_of_css_property("color") == "rgba(176, 0, 32, 1)", "in red"
    assert "bureau.local/access-log" in warning.text, "with the evidence: both signed notes"
    screenshot(browser, "fork.png")
    for path in ("/log", "/checkpoints", "/actions"):
        browser.get(setup["base"] + path)
        assert browser.find_elements(By.ID, "fork-warning"), path
    kept = json.loads(setup["memory"].read_text())
    assert kept["forks"], "the evidence is kept in the memory file"


@pytest.mark.parametrize(
    "change, says",
    [
        ({"--verifier-key": None}, "--verifier-key: missing"),
        ({"--verifier-key": "bureau.local/access-log+00000000+AAAA"}, "--verifier-key"),
        ({"--cert": "missing.pem"}, "--cert: cannot read"),
        ({"--key": "ca.pem"}, "--key"),
        ({"--cert": "ca.pem", "--key": "regulator.key"}, "--key"),
        ({"--listen": "0.0.0.0:0"}, "--allow-remote"),
    ],
)
def test_a_console_without_a_valid_key_or_certificate_explains_and_exits(certs, change, says):
    options = {"--server": "127.0.0.1:1", "--cert": "regulator.pem", "--ca": "ca.pem",
               "--verifier-key": "bureau.local/access-log+42a95294+ARxVj7P3cgPZ35qlqh9OLducX+namnNtiJX7lOuzWr3F",
               "--listen": "127.0.0.1:0", "--memory": str(certs / "unused-memory.json")}
    options.update(change)
    arguments = ["console"]
    for name, value in options.items():
        if value is not None:
            arguments += [name, str(certs / value) if name in ("--cert", "--key", "--ca") else value]
    result = bureau(*arguments, check=False)
    assert result.returncode != 0
    assert says in result.stderr, result.stderr
    assert "Fatal error" not in result.stderr
