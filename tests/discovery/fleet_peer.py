"""Runs in the box's network namespace and asks box A's ``/api/fleet`` every 0.2 s. Prints one JSON
object with every answer's status, time and size.

usage: fleet_peer.py fakes A_URL PREFIX COUNT SECONDS
    until at least COUNT entries named PREFIX... are listed (none of them verified).
usage: fleet_peer.py first A_URL B_NAME SECONDS HOLD [CHROMIUM SCREENSHOT]
    until box B is listed first and running, then for HOLD seconds more (B must stay first), then
    (when a browser is given) until A's page shows B in its fleet list with a link to B's page.
"""

import json
import sys
import time
import urllib.request

mode, base = sys.argv[1], sys.argv[2]
result: dict = {"fleet": None, "after_s": None, "answers": []}


def ask() -> list:
    t0 = time.monotonic()
    with urllib.request.urlopen(base + "/api/fleet", timeout=10) as r:
        body = r.read()
    result["answers"].append({"status": r.status, "s": round(time.monotonic() - t0, 4), "bytes": len(body)})
    return json.loads(body)


def until(ok, seconds: float) -> bool:  # type: ignore[no-untyped-def]
    start = time.monotonic()
    while time.monotonic() - start < seconds:
        fleet = ask()
        result["fleet"] = fleet
        if ok(fleet):
            result["after_s"] = round(time.monotonic() - start, 2)
            return True
        time.sleep(0.2)
    return False


start = time.monotonic()
while time.monotonic() - start < 60:  # box A starting
    try:
        urllib.request.urlopen(base + "/api/status", timeout=5).close()
        break
    except OSError:
        time.sleep(0.2)

if mode == "fakes":
    prefix, count, seconds = sys.argv[3], int(sys.argv[4]), float(sys.argv[5])

    def fakes_listed(fleet: list) -> bool:
        return sum(e["name"].startswith(prefix) and not e.get("verified") for e in fleet) >= count

    result["ok"] = until(fakes_listed, seconds)
else:
    other, seconds, hold = sys.argv[3], float(sys.argv[4]), float(sys.argv[5])

    def b_first(fleet: list) -> bool:
        return bool(fleet) and fleet[0]["name"].startswith(other) and fleet[0]["state"] == "running"

    result["ok"] = until(b_first, seconds)
    if result["ok"]:
        end = time.monotonic() + hold
        stayed = True
        while time.monotonic() < end:
            fleet = ask()
            stayed = stayed and b_first(fleet)
            result["fleet"] = fleet
            time.sleep(0.2)
        result["stayed_first"] = stayed
    if len(sys.argv) > 6 and result["ok"]:
        from playwright.sync_api import sync_playwright

        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=sys.argv[6], headless=True)
            page = browser.new_page(viewport={"width": 1366, "height": 900})
            page.goto(base + "/")
            link = page.locator("#fleet-table a", has_text=other)
            link.wait_for(timeout=20000)
            result["page"] = {"text": page.text_content("#fleet-table"), "href": link.get_attribute("href")}
            page.locator("#fleet-table").scroll_into_view_if_needed()
            page.screenshot(path=sys.argv[7], full_page=True)
            browser.close()
print(json.dumps(result))
