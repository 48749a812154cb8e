"""The ``browser`` fixture: Debian's Chromium, headless, driven by Selenium through Debian's chromedriver."""

from __future__ import annotations

import shutil

import pytest

# As the machine notes say (new empty profile; no background networking: this machine's network is closed).
CHROMIUM_FLAGS = (
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--window-size=1000,1100",
)


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    """One headless Chromium per test module (about 1.5 s to start); skips, saying why, where none is installed."""
    chromium, chromedriver = shutil.which("chromium"), shutil.which("chromedriver")
    if not (chromium and chromedriver):
        pytest.skip(
            "no chromium/chromedriver on PATH: `make browser` (part of `make venv`) installs Debian's "
            "chromium and chromium-driver, which needs root and apt-get"
        )
    webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is missing: pip install -e '.[dev]'")
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in (*CHROMIUM_FLAGS, f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}"):
        options.add_argument(flag)
    driver = webdriver.Chrome(options=options, service=Service(chromedriver))  # a driver path: no Selenium Manager
    yield driver
    driver.quit()
