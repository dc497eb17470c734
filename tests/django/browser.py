"""A headless Chromium for browser tests: Debian's ``chromium`` driven by Selenium.

Nothing is downloaded. The browser and its driver are Debian's packages (``apt-get install -y
chromium chromium-driver``; ``.ci/run`` installs them when missing), found at
``/usr/bin/chromium`` and ``/usr/bin/chromedriver`` or where ``MAILCORE_CHROMIUM`` /
``MAILCORE_CHROMEDRIVER`` point. The driver's path is handed to Selenium explicitly, so Selenium
Manager (which would fetch a driver from the internet) never runs; ``SE_OFFLINE`` is set as well.

Missing browser, driver or Selenium: the test is skipped with the install command, and fails
under ``MAILCORE_REQUIRE_SERVICES=1`` (CI) — a CI run never turns green by skipping it.

The flags are the ones this closed network needs (docs of the machine): without the
background-networking ones Chromium tries to reach Google's hosts at every start.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from mailcore.testing import skip_or_fail

INSTALL_HINT = "install Debian's packages: apt-get install -y chromium chromium-driver"
CHROMIUM_FLAGS = (
    "--headless=new",
    "--no-sandbox",  # CI runs as root, where Chromium's sandbox refuses to start
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-default-apps",
    "--disable-extensions",
    "--window-size=1280,1024",
)
#: Seconds a page may take to load on a loaded 2-core machine (a bound, not a measurement).
PAGE_LOAD_TIMEOUT = 60


def find_executable(env: str, names: tuple[str, ...]) -> str | None:
    """The path in ``env`` when set (it must be a file), else the first of ``names`` on PATH or in /usr/bin."""
    configured = os.environ.get(env)
    if configured:
        if not Path(configured).is_file():
            skip_or_fail(f"{env}={configured} is not a file")
        return configured
    for name in names:
        found = shutil.which(name) or (f"/usr/bin/{name}" if Path(f"/usr/bin/{name}").is_file() else None)
        if found:
            return found
    return None


def chromium_paths() -> tuple[str, str]:
    """(browser, driver), or skip (fail in CI) naming what is missing and how to install it."""
    browser = find_executable("MAILCORE_CHROMIUM", ("chromium", "chromium-browser"))
    driver = find_executable("MAILCORE_CHROMEDRIVER", ("chromedriver",))
    missing = [name for name, path in (("chromium", browser), ("chromedriver", driver)) if path is None]
    if browser is None or driver is None:
        skip_or_fail(f"{' and '.join(missing)} not found; {INSTALL_HINT}")
    return browser, driver


@contextmanager
def chromium(profile_dir: Path) -> Iterator[Any]:
    """A headless Chromium under Selenium with a fresh profile in ``profile_dir``; quit at the end."""
    try:
        from selenium import webdriver
        from selenium.common.exceptions import WebDriverException
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        skip_or_fail("selenium is not installed (the nox django sessions install it): pip install selenium")
    browser, driver_path = chromium_paths()
    os.environ["SE_OFFLINE"] = "true"  # Selenium Manager, were it ever asked, must not go online
    options = webdriver.ChromeOptions()
    options.binary_location = browser
    for flag in (*CHROMIUM_FLAGS, f"--user-data-dir={profile_dir}"):
        options.add_argument(flag)
    try:
        driver = webdriver.Chrome(service=Service(executable_path=driver_path), options=options)
    except WebDriverException as error:  # installed but broken (a version mismatch, a missing library)
        raise AssertionError(f"{browser} with {driver_path} did not start: {error.msg}") from None
    driver.set_page_load_timeout(PAGE_LOAD_TIMEOUT)
    try:
        yield driver
    finally:
        driver.quit()
