"""The web console in Debian's Chromium, driven by Selenium through Debian's chromium-driver,
able to reach nothing but loopback: a tenant signs in, filters the demo catalog to Linux gold
images, pages, opens an image, renames its own, tags and shares it; the second project accepts
the share and finds it in its shared tab. Then the same without authentication (the project
picker instead of signing in), with an upload through the page.

One browser and one server of each kind for the module (the suite's time budget); the pages'
security is tested over HTTP in tests/api/test_console.py. Screenshots of the list and the
image page at a wide and a phone width go to `$OPENIMS_ARTIFACTS/console` (or a temporary
directory the run prints); docs/console.md shows two of them."""

from __future__ import annotations

import hashlib
import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from openims.auth.credentials import add_token
from tests.support.databases import sqlite_database
from tests.support.servers import ServerProcess, start_server
from tests.support.uploads import raw_bytes

CHROMIUM = shutil.which("chromium")
CHROMEDRIVER = shutil.which("chromedriver")
WIDE, NARROW = (1280, 900), (390, 844)  # a laptop, a phone
SECOND = "tenant-b"

if CHROMIUM is None or CHROMEDRIVER is None:
    if os.environ.get("CI"):
        pytest.fail(
            "Chromium or chromium-driver is missing: scripts/ensure-chromium installs them",
            pytrace=False,
        )
    pytest.skip("Chromium or chromium-driver is not installed", allow_module_level=True)

from selenium import webdriver  # noqa: E402 (after the skip: only with a browser)
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.remote.webdriver import WebDriver  # noqa: E402
from selenium.webdriver.support.select import Select  # noqa: E402
from selenium.webdriver.support.wait import WebDriverWait  # noqa: E402


@pytest.fixture(scope="module")
def browser() -> Iterator[WebDriver]:
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for argument in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--no-first-run",
        "--disable-dev-shm-usage",
        # every host name but the server's own address resolves to nothing, and no proxy
        "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
        "--no-proxy-server",
    ):
        options.add_argument(argument)
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    driver.set_window_size(*WIDE)
    try:
        yield driver
    finally:
        driver.quit()


@pytest.fixture(scope="module")
def shots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = os.environ.get("OPENIMS_ARTIFACTS")
    directory = Path(root) / "console" if root else tmp_path_factory.mktemp("console-shots")
    directory.mkdir(parents=True, exist_ok=True)
    print(f"console screenshots: {directory}")  # where to find them
    return directory


@pytest.fixture(scope="module")
def tokens_and_server(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[dict[str, str], ServerProcess]]:
    """`openims serve --demo` with authentication on, and a token of `demo` and of SECOND."""
    directory = tmp_path_factory.mktemp("console-auth")
    credentials = directory / "credentials.toml"
    tokens = {p: add_token(credentials, p, frozenset()).token for p in ("demo", SECOND)}
    served = start_server(
        sqlite_database(directory),
        directory,
        auth=True,
        credentials=credentials,
        env={"OPENIMS_DEMO": "true"},
    )
    try:
        assert isinstance(served.server, ServerProcess)
        yield tokens, served.server
    finally:
        served.stop()


@pytest.fixture(scope="module")
def no_auth_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    directory = tmp_path_factory.mktemp("console-no-auth")
    served = start_server(
        sqlite_database(directory), directory, auth=False, env={"OPENIMS_DEMO": "true"}
    )
    try:
        yield served
    finally:
        served.stop()


def wait(driver: WebDriver, check: Callable[[WebDriver], object], timeout: float = 15) -> None:
    WebDriverWait(driver, timeout, poll_frequency=0.05).until(check)


def click_and_load(driver: WebDriver, css: str) -> None:
    """Click what `css` finds and wait for the next page to replace this one."""
    old = driver.find_element(By.TAG_NAME, "html")
    driver.find_element(By.CSS_SELECTOR, css).click()
    wait(driver, lambda d: _stale(old))


def _stale(element: object) -> bool:
    """Whether `element`'s document was replaced. Chromium says so with a stale-element error,
    or, when asked in the middle of the navigation, with an inspector error naming a node
    that "does not belong to the document"."""
    from selenium.common.exceptions import StaleElementReferenceException, WebDriverException

    try:
        element.is_enabled()  # type: ignore[attr-defined]
    except StaleElementReferenceException:
        return True
    except WebDriverException as exc:
        if "does not belong to the document" in str(exc):
            return True
        raise
    return False


def cells(driver: WebDriver, label: str) -> list[str]:
    return [e.text for e in driver.find_elements(By.CSS_SELECTOR, f'td[data-label="{label}"]')]


def shoot(driver: WebDriver, shots: Path, name: str) -> None:
    for width_name, size in (("wide", WIDE), ("narrow", NARROW)):
        driver.set_window_size(*size)
        driver.save_screenshot(str(shots / f"{name}-{width_name}.png"))
    driver.set_window_size(*WIDE)


