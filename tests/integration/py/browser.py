"""Drive headless Chromium for the HTML report tests (tests/integration/html.rs).

Usage: browser.py URL < steps.json

Opens URL in Debian's Chromium (/usr/bin/chromium) through the system
chromedriver (/usr/bin/chromedriver), given explicitly so Selenium never
looks for or downloads a driver, with a fresh empty profile, then runs each
step in order and prints one JSON list: the result of each step that
returns one (actions return nothing and have no entry).

Steps (one JSON object each):
  {"js": "return …"}             the script's return value
  {"click": "CSS"}               a real (WebDriver) click on the first match
  {"select": ["CSS", "value"]}   choose an <option> of a <select>
  {"type": ["CSS", "text"]}      clear an <input> and type into it
  {"key": ["CSS", "KEY"]}        press a key ("ENTER", "TAB", or a character) in an element
  {"focused": true}              id and text of the focused element
  {"screenshot": "PATH"}         a PNG of the whole page (window grown to fit)
  {"errors": true}               console messages at level SEVERE so far
"""

import json
import sys
import tempfile

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import Select


# Steps that act and return nothing: they have no entry in the output.
ACTIONS = {"click", "select", "type", "key"}


def main():
    url = sys.argv[1]
    steps = json.load(sys.stdin)
    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    profile = tempfile.mkdtemp(prefix="evalgate-chromium-")
    for arg in [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--user-data-dir=" + profile,
        "--window-size=1280,1000",
    ]:
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(
        service=Service(executable_path="/usr/bin/chromedriver"), options=options
    )
    results = []
    try:
        driver.get(url)
        for step in steps:
            result = run(driver, step)
            if ACTIONS.isdisjoint(step):
                results.append(result)
    finally:
        driver.quit()
    json.dump(results, sys.stdout)


def run(driver, step):
    if "js" in step:
        return driver.execute_script(step["js"])
    if "click" in step:
        driver.find_element(By.CSS_SELECTOR, step["click"]).click()
        return None
    if "select" in step:
        css, value = step["select"]
        Select(driver.find_element(By.CSS_SELECTOR, css)).select_by_value(value)
        return None
    if "type" in step:
        css, text = step["type"]
        el = driver.find_element(By.CSS_SELECTOR, css)
        el.clear()
        el.send_keys(text)
        return None
    if "key" in step:
        css, key = step["key"]
        driver.find_element(By.CSS_SELECTOR, css).send_keys(getattr(Keys, key, key))
        return None
    if "focused" in step:
        return driver.execute_script(
            "var e = document.activeElement;"
            "return {id: e.id, tag: e.tagName, text: e.textContent};"
        )
    if "screenshot" in step:
        height = driver.execute_script("return document.documentElement.scrollHeight")
        driver.set_window_size(1280, min(max(int(height) + 40, 600), 6000))
        driver.save_screenshot(step["screenshot"])
        driver.set_window_size(1280, 1000)
        return step["screenshot"]
    if "errors" in step:
        return [
            entry["message"]
            for entry in driver.get_log("browser")
            if entry.get("level") == "SEVERE"
        ]
    raise SystemExit("unknown step: " + json.dumps(step))


if __name__ == "__main__":
    main()
