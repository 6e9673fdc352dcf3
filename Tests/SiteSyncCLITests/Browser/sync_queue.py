"""The Sync Queue as a person uses it, in headless Chromium (selenium): find a published representation, download
it to this machine and watch the bar move to "synced", pause and resume the project, remove the copy again.
Screenshots go to OUT_DIR. Usage: sync_queue.py BASE_URL OUT_DIR TOKEN FOLDER"""
import os
import sys
import time

from selenium import webdriver
from selenium.common.exceptions import StaleElementReferenceException, TimeoutException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

base, out, token, folder = sys.argv[1:5]
os.makedirs(out, exist_ok=True)
for old in os.listdir(out):
    if old.endswith(".png"):
        os.remove(os.path.join(out, old))
steps = []


def step(name):
    steps.append(name)
    print("step:", name, flush=True)


options = webdriver.ChromeOptions()
options.binary_location = "/usr/bin/chromium"
for arg in ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1280,800"]:
    options.add_argument(arg)
# An explicit driver: no download by Selenium Manager.
driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
wait = WebDriverWait(driver, 60, poll_frequency=0.1, ignored_exceptions=[StaleElementReferenceException])


def shot(name):
    driver.save_screenshot(os.path.join(out, name + ".png"))


def row():
    # The table is redrawn live (every change the event stream brings): a row found a moment ago may be gone.
    for _ in range(50):
        try:
            for tr in driver.find_elements(By.CSS_SELECTOR, "#rows tr[data-id]"):
                if tr.find_elements(By.TAG_NAME, "td")[0].text == folder:
                    return tr
            return None
        except StaleElementReferenceException:
            time.sleep(0.05)
    return None


def retrying(action):
    """Runs `action` again when a redraw replaced the element it held."""
    for attempt in range(50):
        try:
            return action()
        except StaleElementReferenceException:
            if attempt == 49:
                raise
            time.sleep(0.05)


def local_cell():
    tr = row()
    return tr.find_element(By.CSS_SELECTOR, "td[data-site]") if tr else None


def text_of(get):
    try:
        e = get()
        return e.text if e else ""
    except StaleElementReferenceException:
        return ""


try:
    driver.get(base + "/")
    step("the page asks for the token")
    wait.until(lambda d: d.find_element(By.ID, "token-form").is_displayed())
    shot("0-token")
    driver.find_element(By.ID, "token-input").send_keys(token)
    driver.find_element(By.CSS_SELECTOR, "#token-form button[type=submit]").click()

    step("the published representation is in the table, not on this machine")
    wait.until(lambda d: row() is not None)
    wait.until(lambda d: "live" in d.find_element(By.ID, "live").text)
    assert "not here" in text_of(local_cell), text_of(local_cell)
    shot("1-queue")
    step("the search finds it")
    search = driver.find_element(By.ID, "q")
    search.send_keys(folder.split("/")[-1])
    wait.until(lambda d: len(d.find_elements(By.CSS_SELECTOR, "#rows tr[data-id]")) == 1 and row() is not None)

    step("Download for the local site")
    retrying(lambda: row().find_element(By.XPATH, ".//button[text()='Download']").click())
    # The bar moves: progress below 100 % seen while the copy runs, then "synced".
    seen = set()
    deadline = time.time() + 90
    synced = False
    while time.time() < deadline:
        try:
            cell = local_cell()
            if cell is not None:
                status = cell.find_element(By.CSS_SELECTOR, ".pill").text
                bars = cell.find_elements(By.CSS_SELECTOR, ".bar")
                if bars:
                    seen.add(int(bars[0].get_attribute("aria-valuenow")))
                moving_now = bars and 10 <= int(bars[0].get_attribute("aria-valuenow")) <= 90
                if "in progress" in status and moving_now and not os.path.exists(os.path.join(out, "2-downloading.png")):
                    shot("2-downloading")
                if status == "synced":
                    synced = True
                    break
        except StaleElementReferenceException:
            pass
        time.sleep(0.1)
    assert synced, f"never synced; saw {sorted(seen)}"
    moving = [p for p in seen if 0 < p < 100]
    assert len(moving) >= 2, f"the bar did not move: {sorted(seen)}"
    step("the activity panel lists the completion")
    wait.until(lambda d: "synced on" in d.find_element(By.ID, "recent").text)
    shot("3-synced")

    step("details show each file on each site")
    retrying(lambda: row().click())
    wait.until(lambda d: d.find_element(By.ID, "detail").is_displayed() and "big.exr" in d.find_element(By.ID, "detail-body").text)
    shot("4-detail")

    step("pause and resume the project")
    button = driver.find_element(By.ID, "pause-project")
    button.click()
    wait.until(lambda d: d.find_element(By.ID, "pause-project").text == "Resume project")
    shot("5-paused")
    driver.find_element(By.ID, "pause-project").click()
    wait.until(lambda d: d.find_element(By.ID, "pause-project").text == "Pause project")

    step("remove the local copy, confirming")
    retrying(lambda: row().find_element(By.XPATH, ".//button[text()='Remove local']").click())
    driver.switch_to.alert.accept()
    wait.until(lambda d: "not here" in text_of(local_cell))
    shot("6-removed")

    step("keyboard: the table rows and actions take focus")
    def focus():
        tr = row()
        driver.execute_script("arguments[0].focus()", tr)
        return driver.switch_to.active_element == tr
    wait.until(lambda d: focus())
    print("ok:", ", ".join(steps))
except (AssertionError, TimeoutException, StaleElementReferenceException) as e:
    shot("failure")
    print("FAILED at step:", steps[-1] if steps else "start", "-", repr(e), flush=True)
    print(driver.find_element(By.TAG_NAME, "body").text[:3000])
    sys.exit(1)
finally:
    driver.quit()
