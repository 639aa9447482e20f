"""Runs inside the test's private network namespace: two boxes are up; wait until box A's
``/api/fleet`` lists box B, and (when a browser is given) until A's page shows B in its fleet list
with a link to B's page. Prints one JSON object.
usage: fleet_peer.py A_URL B_NAME SECONDS [CHROMIUM SCREENSHOT]
"""

import json
import sys
import time
import urllib.request

base, other, seconds = sys.argv[1], sys.argv[2], float(sys.argv[3])
result = {"fleet": None, "page": None}
deadline = time.time() + seconds
while time.time() < deadline:
    with urllib.request.urlopen(base + "/api/fleet", timeout=5) as r:
        fleet = json.load(r)
    if any(e["name"].startswith(other) and e["state"] == "running" for e in fleet):
        result["fleet"] = fleet
        break
    time.sleep(0.5)
if len(sys.argv) > 4 and result["fleet"]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=sys.argv[4], headless=True)
        page = browser.new_page(viewport={"width": 1366, "height": 900})
        page.goto(base + "/")
        link = page.locator("#fleet a", has_text=other)
        link.wait_for(timeout=20000)
        result["page"] = {"text": page.text_content("#fleet"), "href": link.get_attribute("href")}
        page.locator("#fleet").scroll_into_view_if_needed()
        page.screenshot(path=sys.argv[5], full_page=True)
        browser.close()
print(json.dumps(result))