def browse_rename_tag_share(driver: WebDriver, base: str, shots: Path, prefix: str) -> str:
    """From the image list: Linux gold images, their second page, one of them; then one of
    the project's own images renamed, tagged and shared with SECOND. Returns the new name."""
    driver.get(base + "/console/images")
    Select(driver.find_element(By.ID, "f-os_type")).select_by_value("Linux")
    click_and_load(driver, "#apply-filters")
    assert "os_type=Linux" in driver.current_url  # the view is in the URL
    first = cells(driver, "Name")
    assert len(first) == 20
    assert set(cells(driver, "Type")) == {"gold"}
    shoot(driver, shots, f"{prefix}-list")
    click_and_load(driver, "#next-page")
    assert "marker=" in driver.current_url
    second = cells(driver, "Name")
    assert second and not set(second) & set(first)
    assert set(cells(driver, "Type")) == {"gold"}
    click_and_load(driver, 'td[data-label="Name"] a')
    assert driver.find_element(By.ID, "image-name").text == second[0]
    assert not driver.find_elements(By.ID, "edit-form")  # a gold image is not the tenant's

    driver.get(base + "/console/images?tab=private&status=active")
    click_and_load(driver, 'td[data-label="Name"] a')
    name = f"{prefix}-renamed"
    field = driver.find_element(By.ID, "name")
    field.clear()
    field.send_keys(name)
    click_and_load(driver, "#save-edit")
    assert driver.find_element(By.ID, "image-name").text == name
    driver.find_element(By.ID, "new-tag").send_keys("team=console")
    click_and_load(driver, "#add-tag")
    assert "team=console" in driver.find_element(By.ID, "tags").text
    driver.find_element(By.ID, "member-id").send_keys(SECOND)
    click_and_load(driver, "#share")
    assert SECOND in driver.find_element(By.ID, "members").text
    shoot(driver, shots, f"{prefix}-image")
    return name


def accept_and_find(driver: WebDriver, base: str, name: str) -> None:
    """As SECOND: the share waits in the pending tab; accepted, it is in the shared tab."""
    driver.get(base + "/console/images?tab=shared&member_status=pending")
    link = driver.find_element(By.LINK_TEXT, name)
    old = driver.find_element(By.TAG_NAME, "html")
    link.click()
    wait(driver, lambda d: _stale(old))
    assert driver.find_element(By.ID, "my-status").text == "pending"
    click_and_load(driver, "#accept-share")
    assert driver.find_element(By.ID, "my-status").text == "accepted"
    driver.get(base + "/console/images?tab=shared")
    assert name in cells(driver, "Name")


def sign_in(driver: WebDriver, base: str, token: str) -> None:
    driver.get(base + "/console/sign-in")
    driver.find_element(By.ID, "token").send_keys(token)
    click_and_load(driver, 'form[aria-labelledby="with-token"] button')
    assert driver.current_url.endswith("/console/images")


def test_a_tenant_browses_edits_and_shares_and_the_other_accepts(
    browser: WebDriver, tokens_and_server: tuple[dict[str, str], ServerProcess], shots: Path
) -> None:
    tokens, server = tokens_and_server
    browser.delete_all_cookies()
    browser.get(server.url + "/console")
    assert "/console/sign-in" in browser.current_url  # nothing without signing in
    sign_in(browser, server.url, tokens["demo"])
    name = browse_rename_tag_share(browser, server.url, shots, "auth")
    click_and_load(browser, "header form button")  # sign out
    assert "/console/sign-in" in browser.current_url
    browser.get(server.url + "/console/images")
    assert "/console/sign-in" in browser.current_url
    sign_in(browser, server.url, tokens[SECOND])
    accept_and_find(browser, server.url, name)


def test_without_authentication_the_picker_switches_projects_and_uploads_stream(
    browser: WebDriver, no_auth_server: ServerProcess, shots: Path, tmp_path: Path
) -> None:
    base = no_auth_server.url
    browser.delete_all_cookies()
    name = browse_rename_tag_share(browser, base, shots, "no-auth")

    # data: a new image, its file uploaded through the page, its checksum shown
    browser.get(base + "/console/create")
    browser.find_element(By.ID, "c-name").send_keys("uploaded-in-browser")
    Select(browser.find_element(By.ID, "c-disk")).select_by_value("raw")
    click_and_load(browser, "#create-button")
    payload = raw_bytes(3 * 1024 * 1024)
    upload = tmp_path / "disk.raw"
    upload.write_bytes(payload)
    browser.find_element(By.ID, "upload-file").send_keys(str(upload))
    old = browser.find_element(By.TAG_NAME, "html")
    browser.find_element(By.ID, "upload-button").click()
    wait(browser, lambda d: _stale(old), timeout=60)
    md5 = hashlib.md5(payload).hexdigest()  # noqa: S324 (Glance's checksum)
    assert browser.find_element(By.ID, "checksum").text == md5
    assert browser.find_element(By.ID, "image-status").text == "active"

    browser.get(base + "/console/sign-in")  # the project picker
    project = browser.find_element(By.ID, "project_id")
    project.clear()
    project.send_keys(SECOND)
    click_and_load(browser, "form button[type=submit]")
    assert SECOND in browser.find_element(By.CSS_SELECTOR, ".who").text
    accept_and_find(browser, base, name)
