#!/usr/bin/python3
# SPDX-License-Identifier: MIT
# The web console's release workflow in headless chromium (selenium 4):
# create a namespace, edit its draft, see the diff, publish, run a gray
# release and promote it, roll back, read the audit log, watch a publish
# made by curl appear live, use it at phone width, log in and out. Any
# JavaScript error in the browser's console fails it. Run by console.sh:
#   console.py BASE_URL SCREENSHOT_DIR
# Prints "ok ..." / "FAIL ..." lines; exits 1 if any check failed.
import json
import os
import subprocess
import sys
import time

from selenium import webdriver
from selenium.common.exceptions import (ElementClickInterceptedException, NoSuchElementException,
                                        StaleElementReferenceException, TimeoutException,
                                        WebDriverException)
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import Select, WebDriverWait

BASE, SHOTS = sys.argv[1], sys.argv[2]
failed = 0
logs = []


def ok(msg):
    print("ok   " + msg, flush=True)


def bad(msg):
    global failed
    failed += 1
    print("FAIL " + msg, flush=True)


def check(name, cond, detail=""):
    (ok if cond else bad)(name + ("" if cond or not detail else ": " + detail))
    return cond


def curl(method, path, body=None, token=None, cookie=None):
    cmd = ["curl", "-s", "-X", method, BASE + path, "-w", "\n%{http_code}"]
    if body is not None:
        cmd += ["--data-binary", body if isinstance(body, str) else json.dumps(body)]
    if token:
        cmd += ["-H", "Authorization: Bearer " + token]
    if cookie:
        cmd += ["-H", "Cookie: " + cookie]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=10).stdout
    text, _, code = out.rpartition("\n")
    return int(code or 0), text


opts = webdriver.ChromeOptions()
opts.binary_location = "/usr/bin/chromium"
for a in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
          "--window-size=1280,800", "--lang=en-US", "--no-first-run"):
    opts.add_argument(a)
opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
try:
    drv = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=opts)
except WebDriverException as e:
    bad("chromium did not start: %s" % str(e).strip().splitlines()[0])
    sys.exit(1)


def viewport(w, h):
    """Sizes the window so that the page itself gets w x h pixels."""
    drv.set_window_size(w, h)
    iw, ih = drv.execute_script("return [innerWidth, innerHeight]")
    drv.set_window_size(2 * w - iw, 2 * h - ih)


viewport(1280, 800)


# The page redraws what it shows when data arrives (live updates too): an
# element found a moment ago may be gone, so lookups are retried.
GONE = (StaleElementReferenceException, NoSuchElementException)


def wait(cond, what, timeout=10):
    """Waits until cond() is true (truthy); a timeout is a failed check."""
    try:
        return WebDriverWait(drv, timeout, poll_frequency=0.1, ignored_exceptions=GONE).until(lambda d: cond())
    except TimeoutException:
        bad("timed out waiting for " + what)
        raise


def retry(fn, timeout=5):
    end = time.time() + timeout
    while True:
        try:
            return fn()
        except GONE + (ElementClickInterceptedException,):
            if time.time() > end:
                raise
            time.sleep(0.1)


def click(sel):
    retry(lambda: css(sel).click())


def css(sel, root=None):
    return (root or drv).find_element(By.CSS_SELECTOR, sel)


def csss(sel, root=None):
    return (root or drv).find_elements(By.CSS_SELECTOR, sel)


def text(sel):
    def get():
        els = csss(sel)
        return els[0].text if els else ""
    return retry(get)


def fill(el, value):
    el.clear()
    el.send_keys(value)


def shot(name):
    path = os.path.join(SHOTS, name + ".png")
    drv.save_screenshot(path)
    print("info: screenshot " + path)


def drain_logs():
    logs.extend(drv.get_log("browser"))


def row(key):
    els = csss('tr[data-key="%s"]' % key)
    return els[0] if els else None


def confirm_dialog(value=None):
    wait(lambda: css("#confirm").get_attribute("open") is not None, "the confirm dialog")
    if value is not None:
        fill(css("#confirm-input"), value)
    click("#confirm-ok")
    wait(lambda: css("#confirm").get_attribute("open") is None, "the dialog to close")


def step(name, fn):
    try:
        fn()
    except Exception as e:  # a failed step is reported, the next ones still run
        bad("%s: %s: %s" % (name, type(e).__name__, str(e).strip().splitlines()[0] if str(e).strip() else ""))
        try:
            shot("failed-" + name.replace(" ", "-"))
        except Exception:
            pass


