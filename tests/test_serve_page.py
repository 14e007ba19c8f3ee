"""The page of ``quco serve`` in a real headless browser (Debian's chromium + chromedriver, driven by selenium):
fill the form, submit, read the decision and the highlighted entities of the rendered report.

Skips, saying why, when chromium, chromedriver or selenium is missing (``apt-get install -y chromium
chromium-driver``; selenium comes with the test extra). ``QUCO_SCREENSHOT=path.png`` also saves a screenshot.
"""
from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from quco.serve.app import create_app
from quco.serve.config import ServeConfig
from test_serve_support import EINSTEIN_Q, EINSTEIN_WRONG, build_tiny_index, running

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")
KEY = "sk-page-test"


@pytest.fixture(scope="module")
def browser():
    if not CHROMIUM or not CHROMEDRIVER:
        pytest.skip("no headless browser: install Debian's chromium and chromium-driver "
                    "(apt-get install -y chromium chromium-driver) to run the page test")
    webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is not installed (pip install selenium)")
    os.environ.setdefault("SE_OFFLINE", "true")  # never let Selenium Manager look for drivers online
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--window-size=1100,1000", "--no-first-run", "--disable-extensions"):
        options.add_argument(arg)
    from selenium.webdriver.chrome.service import Service

    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(30)
    yield driver
    driver.quit()


@pytest.fixture(scope="module")
def page_url(tmp_path_factory):
    index = build_tiny_index(tmp_path_factory.mktemp("page"))
    with running(create_app(ServeConfig(index=str(index), api_key=KEY))) as url:
        yield url


def _wait(driver, condition, timeout: float = 20):
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, timeout).until(condition)


def test_page_checks_an_answer(browser, page_url):
    from selenium.webdriver.common.by import By

    browser.get(page_url + "/")
    browser.find_element(By.ID, "api-key").send_keys(KEY)
    browser.find_element(By.ID, "question").send_keys(EINSTEIN_Q)
    browser.find_element(By.ID, "answer").send_keys(EINSTEIN_WRONG)
    browser.find_element(By.ID, "check").click()
    decision = _wait(browser, lambda d: d.find_element(By.ID, "decision").text or None)
    assert decision == "retrieve"
    assert "retrieve" in browser.find_element(By.ID, "decision").get_attribute("class")
    assert browser.find_element(By.ID, "error").get_attribute("hidden") is not None
    summary = browser.find_element(By.ID, "index-summary").text
    _wait(browser, lambda d: "documents" in d.find_element(By.ID, "index-summary").text)
    assert "6 documents" in browser.find_element(By.ID, "index-summary").text, summary

    browser.switch_to.frame(browser.find_element(By.ID, "report"))
    _wait(browser, lambda d: d.find_elements(By.TAG_NAME, "mark"))
    risky = [m.text.split("\n")[0] for m in browser.find_elements(By.CSS_SELECTOR, "mark.risky")]
    ok = [m.text.split("\n")[0] for m in browser.find_elements(By.CSS_SELECTOR, "mark.ok")]
    assert any(t.startswith("Warsaw") for t in risky), risky
    assert any(t.startswith("Albert Einstein") for t in risky + ok)
    assert "unseen" in browser.find_element(By.TAG_NAME, "table").text
    assert browser.find_element(By.TAG_NAME, "h1").text.startswith("retrieve")
    browser.switch_to.default_content()
    shot = os.environ.get("QUCO_SCREENSHOT")
    if shot:
        Path(shot).parent.mkdir(parents=True, exist_ok=True)
        browser.save_screenshot(shot)


def test_page_shows_a_wrong_key(browser, page_url):
    from selenium.webdriver.common.by import By

    browser.get(page_url + "/")
    browser.find_element(By.ID, "api-key").send_keys("wrong")
    browser.find_element(By.ID, "question").send_keys(EINSTEIN_Q)
    browser.find_element(By.ID, "check").click()
    error = _wait(browser, lambda d: d.find_element(By.ID, "error").text or None)
    assert "401" in error and "invalid API key" in error
