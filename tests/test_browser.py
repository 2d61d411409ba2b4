"""The search page in a real headless Chromium (Debian's chromium and chromedriver), against
the service under gunicorn: a search typed or opened from a shared address, paging with the
total, back and forward, filters, the order, merged near-duplicates, errors in sentences, a
token asked for only where no one is signed in, and the layout at desktop and phone width
(screenshots in test-artifacts/screenshots/). One browser and one server serve every test."""

from __future__ import annotations

import threading
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as ec
from selenium.webdriver.support.ui import Select, WebDriverWait
from werkzeug.serving import make_server

from tests.alb_identity_headers import EMAIL, SIGNER, KeyServer, alb_header
from tests.helpers import API_TOKEN, FLOAT32, SCREENSHOTS

pytestmark = pytest.mark.browser

WAIT_S = 60


def save_full_page(browser, name: str) -> None:
    """The whole page from its top: the window made as tall as the page (no scrollbar to
    narrow it), then put back."""
    size = browser.get_window_size()
    try:
        for _ in range(3):
            inner, full = browser.execute_script("return [window.innerHeight, document.documentElement.scrollHeight]")
            if full <= inner:
                break
            browser.set_window_size(size["width"], browser.get_window_size()["height"] + full - inner)
        browser.save_screenshot(str(SCREENSHOTS / name))
    finally:
        browser.set_window_size(size["width"], size["height"])


def wait_for_results(browser, previous=None) -> list:
    """The result cards once a search has answered (after PREVIOUS, a card of the search before, is gone)."""
    wait = WebDriverWait(browser, WAIT_S)
    if previous is not None:
        wait.until(ec.staleness_of(previous))
    wait.until(lambda b: b.find_element(By.ID, "status").text.startswith("Results"))
    return browser.find_elements(By.CSS_SELECTOR, "#results .result")


def shown_ids(browser) -> list[str]:
    """Every result on the page, merged or not."""
    return [e.get_attribute("data-id") for e in browser.find_elements(By.CSS_SELECTOR, ".result, .similar-item")]


def address(browser) -> dict[str, list[str]]:
    return parse_qs(urlsplit(browser.current_url).query)


def range_text(browser) -> str:
    return browser.find_element(By.ID, "range").text


def api_answer(server_url: str, field: str, body: dict) -> dict:
    answer = requests.post(f"{server_url}/search/cosine/{field}/", json=body, timeout=WAIT_S)
    assert answer.status_code == 200, answer.text
    return answer.json()


def api_ids(server_url: str, field: str, body: dict) -> list[str]:
    return [hit["id"] for hit in api_answer(server_url, field, body)["results"]]


def test_a_typed_search_pages_and_back_and_forward_restore_it(browser, gunicorn_server):
    browser.get(gunicorn_server.url + "/")
    assert browser.title == "Financial news search"
    Select(browser.find_element(By.ID, "field")).select_by_value("embedding1155d")
    assert "tone" in browser.find_element(By.ID, "field-help").text  # the model explained in words
    # Every control is named for a screen reader, and results are announced.
    unnamed = browser.execute_script(
        "return [...document.querySelectorAll('input, select, button')]"
        ".filter(e => !e.labels?.length && !e.textContent.trim() && !e.getAttribute('aria-label')).map(e => e.id)"
    )
    assert unnamed == [] and browser.find_element(By.ID, "status").get_attribute("aria-live") == "polite"
    browser.find_element(By.ID, "query").send_keys("banks cutting jobs")
    Select(browser.find_element(By.ID, "size")).select_by_value("10")
    browser.find_element(By.ID, "submit").click()
    first_page = wait_for_results(browser)
    assert address(browser) == {"query": ["banks cutting jobs"], "field": ["embedding1155d"], "size": ["10"]}
    # 1,200 documents, all of them k-NN matches: paging reaches the 500 best.
    assert range_text(browser) == "1-10 of 500+"
    card = first_page[0]
    link = card.find_element(By.CSS_SELECTOR, "h2 a")
    assert link.text and link.get_attribute("href").startswith("https://")
    assert card.find_element(By.CSS_SELECTOR, ".badge").text.lower().split()[0] in ("positive", "negative", "neutral")
    # Sentiment as text beside each bar: nothing needs a hover.
    bars = [row.text.split() for row in card.find_elements(By.CSS_SELECTOR, ".bar-row")]
    assert [row[0].lower() for row in bars] == ["positive", "negative", "neutral"]
    assert all(row[-1].endswith("%") for row in bars)
    assert card.find_element(By.CSS_SELECTOR, ".score").text.startswith("Score 0.")
    assert card.find_element(By.TAG_NAME, "time").text[:2] == "20"
    page_one = shown_ids(browser)
    # The same ten an API client gets (in their order, but for near-duplicates merged under a card).
    assert sorted(page_one) == sorted(api_ids(gunicorn_server.url, "embedding1155d", {"query": "banks cutting jobs"}))

    browser.find_element(By.ID, "next").click()
    wait_for_results(browser, first_page[0])
    assert range_text(browser) == "11-20 of 500+" and address(browser)["page"] == ["2"]
    page_two = shown_ids(browser)
    assert not set(page_two) & set(page_one)

    browser.back()
    wait_for_results(browser)
    WebDriverWait(browser, WAIT_S).until(lambda b: range_text(b) == "1-10 of 500+")
    assert shown_ids(browser) == page_one and "page" not in address(browser)
    assert browser.find_element(By.ID, "query").get_attribute("value") == "banks cutting jobs"
    browser.forward()
    WebDriverWait(browser, WAIT_S).until(lambda b: range_text(b) == "11-20 of 500+")
    wait_for_results(browser)
    assert shown_ids(browser) == page_two


