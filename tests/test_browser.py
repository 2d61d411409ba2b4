"""The search page in a real headless Chromium (Debian's chromium and chromedriver), against
the service under gunicorn: type a query, submit, see results; errors are shown plainly."""

from __future__ import annotations

import shutil

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as ec
from selenium.webdriver.support.ui import Select, WebDriverWait

from tests.conftest import API_TOKEN, ARTIFACTS

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    chromium, chromedriver = shutil.which("chromium"), shutil.which("chromedriver")
    if not (chromium and chromedriver):
        pytest.fail("Chromium and chromedriver are needed: `make system-deps` installs them")
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    # This machine's network is closed: without these flags Chromium keeps dialling out.
    for flag in (
        "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-quic",
        "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync",
        "--window-size=1280,1600", f"--user-data-dir={tmp_path_factory.mktemp('chromium')}",
    ):  # fmt: skip
        options.add_argument(flag)
    driver = webdriver.Chrome(options=options, service=Service(executable_path=chromedriver))
    yield driver
    driver.quit()


def test_type_a_query_submit_and_see_results(browser, gunicorn_server):
    browser.get(gunicorn_server.url + "/")
    assert browser.title == "Financial news search"
    Select(browser.find_element(By.ID, "field")).select_by_value("embedding1155d")
    browser.find_element(By.ID, "query").send_keys("banks cutting jobs")
    size = browser.find_element(By.ID, "size")
    size.clear()
    size.send_keys("5")
    browser.find_element(By.ID, "submit").click()
    WebDriverWait(browser, 30).until(ec.presence_of_all_elements_located((By.CSS_SELECTOR, "#results .result")))
    results = browser.find_elements(By.CSS_SELECTOR, "#results .result")
    assert len(results) == 5
    first = results[0]
    link = first.find_element(By.CSS_SELECTOR, "h2 a")
    assert link.text and link.get_attribute("href").startswith("https://")
    badge = first.find_element(By.CSS_SELECTOR, ".badge")
    assert badge.text.lower() in ("positive", "negative", "neutral")
    assert "score" in first.find_element(By.CSS_SELECTOR, ".score").text
    assert first.find_element(By.TAG_NAME, "time").text[:2] == "20"
    assert "5 results" in browser.find_element(By.ID, "status").text
    ARTIFACTS.mkdir(exist_ok=True)
    browser.save_screenshot(str(ARTIFACTS / "search-page.png"))


def test_date_range_narrows_the_results(browser, gunicorn_server):
    browser.get(gunicorn_server.url + "/")
    browser.find_element(By.ID, "query").send_keys("interest rates")
    # Date inputs take the browser's locale order; set them through the DOM as a user's picker would.
    browser.execute_script("document.getElementById('date_from').value = '2026-01-01'")
    browser.execute_script("document.getElementById('date_to').value = '2026-03-31'")
    browser.find_element(By.ID, "submit").click()
    WebDriverWait(browser, 30).until(ec.presence_of_all_elements_located((By.CSS_SELECTOR, "#results .result")))
    dates = [t.get_attribute("datetime")[:10] for t in browser.find_elements(By.CSS_SELECTOR, "#results time")]
    assert dates and all("2026-01-01" <= d <= "2026-03-31" for d in dates)


def test_errors_are_shown_plainly(browser, gunicorn_server):
    browser.get(gunicorn_server.url + "/")
    browser.find_element(By.ID, "query").send_keys("anything")
    browser.execute_script("document.getElementById('date_from').value = '2026-05-01'")
    browser.execute_script("document.getElementById('date_to').value = '2025-05-01'")
    browser.find_element(By.ID, "submit").click()
    error = WebDriverWait(browser, 30).until(ec.visibility_of_element_located((By.ID, "error")))
    assert "date_from is after date_to" in error.text
    assert browser.find_elements(By.CSS_SELECTOR, "#results .result") == []


@pytest.fixture
def token_server(make_app, sample_index):
    """The app with API tokens, served by werkzeug in a thread (the page's behaviour is the point)."""
    import threading

    from werkzeug.serving import make_server

    server = make_server("127.0.0.1", 0, make_app(sample_index, API_TOKENS=API_TOKEN), threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()


def test_the_page_asks_for_a_token_where_the_service_wants_one(browser, token_server):
    browser.get(token_server + "/")
    browser.find_element(By.ID, "query").send_keys("oil prices")
    token = browser.find_element(By.ID, "token")
    token.send_keys("not-the-token")
    browser.find_element(By.ID, "submit").click()
    error = WebDriverWait(browser, 30).until(ec.visibility_of_element_located((By.ID, "error")))
    assert "API token" in error.text
    token.clear()
    token.send_keys(API_TOKEN)
    browser.find_element(By.ID, "submit").click()
    WebDriverWait(browser, 30).until(ec.presence_of_all_elements_located((By.CSS_SELECTOR, "#results .result")))
    assert browser.find_element(By.ID, "error").get_attribute("hidden") is not None