def add_item(key, value, secret=False):
    form = css("#add-item")
    fill(css("input[name=key]", form), key)
    fill(css("textarea[name=value]", form), value)
    box = css("input[name=secret]", form)
    if box.is_selected() != secret:
        box.click()
    retry(lambda: css("button[type=submit]", form).click())
    wait(lambda: row(key) is not None, "item " + key)


# ---- namespaces ----
def namespaces():
    drv.get(BASE + "/ui/")
    wait(lambda: text("h1") == "Namespaces", "the namespaces page")
    wait(lambda: "No namespaces yet" in text(".nslist"), "the empty list")
    check("only this server's files were loaded",
          drv.execute_script("return performance.getEntriesByType('resource')"
                             ".every(e => e.name.startsWith(location.origin))"))
    form = css("#create-ns")
    fill(css("input[name=app]", form), "demo")
    fill(css("input[name=name]", form), "web")
    Select(css("select[name=format]", form)).select_by_value("json")
    retry(lambda: css("button[type=submit]", form).click())
    wait(lambda: text("h1") == "demo/web", "the new namespace's page")
    check("create goes to the namespace", drv.execute_script("return location.hash") == "#/ns/demo/web")
    wait(lambda: text(".live") == "live", "the live stream")
    ok("the live stream is open")
    # a second one, to show grouping by app
    curl("POST", "/api/v1/ns/demo/mobile", {"format": "yaml"})
    curl("POST", "/api/v1/ns/billing/api", {"format": "properties"})


# ---- the draft's items ----
def items():
    add_item("color", '"blue"')
    add_item("size", "10")
    add_item("password", '"s3cret"', secret=True)
    r = text('tr[data-key="password"]')
    check("a secret value is shown masked", "s3cret" not in r and "••••••" in r, r)
    check("and nowhere on the page", "s3cret" not in drv.find_element(By.TAG_NAME, "body").text)
    add_item("bad", "{oops")
    wait(lambda: "not valid" in text(".state"), "the draft's validation")
    check("the server's validation error is shown", 'item "bad"' in text(".state") and "line 1" in text(".state"),
          text(".state"))
    shot("02-items")
    # publish is refused while the draft is invalid
    click("#tab-publish")
    wait(lambda: "not valid" in text(".state"), "the publish tab's validation")
    check("publish is disabled for an invalid draft", not css("#publish-form button[type=submit]").is_enabled())
    click("#tab-items")
    wait(lambda: row("bad") is not None, "the items again")
    click("button[aria-label='Delete bad']")
    confirm_dialog()
    wait(lambda: row("bad") is None, "bad to go")
    wait(lambda: "unpublished change" in text(".state"), "a valid draft")
    ok("delete with confirm")
    # inline edit, saved from the keyboard (Ctrl+Enter)
    click("button[aria-label='Edit size']")
    ta = wait(lambda: css('tr[data-key="size"] textarea'), "the edit field")
    check("the edit field has the focus", drv.switch_to.active_element == ta)
    fill(ta, "12")
    ta.send_keys(Keys.CONTROL, Keys.ENTER)
    wait(lambda: row("size") is not None and "12" in row("size").text and not csss('tr[data-key="size"] textarea'),
         "size = 12")
    ok("inline edit")
    # Escape leaves an edit without saving
    click("button[aria-label='Edit size']")
    ta = wait(lambda: css('tr[data-key="size"] textarea'), "the edit field")
    fill(ta, "99")
    ta.send_keys(Keys.ESCAPE)
    wait(lambda: not csss('tr[data-key="size"] textarea'), "Escape to cancel")
    check("Escape cancels an edit", "12" in text('tr[data-key="size"]') and "99" not in text('tr[data-key="size"]'))
    check("and gives the focus back to the row", drv.switch_to.active_element.text == "Edit")


# ---- the diff and publish ----
def publish():
    click("#tab-publish")
    wait(lambda: len(csss(".diff tbody tr")) == 3, "the diff's three rows")
    d = text(".diff tbody")
    check("the diff lists the added items", all(k in d for k in ("color", "password", "size")) and "add" in d, d)
    check("a secret stays masked in the diff", "s3cret" not in d)
    fill(css("#publish-form input[name=name]"), "v1")
    fill(css("#publish-form textarea[name=notes]"), "the first release")
    shot("03-diff")
    click("#publish-form button[type=submit]")
    wait(lambda: drv.execute_script("return location.hash") == "#/ns/demo/web/releases", "the releases tab")
    wait(lambda: csss("#rel-1"), "release #1")
    check("release #1 is main", "main" in text("#rel-1") and "main #1" in text(".meta"), text(".meta"))