def test_a_shared_address_opens_its_filters_and_page(browser, gunicorn_server):
    shared = "/?query=dividend+cut&field=embedding768d&type=filing_summary&sentiment=negative&size=10&page=2"
    browser.get(gunicorn_server.url + shared)
    wait_for_results(browser)
    assert browser.find_element(By.ID, "query").get_attribute("value") == "dividend cut"
    assert Select(browser.find_element(By.ID, "field")).first_selected_option.get_attribute("value") == "embedding768d"
    assert (
        Select(browser.find_element(By.ID, "doc_type")).first_selected_option.get_attribute("value") == "filing_summary"
    )
    assert Select(browser.find_element(By.ID, "sentiment")).first_selected_option.get_attribute("value") == "negative"
    body = {"query": "dividend cut", "size": 10, "doc_types": ["filing_summary"], "sentiments": ["negative"]}
    expected = api_answer(gunicorn_server.url, "embedding768d", {**body, "offset": 10})
    assert expected["total"]["relation"] == "eq" and expected["total"]["value"] > 10
    assert sorted(shown_ids(browser)) == sorted(hit["id"] for hit in expected["results"])
    last = min(20, expected["total"]["value"])
    assert range_text(browser) == f"11-{last} of {expected['total']['value']}"
    for card in browser.find_elements(By.CSS_SELECTOR, ".result"):
        assert "filing summary" in card.text.lower() and "negative tone" in card.text.lower()


def test_newest_first_changes_the_order(browser, gunicorn_server):
    browser.get(gunicorn_server.url + "/?query=interest+rates&type=analysis&size=10")
    best = wait_for_results(browser)
    best_dates = [t.get_attribute("datetime") for t in browser.find_elements(By.CSS_SELECTOR, ".result > .meta time")]
    Select(browser.find_element(By.ID, "order")).select_by_value("newest")
    browser.find_element(By.ID, "submit").click()
    wait_for_results(browser, best[0])
    assert address(browser)["order"] == ["newest"]
    dates = [t.get_attribute("datetime") for t in browser.find_elements(By.CSS_SELECTOR, ".result > .meta time")]
    assert dates == sorted(dates, reverse=True) and dates != best_dates


def test_near_duplicates_are_merged_under_one_card(browser, gunicorn_server):
    # nw-000001 and nw-000003 carry the same summary under different titles and sources.
    browser.get(gunicorn_server.url + "/?query=Hollowmere+Assurance+cuts+its+dividend&size=10")
    wait_for_results(browser)
    pair = {"nw-000001", "nw-000003"}
    card = next(c for c in browser.find_elements(By.CSS_SELECTOR, ".result") if c.get_attribute("data-id") in pair)
    toggle = card.find_element(By.CSS_SELECTOR, ".similar-toggle")
    assert toggle.text == "2 similar" and toggle.get_attribute("aria-expanded") == "false"
    other = card.find_element(By.CSS_SELECTOR, ".similar-item")
    assert other.get_attribute("data-id") == (pair - {card.get_attribute("data-id")}).pop()
    assert not other.is_displayed()
    toggle.click()
    assert other.is_displayed() and toggle.get_attribute("aria-expanded") == "true"
    assert "near-duplicate" in browser.find_element(By.ID, "status").text
    assert range_text(browser) == "1-10 of 500+"  # the count is of results, merged or not


