"""End to end in a real headless Chromium (Debian's `chromium` and
`chromium-driver`, installed by scripts/setup.sh; never a downloaded
browser): the page loads, steps by button and by key, edits a variable,
and the result is read back from the DOM."""

from __future__ import annotations

import os
import shutil
import threading
import time
from collections.abc import Iterator

import pytest
from debug_oracle import OracleBackend
from sample_programs import NESTED

from opencwm.debug.session import Session
from opencwm.debug.web import create_app
from opencwm.tracer.api import trace_program

CHROMIUM, DRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"

pytestmark = pytest.mark.skipif(
    not (os.path.exists(CHROMIUM) and shutil.which(DRIVER)),
    reason="needs Debian's chromium and chromium-driver (scripts/setup.sh installs them)",
)


@pytest.fixture
def server(sandbox) -> Iterator[str]:
    """The web debugger over an oracle session, on a free localhost port."""
    import uvicorn

    from opencwm.world.serve import listen

    real = trace_program(NESTED, "squares", "[2, 3]", sandbox=sandbox)
    session = Session(NESTED, "squares", "[2, 3]", backend=OracleBackend(real), sandbox=sandbox)
    sock = listen("127.0.0.1", 0)
    config = uvicorn.Config(create_app(session, "squares"), log_level="warning")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    assert server.started, "uvicorn did not start"
    yield f"http://127.0.0.1:{sock.getsockname()[1]}/"
    server.should_exit = True
    thread.join(timeout=10)
    sock.close()


@pytest.fixture
def browser() -> Iterator:
    os.environ["SE_OFFLINE"] = "true"  # Selenium Manager must not fetch anything
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu"):
        options.add_argument(arg)
    options.add_argument("--window-size=1280,900")
    driver = webdriver.Chrome(service=Service(DRIVER), options=options)
    driver.set_page_load_timeout(30)
    yield driver
    driver.quit()


def test_step_edit_and_read_back_in_chromium(server, browser, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    def ready() -> str:
        return browser.execute_script("return document.body.dataset.ready || ''")

    def act(do) -> None:
        """Do something that sends a command; wait for the page to redraw."""
        before = ready()
        do()
        WebDriverWait(browser, 20).until(lambda _: ready() != before)

    def cell(name: str, column: str = "imagined") -> str:
        return browser.find_element(By.CSS_SELECTOR, f'tr[data-name="{name}"] td.{column}').text

    def current_line() -> str:
        return browser.find_element(By.CSS_SELECTOR, ".ln.current").get_attribute("data-line")

    browser.get(server)
    WebDriverWait(browser, 20).until(lambda _: ready())
    assert current_line() == "5" and cell("xs") == "[2, 3]"
    for _ in range(3):
        act(browser.find_element(By.ID, "step").click)
    assert current_line() == "8" and cell("x") == "2"
    assert "changed" in browser.find_element(
        By.CSS_SELECTOR, 'tr[data-name="x"] td.imagined'
    ).get_attribute("class")
    body = browser.find_element(By.TAG_NAME, "body")
    act(lambda: body.send_keys("n"))  # the key for next: over sq(2)
    assert current_line() == "7" and cell("out") == "[4]"
    assert len(browser.find_elements(By.CSS_SELECTOR, "#timeline span")) == 7

    browser.find_element(By.CSS_SELECTOR, 'tr[data-name="out"] td.imagined').click()
    assert browser.find_element(By.ID, "edit-name").get_attribute("value") == "out"
    value = browser.find_element(By.ID, "edit-value")
    value.clear()
    value.send_keys("[40, 41]")
    act(browser.find_element(By.ID, "edit-set").click)
    assert browser.find_element(By.ID, "message").text == "out = [40, 41]"
    assert cell("out") == "[40, 41]"
    act(browser.find_element(By.ID, "step").click)
    assert current_line() == "8" and cell("x") == "3"
    assert cell("out") == "[40, 41]"  # the prediction went on from the edited state

    act(lambda: body.send_keys("t"))  # truth on: the real run beside it
    assert browser.find_element(By.ID, "truth").text.startswith("Truth: on")
    assert cell("out", "real") == "(counterfactual)"
    act(browser.find_element(By.ID, "back").click)
    act(browser.find_element(By.ID, "back").click)  # the edit undone
    assert cell("out") == "[4]" and cell("out", "real") == "[4]"
    browser.save_screenshot(os.environ.get("OPENCWM_SCREENSHOT", str(tmp_path / "debugger.png")))

    act(lambda: browser.find_element(By.CSS_SELECTOR, '.ln[data-line="2"] .no').click())
    assert "bp" in browser.find_element(By.CSS_SELECTOR, '.ln[data-line="2"]').get_attribute(
        "class"
    )
    act(browser.find_element(By.ID, "continue").click)
    assert (
        current_line() == "2"
        and browser.find_element(By.ID, "message").text == "breakpoint at line 2"
    )
    name = browser.find_element(By.ID, "edit-name")
    name.clear()
    name.send_keys("1x")
    act(browser.find_element(By.ID, "edit-set").click)
    message = browser.find_element(By.ID, "message")
    assert "is not a variable name" in message.text and message.get_attribute("class") == "error"
