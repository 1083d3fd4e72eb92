"""Drives headless Chromium through GitLab's "Fix and retry failed batched background
migrations" procedure against a running `conveyor web`:
open the Failed tab, click Retry, see the migration queued again; save a screenshot.

usage: retry_failed_migration.py BASE_URL MIGRATION_ID SCREENSHOT_PATH
"""
import sys

from selenium import webdriver
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import WebDriverWait
from selenium.common.exceptions import StaleElementReferenceException, WebDriverException


def gone(element):
    """A wait condition: the element's page was replaced. Chromium reports a node of an
    unloaded document either as stale or, mid-navigation, as "does not belong to the
    document"; both mean the old page is gone."""
    def check(_driver):
        try:
            element.is_enabled()
            return False
        except StaleElementReferenceException:
            return True
        except WebDriverException as error:
            if "does not belong to the document" in str(error):
                return True
            raise
    return check

base, migration_id, screenshot = sys.argv[1], sys.argv[2], sys.argv[3]
options = Options()
for argument in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1400,1000"):
    options.add_argument(argument)
options.binary_location = "/usr/bin/chromium"
driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
try:
    link = f"/admin/background_migrations/{migration_id}"
    driver.get(base + "/admin/background_migrations?tab=failed")
    assert "Background Migrations" in driver.title, driver.title
    row = driver.find_element(By.XPATH, f"//a[@href='{link}']/ancestor::tr")
    assert "failed" in row.text, row.text
    # A click that submits a form returns before the next page has loaded: wait for the old
    # page to go, then for the element on the new one.
    wait = WebDriverWait(driver, 30)
    row.find_element(By.XPATH, ".//button[normalize-space()='Retry']").click()
    wait.until(gone(row))
    notice = wait.until(EC.presence_of_element_located((By.CSS_SELECTOR, "p.notice"))).text
    assert "active again" in notice, notice
    tab = driver.find_element(By.XPATH, "//nav[@class='tabs']/a[starts-with(normalize-space(), 'Queued')]")
    tab.click()
    wait.until(gone(tab))
    row = wait.until(EC.presence_of_element_located((By.XPATH, f"//a[@href='{link}']/ancestor::tr")))
    assert "active" in row.text, row.text
    driver.save_screenshot(screenshot)
    print(f"retried migration {migration_id}; it is queued again: {row.text!r}")
finally:
    driver.quit()