def test_errors_are_sentences_that_say_what_to_do(browser, gunicorn_server):
    browser.get(gunicorn_server.url + "/")
    browser.find_element(By.ID, "query").send_keys("anything")
    # Date inputs take the browser's locale order; set them through the DOM as a user's picker would.
    browser.execute_script("document.getElementById('date_from').value = '2026-05-01'")
    browser.execute_script("document.getElementById('date_to').value = '2025-05-01'")
    browser.find_element(By.ID, "submit").click()
    error = WebDriverWait(browser, WAIT_S).until(ec.visibility_of_element_located((By.ID, "error")))
    assert error.text == "The start date is after the end date."
    assert browser.find_elements(By.CSS_SELECTOR, "#results .result") == []
    # A shared address whose page lies past the 500 matches paging reaches.
    browser.get(gunicorn_server.url + "/?query=anything&size=50&page=11")
    error = WebDriverWait(browser, WAIT_S).until(ec.visibility_of_element_located((By.ID, "error")))
    assert error.text == "That page does not exist: go back to the first page."


@pytest.mark.parametrize("name, width", [("desktop", 1280), ("phone", 400)])
def test_the_page_fits_desktop_and_phone_widths(browser, gunicorn_server, name, width):
    browser.set_window_size(width, 1000)
    try:
        browser.get(gunicorn_server.url + "/?query=Hollowmere+Assurance+cuts+its+dividend&field=embedding1155d&size=10")
        wait_for_results(browser)
        browser.find_element(By.CSS_SELECTOR, ".similar-toggle").click()
        overflow = browser.execute_script("return [document.documentElement.scrollWidth, window.innerWidth]")
        assert overflow[0] <= overflow[1], f"{name}: the page is {overflow[0]} px wide in a {overflow[1]} px window"
        save_full_page(browser, f"search-{name}.png")
    finally:
        browser.set_window_size(1280, 1600)


@pytest.fixture(scope="module")
def closed_server(model_cache_dir, sample_index, tmp_path_factory):
    """A closed service (an API token) that also admits people signed in at the load balancer,
    served by werkzeug in a thread (the page's behaviour is the point), with the load balancer's
    public-key endpoint beside it."""
    from webapp import SEARCH_SERVICE, create_app

    keys = KeyServer()
    app = create_app(
        {
            "MODEL_CACHE_DIR": str(model_cache_dir),
            "STORE_PATH": str(sample_index),
            "API_TOKENS": API_TOKEN,
            "ALB_SIGNERS": SIGNER,
            "ALB_PUBLIC_KEY_URL": keys.url_template,
            **FLOAT32,
        }
    )
    app.extensions[SEARCH_SERVICE].registry.wait_until_loaded()
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    keys.server.shutdown()


def test_a_token_is_asked_for_unless_the_person_is_signed_in(browser, closed_server):
    browser.get(closed_server + "/")
    assert browser.find_elements(By.ID, "identity") == []
    browser.find_element(By.ID, "query").send_keys("oil prices")
    token = browser.find_element(By.ID, "token")
    token.send_keys("not-the-token")
    browser.find_element(By.ID, "submit").click()
    error = WebDriverWait(browser, WAIT_S).until(ec.visibility_of_element_located((By.ID, "error")))
    assert error.text == "The API token is missing or not valid: enter the token you were given."
    token.clear()
    token.send_keys(API_TOKEN)
    browser.find_element(By.ID, "submit").click()
    wait_for_results(browser)
    assert browser.find_element(By.ID, "error").get_attribute("hidden") is not None

    # The load balancer signs the person into every request, the page's and its searches.
    browser.execute_cdp_cmd("Network.enable", {})
    browser.execute_cdp_cmd("Network.setExtraHTTPHeaders", {"headers": {"X-Amzn-Oidc-Data": alb_header()}})
    try:
        browser.get(closed_server + "/?query=oil+prices&size=10")
        wait_for_results(browser)
        assert browser.find_element(By.ID, "identity").text == f"Signed in as {EMAIL}"
        assert browser.find_elements(By.ID, "token") == []
        save_full_page(browser, "search-signed-in.png")
    finally:
        browser.execute_cdp_cmd("Network.setExtraHTTPHeaders", {"headers": {}})