# ---- gray ----
def gray():
    click("#tab-items")
    wait(lambda: row("color") is not None, "the items")
    click("button[aria-label='Edit color']")
    ta = wait(lambda: css('tr[data-key="color"] textarea'), "the edit field")
    fill(ta, '"green"')
    click('tr[data-key="color"] button.primary')
    wait(lambda: row("color") is not None and "green" in row("color").text, "color = green")
    click("#tab-gray")
    form = wait(lambda: css("#gray-form"), "the gray form")
    fill(css("input[name=gray]", form), "canary")
    fill(css("input[name=labels]", form), "zone=east")
    fill(css("input[name=notes]", form), "green for the east")
    retry(lambda: css("button[type=submit]", form).click())
    wait(lambda: row("canary") is not None, "gray canary")
    g = text('tr[data-key="canary"]')
    check("gray canary runs release #2 for zone=east", "#2" in g and "zone=east" in g, g)
    probe = css("#probe-form")
    fill(css("input[name=plabels]", probe), "zone=east")
    retry(lambda: css("button[type=submit]", probe).click())
    wait(lambda: "#2" in text(".verdict"), "the probe's answer")
    check("zone=east gets the gray release", "gray canary" in text(".verdict") and "green" in text(".probe-out"),
          text(".probe-out"))
    check("the probe masks secrets", "s3cret" not in text(".probe-out") and "••••••" in text(".probe-out"))
    fill(css("input[name=plabels]", probe), "zone=west")
    fill(css("input[name=pip]", probe), "192.0.2.7")
    retry(lambda: css("button[type=submit]", probe).click())
    wait(lambda: "#1" in text(".verdict"), "the probe's second answer")
    check("zone=west gets main", "main" in text(".verdict") and "blue" in text(".probe-out"), text(".probe-out"))
    # two instances following the namespace: one the gray release selects
    followers = [subprocess.Popen(["curl", "-sN", BASE + "/api/v1/ns/demo/web/config/watch?labels=zone%3D" + z],
                                  stdout=subprocess.DEVNULL) for z in ("east", "west")]
    try:
        def instances():
            click("#tab-items")
            click("#tab-gray")
            return wait(lambda: "zone=west" in text("#instances") and "zone=east" in text("#instances")
                        and text("#instances"), "the instances")
        t = retry(instances)
        check("the instances on each version are shown",
              "gray canary" in t and "(main)" in t, t)
        shot("04-gray")
    finally:
        for f in followers:
            f.kill()
            f.wait()
    click("button[aria-label='Promote gray canary']")
    confirm_dialog("looks good")
    wait(lambda: "No gray release" in text(".grays"), "the gray to end")
    wait(lambda: "main #3" in text(".meta"), "main #3")
    ok("promote makes release #3 main")


# ---- history and rollback ----
def releases():
    click("#tab-releases")
    wait(lambda: csss("#rel-3") and csss("#rel-1"), "releases 1 to 3")
    r3 = text("#rel-3")
    check("#3 is a promote of #2 and main", "promote" in r3 and "promotes #2" in r3 and "main" in r3, r3)
    click("#rel-3 summary")
    wait(lambda: csss("#rel-3 .diff tbody tr"), "release #3's diff")
    d = text("#rel-3 .diff")
    check("#3's diff: color blue -> green", "color" in d and "change" in d and '"blue"' in d and '"green"' in d, d)
    click("#rel-1 .actions button")
    confirm_dialog()
    wait(lambda: csss("#rel-4"), "release #4")
    r4 = text("#rel-4")
    check("rollback: #4 restores #1 and is main", "rollback" in r4 and "restores #1" in r4 and "main" in r4, r4)
    wait(lambda: "main #4" in text(".meta"), "main #4")
    shot("05-releases")


# ---- live: a publish by someone else ----
def live():
    code, _ = curl("PUT", "/api/v1/ns/demo/web/items/color", '"red"')
    check("curl sets an item", code == 200, str(code))
    code, body = curl("POST", "/api/v1/ns/demo/web/publish", {"name": "from-curl", "notes": "by another client"})
    check("curl publishes", code == 201, "%d %s" % (code, body))
    wait(lambda: csss("#rel-5"), "release #5 to appear without a reload", timeout=10)
    check("the other client's release shows", "from-curl" in text("#rel-5") and "main" in text("#rel-5"))
    wait(lambda: "main #5" in text(".meta"), "the header to follow")
    wait(lambda: "from-curl" in text("#toast"), "the notice")
    ok("a publish made elsewhere appears live, with a notice")


