"""Page helpers for the browser tests of the admin: log in, search, run an action, read cells.

Each step waits for what the next page must show (generous bounds: a loaded 2-core machine), so
a test fails with the page's own words when the admin breaks, not with a timing flake.
"""

from __future__ import annotations

from typing import Any

from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as when
from selenium.webdriver.support.ui import Select, WebDriverWait

#: Seconds one page step may take (a bound for a loaded machine, not a speed claim).
STEP_TIMEOUT = 30


def wait_for(driver: Any, css: str) -> Any:
    """The element matching ``css`` once it is on the page (AssertionError with the page text otherwise)."""
    try:
        return WebDriverWait(driver, STEP_TIMEOUT).until(when.presence_of_element_located((By.CSS_SELECTOR, css)))
    except Exception as error:
        body = driver.find_element(By.TAG_NAME, "body").text[:2000]
        raise AssertionError(f"{css!r} did not appear on {driver.current_url}: {error!r}\npage:\n{body}") from None


def log_in(driver: Any, base_url: str, username: str, password: str) -> None:
    """Log in through the admin's login form and wait for the admin index."""
    driver.get(f"{base_url}/admin/login/?next=/admin/")
    wait_for(driver, "#id_username").send_keys(username)
    driver.find_element(By.ID, "id_password").send_keys(password)
    driver.find_element(By.CSS_SELECTOR, "#login-form [type=submit]").click()
    wait_for(driver, "#user-tools")


def search(driver: Any, text: str) -> None:
    """Type ``text`` into the change list's search box and submit it."""
    box = wait_for(driver, "#searchbar")
    box.clear()
    box.send_keys(text)
    driver.find_element(By.CSS_SELECTOR, "#changelist-search [type=submit]").click()
    WebDriverWait(driver, STEP_TIMEOUT).until(lambda d: "q=" in d.current_url)
    wait_for(driver, "#result_list, p.paginator")


def result_rows(driver: Any) -> list[Any]:
    """The rows of the change list's result table (empty when nothing matched)."""
    return driver.find_elements(By.CSS_SELECTOR, "#result_list tbody tr")


def run_action(driver: Any, action: str, rows: list[Any]) -> str:
    """Tick ``rows``, choose ``action`` in the actions menu, press Go; return the messages shown."""
    for row in rows:
        row.find_element(By.CSS_SELECTOR, "input.action-select").click()
    Select(driver.find_element(By.CSS_SELECTOR, "select[name=action]")).select_by_value(action)
    driver.find_element(By.CSS_SELECTOR, "button[name=index], .actions [type=submit]").click()
    return str(wait_for(driver, "ul.messagelist").text)