# ---- audit ----
def audit():
    click("#nav-audit")
    wait(lambda: text("h1") == "Audit log", "the audit page")
    form = css("#audit-form")
    fill(css("input[name=ns]", form), "demo/web")
    retry(lambda: css("button[type=submit]", form).click())
    wait(lambda: "ns=demo%2Fweb" in drv.execute_script("return location.hash") and
         csss(".audit tbody tr:not(.skel)"), "the filtered records")
    t = text(".audit tbody")
    check("the audit has the rollback to #1", "rollback" in t and "to=1" in t, t[:300])
    check("and the publish, promote, gray, set and create", all(a in t for a in ("publish", "promote", "gray", "set", "create")))
    check("the filter keeps other namespaces out", "billing/api" not in t and "demo/mobile" not in t)
    check("no secret value in the audit", "s3cret" not in t)
    shot("06-audit")
    drv.execute_script("arguments[0].value = '2099-01-01T00:00'", css("input[name=since]", form))
    retry(lambda: css("button[type=submit]", form).click())
    wait(lambda: "No records match" in text(".audit tbody"), "since filtering everything out")
    ok("filter by since")
    fill(css("input[name=user]", form), "nobody")
    drv.execute_script("arguments[0].value = ''", css("input[name=since]", form))
    retry(lambda: css("button[type=submit]", form).click())
    wait(lambda: "user=nobody" in drv.execute_script("return location.hash") and
         "No records match" in text(".audit tbody"), "the user filter")
    ok("filter by user")


# ---- the namespaces list, phone width ----
def phone():
    drv.get(BASE + "/ui/#/")
    wait(lambda: len(csss(".nslist section.app")) == 2, "two apps")
    check("namespaces grouped by app", [e.text for e in csss(".nslist h2")] == ["billing", "demo"],
          str([e.text for e in csss(".nslist h2")]))
    shot("01-namespaces")
    viewport(375, 800)
    drv.get(BASE + "/ui/#/ns/demo/web/items")
    wait(lambda: row("color") is not None, "the items at 375px")
    w = drv.execute_script("return [document.documentElement.scrollWidth, document.documentElement.clientWidth]")
    check("no sideways scrolling at 375px", w[0] <= w[1], str(w))
    cols = drv.execute_script("return getComputedStyle(document.querySelector('#add-item')).gridTemplateColumns")
    check("forms are one column at 375px", len(cols.split()) == 1, cols)
    shot("07-phone-items")
    drv.get(BASE + "/ui/#/ns/demo/web/releases")
    wait(lambda: csss("#rel-5"), "the releases at 375px")
    w = drv.execute_script("return [document.documentElement.scrollWidth, document.documentElement.clientWidth]")
    check("releases fit at 375px", w[0] <= w[1], str(w))
    shot("08-phone-releases")
    viewport(1280, 800)


# ---- no layout shift when data arrives (Web Vitals' "good": CLS < 0.1) ----
CLS = """const done = arguments[0]; let s = 0;
new PerformanceObserver((l) => { for (const e of l.getEntries()) if (!e.hadRecentInput) s += e.value; })
  .observe({ type: 'layout-shift', buffered: true });
setTimeout(() => done(s), 300);"""


def stability():
    for page, ready in (("#/", ".nslist section.app"), ("#/ns/demo/web/items", 'tr[data-key="color"]'),
                        ("#/ns/demo/web/releases", "#rel-5"), ("#/audit", ".audit tbody tr:not(.skel)")):
        drv.get("about:blank")
        drv.get(BASE + "/ui/" + page)
        wait(lambda: csss(ready), page + " to load")
        cls = drv.execute_async_script(CLS)
        check("%s loads without layout shift (CLS %.3f)" % (page, cls), cls < 0.1)


# ---- keyboard: everything is reachable and focus is visible ----
def keyboard():
    drv.get(BASE + "/ui/#/ns/demo/web/items")
    wait(lambda: row("color") is not None, "the items")
    body = drv.find_element(By.TAG_NAME, "body")
    seen, visible = set(), True
    for _ in range(40):
        drv.switch_to.active_element.send_keys(Keys.TAB)
        a = drv.switch_to.active_element
        desc = drv.execute_script("const e = arguments[0]; return e.tagName + '#' + (e.id || e.textContent.trim().slice(0, 20))", a)
        seen.add(desc)
        style = drv.execute_script("const s = getComputedStyle(arguments[0]); return s.outlineStyle + ' ' + s.outlineWidth", a)
        if a != body and style.startswith("none"):
            visible = False
    check("Tab reaches the tabs and the row buttons", any("Edit" in s for s in seen) and any("tab-gray" in s for s in seen),
          str(sorted(seen))[:300])
    check("the focused element is outlined", visible)


# ---- login and logout ----
def login():
    for path, body in (("/v3/auth/user/add", {"name": "root", "password": "rootpw"}),
                       ("/v3/auth/role/add", {"name": "root"}),
                       ("/v3/auth/user/grant", {"user": "root", "role": "root"}),
                       ("/v3/auth/enable", {})):
        code, out = curl("POST", path, body)
        if code != 200:
            bad("%s: %d %s" % (path, code, out))
    drv.get(BASE + "/ui/#/")
    wait(lambda: csss("#login-form"), "the login form on a 401")
    ok("a 401 brings the login form")
    form = css("#login-form")
    fill(css("input[name=username]", form), "root")
    fill(css("input[name=password]", form), "wrong")
    retry(lambda: css("button[type=submit]", form).click())
    wait(lambda: css(".error", form).is_displayed(), "the login error")
    check("a wrong password is refused with the server's reason", "auth" in css(".error", form).text.lower(),
          css(".error", form).text)
    shot("09-login")
    fill(css("input[name=password]", form), "rootpw")
    retry(lambda: css("button[type=submit]", form).click())
    wait(lambda: text("h1") == "Namespaces" and csss(".nslist section.app"), "the namespaces after login")
    cookies = {c["name"]: c for c in drv.get_cookies()}
    sess = cookies.get("kumo_session")
    check("the session is a cookie", sess is not None, str(list(cookies)))
    check("which the page's scripts cannot read", sess and sess.get("httpOnly") and
          "kumo_session" not in drv.execute_script("return document.cookie"), str(sess))
    check("and other sites cannot send", sess and sess.get("sameSite") == "Strict", str(sess))
    check("nothing of it in the page's storage",
          drv.execute_script("return sessionStorage.length + localStorage.length") == 0)
    check("the user is shown", css("#who-name").text == "root" and css("#logout").is_displayed())
    jar = "kumo_session=" + sess["value"]
    code, _ = curl("GET", "/api/v1/ns", cookie=jar)
    check("the cookie is the session for a read", code == 200, str(code))
    code, out = curl("PUT", "/api/v1/ns/demo/web/items/forged", "1", cookie=jar)
    check("a change with the cookie but without X-Kumo-CSRF (a forged cross-site request) is refused",
          code == 403, "%d %s" % (code, out))
    drv.get(BASE + "/ui/#/ns/demo/web/releases")
    wait(lambda: text(".live") == "live", "the live stream with the session")
    ok("the watch streams with the session cookie")
    drv.refresh()
    wait(lambda: css("#who-name").text == "root", "the user after a reload")
    ok("a reload keeps the session")
    click("#logout")
    wait(lambda: csss("#login-form"), "the login form after logout")
    check("logout clears the cookie", "kumo_session" not in {c["name"] for c in drv.get_cookies()})
    code, _ = curl("GET", "/api/v1/ns", cookie=jar)
    check("logout revoked the session on the server", code == 401, str(code))


try:
    for name, fn in (("namespaces", namespaces), ("items", items), ("publish", publish), ("gray", gray),
                     ("releases", releases), ("live", live), ("audit", audit), ("phone", phone), ("stability", stability),
                     ("keyboard", keyboard), ("login", login)):
        step(name, fn)
        drain_logs()
finally:
    try:
        drain_logs()
    except Exception:
        pass
    drv.quit()

# The browser's console: a JavaScript error (or a CSP refusal) fails the
# test; failed requests are the network's, and some were meant (401s).
errors = [e for e in logs if e.get("level") == "SEVERE" and e.get("source") != "network"]
errors += [e for e in logs if e.get("level") == "WARNING" and e.get("source") in ("javascript", "console-api")]
for e in logs:
    if e.get("source") == "network":
        print("info: network: " + e.get("message", ""))
check("no JavaScript error in the browser's console", not errors,
      "; ".join("%s %s" % (e.get("source"), e.get("message")) for e in errors))
sys.exit(1 if failed else 0)
