"""The web page in headless Chromium (Debian's chromium + chromium-driver, driven by Selenium) against
a live server on loopback: search by text and by photo, open a product, accept a match in the review
queue. Screenshots go to test-artifacts/browser/; any browser console error fails the test.

Skipped, with the reason, when chromium or chromedriver is not installed (`make test` installs them
when run as root).
"""

from __future__ import annotations

import os
import shutil

import httpx
import pytest

from tests.helpers import REPO
from tests.serve.conftest import KEY

ARTIFACTS = REPO / "test-artifacts" / "browser"
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-dev-shm-usage", "--window-size=1360,900")
WAIT = 30  # seconds; the first search on a cold, shared 2-core machine can take a few


def chromium() -> tuple[str, str]:
    browser = next(filter(None, map(shutil.which, ("chromium", "chromium-browser"))), None)
    driver = shutil.which("chromedriver")
    if not browser or not driver:
        pytest.skip("headless browser tests need Debian's chromium and chromium-driver "
                    "(apt-get install chromium chromium-driver; `make test` does it as root)")
    return browser, driver


def open_browser(*extra_flags: str):
    browser_path, driver_path = chromium()
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    os.environ.setdefault("SE_OFFLINE", "true")  # never let Selenium look for a driver online
    options = webdriver.ChromeOptions()
    options.binary_location = browser_path
    for flag in FLAGS + extra_flags:
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(executable_path=driver_path), options=options)
    driver.set_page_load_timeout(WAIT)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return driver


@pytest.fixture
def browser():
    driver = open_browser()
    yield driver
    driver.quit()


@pytest.fixture
def offline_browser():
    """A browser that can resolve no host name and reach no address but 127.0.0.1 (a machine offline)."""
    driver = open_browser("--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1")
    yield driver
    driver.quit()


def console_errors(driver) -> list[str]:
    return [entry["message"] for entry in driver.get_log("browser") if entry["level"] == "SEVERE"]


def wait_for(driver, css: str, timeout: float = WAIT):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as EC
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, timeout).until(EC.presence_of_element_located((By.CSS_SELECTOR, css)))


def test_search_open_product_and_accept_a_match(browser, live_server):
    from selenium.webdriver.common.by import By

    server, served, _ = live_server
    a_id, b_id = served.labelled
    with httpx.Client(base_url=server.url) as http:
        title = http.get("/api/product", params={"id": a_id}).json()["product"]["title"]

    # The link `shopgraph serve` prints carries the key; the page keeps it for this tab only.
    browser.get(f"{server.url}/#key={KEY}")
    wait_for(browser, "#footer:not(:empty)")
    assert "products on shop_a, shop_b" in browser.find_element(By.ID, "footer").text

    # Search by text: a grid of results with images, brands, prices, platforms and scores; facets.
    box = browser.find_element(By.ID, "q")
    box.send_keys(title)
    browser.find_element(By.ID, "search-button").click()
    wait_for(browser, "#results .card")
    cards = browser.find_elements(By.CSS_SELECTOR, "#results .card")
    assert cards[0].get_attribute("data-id") == a_id
    assert b_id in [c.get_attribute("data-id") for c in cards]
    first = cards[0].text
    assert "shop_a" in first and any(ch.isdigit() for ch in first)
    facets = {f.get_attribute("data-facet") for f in browser.find_elements(By.CSS_SELECTOR, "#facets .facet")}
    assert {"brand", "category", "platform"} <= facets
    browser.save_screenshot(str(ARTIFACTS / "1-search.png"))

    # A facet narrows the results to one platform.
    browser.find_element(By.CSS_SELECTOR, '.facet[data-facet="platform"] a.option').click()
    wait_for(browser, ".facet a.chosen")
    platforms = {c.find_element(By.CSS_SELECTOR, ".platform").text
                 for c in browser.find_elements(By.CSS_SELECTOR, "#results .card")}
    assert len(platforms) == 1

    # Open the product: brand, category path, its SAME_AS listing on the other platform, neighbours.
    browser.get(f"{server.url}/#/?q={title}")
    wait_for(browser, f'#results .card[data-id="{a_id}"] a.plink').click()
    page = wait_for(browser, f'#product[data-id="{a_id}"]')
    assert title in page.text and "Brand" in page.text
    listing = wait_for(browser, f'#same-as tr[data-id="{b_id}"]')
    assert "label" in listing.text and "shop_b" in listing.text
    assert browser.find_elements(By.CSS_SELECTOR, "#similar .card")
    browser.save_screenshot(str(ARTIFACTS / "2-product.png"))

    # Ask the matcher for this product's best listings on shop_b, with evidence.
    browser.find_element(By.CSS_SELECTOR, ".actions button").click()
    evidence = wait_for(browser, "#match-results table .evidence li")
    assert evidence.text.startswith(("for: ", "against: ", "neutral: "))  # plain words, not feature names

    # Review queue: accept the first proposed match; the decision is stored in the graph.
    browser.find_element(By.ID, "nav-review").click()
    pair = wait_for(browser, "#queue .pair")
    src, dst = pair.get_attribute("data-src"), pair.get_attribute("data-dst")
    browser.save_screenshot(str(ARTIFACTS / "3-review.png"))
    pair.find_element(By.CSS_SELECTOR, "button.accept").click()
    wait_for(browser, "#queue .pair.decided.accepted")
    browser.save_screenshot(str(ARTIFACTS / "4-accepted.png"))
    with httpx.Client(base_url=server.url) as http:
        same = {x["product"]["id"]: x["status"] for x in http.get("/api/product", params={"id": src}).json()["same_as"]}
    assert same[dst] == "accepted"

    assert console_errors(browser) == []


def overflowing(driver) -> list[str]:
    """What makes the page wider than the window (the document's scroll width beyond its client width),
    and the elements reaching past the right edge, as tag.class#id. Elements inside a box that scrolls
    or clips sideways (a wide table in its own scroller) do not widen the page and are not listed."""
    return driver.execute_script("""
        const width = document.documentElement.clientWidth;
        const clipped = (e) => {
            for (let a = e.parentElement; a && a !== document.body; a = a.parentElement)
                if (["auto", "scroll", "hidden", "clip"].includes(getComputedStyle(a).overflowX)) return true;
            return false;
        };
        const wide = [...document.querySelectorAll("body *")]
            .filter((e) => e.getBoundingClientRect().right > width + 1 && !clipped(e));
        if (document.documentElement.scrollWidth > width || document.body.scrollWidth > width)
            wide.push(`document ${document.documentElement.scrollWidth} px in a ${width} px window`);
        return wide.map((e) => typeof e === "string" ? e
            : e.tagName.toLowerCase() + (e.className ? "." + e.className : "") + (e.id ? "#" + e.id : ""));
    """)


def at_phone_width(driver, check_css: str) -> list[str]:
    """The page at 420 px wide, once check_css has laid out: what overflows (nothing, for a page that works)."""
    driver.set_window_size(420, 900)
    wait_for(driver, check_css)
    width = driver.execute_script("return document.documentElement.clientWidth")
    assert width <= 420, width
    return overflowing(driver)


def test_search_by_photo_ranked_with_the_query_photo_shown(browser, live_server):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    server, served, host = live_server
    product = next(p for p in map(host.graph.product, [a for a, _ in served.review] + list(served.labelled))
                   if not p.image_missing)
    with httpx.Client(base_url=server.url) as http:
        aligned = http.get("/api/health").json()["aligned"]
    browser.get(server.url + "/")
    wait_for(browser, "#footer:not(:empty)")

    # Rank by: the channels that need the learned image-text space are offered only once it is trained.
    rank = Select(browser.find_element(By.ID, "rank-by"))
    options = {o.get_attribute("value"): o for o in rank.options}
    assert set(options) == {"hybrid", "auto", "fused", "text", "image"}
    assert rank.first_selected_option.get_attribute("value") == "hybrid"  # hybrid search is the default
    for name in ("text", "image"):
        assert options[name].is_enabled() == aligned
        assert aligned or "shopgraph train" in options[name].get_attribute("title")
    rank.select_by_value("fused")

    browser.find_element(By.ID, "photo").send_keys(str(host.graph.image_file(product)))
    browser.find_element(By.ID, "search-button").click()
    card = wait_for(browser, "#results .card")
    assert card.get_attribute("data-id") == product.id
    summary = browser.find_element(By.CSS_SELECTOR, ".summary").text
    assert "photo" in summary and "ranked by text + photo" in summary and "rank_by=fused" in browser.current_url
    # The photo searched with is shown (a local blob: URL of the chosen file, decoded by the browser).
    shown = browser.find_element(By.ID, "query-photo")
    assert shown.get_attribute("src").startswith("blob:")
    assert browser.execute_script("return arguments[0].complete && arguments[0].naturalWidth", shown) > 0
    browser.save_screenshot(str(ARTIFACTS / "5-photo-search.png"))

    # The same results and the product page at 420 px: nothing wider than the screen.
    assert at_phone_width(browser, "#results .card") == []
    browser.save_screenshot(str(ARTIFACTS / "7-phone-search.png"))
    browser.get(f"{server.url}/#/product?id={product.id}")
    assert at_phone_width(browser, f'#product[data-id="{product.id}"] #similar .card') == []
    browser.save_screenshot(str(ARTIFACTS / "8-phone-product.png"))
    assert console_errors(browser) == []


def test_review_counts_undo_and_bulk_decisions(browser, live_server):
    from selenium.webdriver.common.by import By

    server, served, _ = live_server
    waiting = len(served.review)
    assert waiting >= 2, "the served graph needs two pairs in its review queue"

    def counts() -> tuple[str, str]:
        return (browser.find_element(By.ID, "queue-count").text, browser.find_element(By.ID, "review-count").text)

    def wait_counts(n: int) -> None:
        from selenium.webdriver.support.ui import WebDriverWait

        WebDriverWait(browser, WAIT).until(lambda d: counts() == (str(n), f"({n})"), f"counts {counts()} != {n}")

    def statuses(src: str) -> dict[str, str]:
        with httpx.Client(base_url=server.url) as http:
            page = http.get("/api/product", params={"id": src}).json()
        return {**{x["product"]["id"]: x["status"] for x in page["same_as"]},
                **{x["product"]["id"]: "different" for x in page["different_from"]}}

    browser.get(f"{server.url}/#key={KEY}")
    wait_for(browser, "#footer:not(:empty)")
    assert browser.find_element(By.ID, "review-count").text == f"({waiting})"  # in the header on every page
    browser.find_element(By.ID, "nav-review").click()
    pairs = [wait_for(browser, "#queue .pair")] and browser.find_elements(By.CSS_SELECTOR, "#queue .pair")
    wait_counts(waiting)
    key = [(p.get_attribute("data-src"), p.get_attribute("data-dst")) for p in pairs]

    # One decision: the counts drop at once; Undo puts the pair back (in the page and in the graph).
    pairs[0].find_element(By.CSS_SELECTOR, "button.accept").click()
    wait_for(browser, "#queue .pair.decided.accepted")
    wait_counts(waiting - 1)
    assert statuses(key[0][0])[key[0][1]] == "accepted"
    browser.find_element(By.ID, "undo").click()
    wait_counts(waiting)
    assert not browser.find_elements(By.CSS_SELECTOR, "#queue .pair.decided")
    assert statuses(key[0][0])[key[0][1]] == "review"

    # Bulk: reject every pair (select all), undo them all, then accept the one selected pair.
    browser.find_element(By.ID, "pick-all").click()
    browser.find_element(By.ID, "bulk-reject").click()
    wait_counts(0)
    assert len(browser.find_elements(By.CSS_SELECTOR, "#queue .pair.decided.rejected")) == waiting
    assert f"{waiting} pairs rejected" in browser.find_element(By.ID, "message").text
    assert all(statuses(src)[dst] == "different" for src, dst in key)
    browser.save_screenshot(str(ARTIFACTS / "9-bulk-rejected.png"))
    browser.find_element(By.ID, "undo").click()
    wait_counts(waiting)
    assert all(statuses(src)[dst] == "review" for src, dst in key)
    pairs[1].find_element(By.CSS_SELECTOR, "input.pick").click()
    browser.find_element(By.ID, "bulk-accept").click()
    wait_counts(waiting - 1)
    assert [statuses(src)[dst] for src, dst in key[:2]] == ["review", "accepted"]

    # The review page at 420 px: nothing wider than the screen.
    assert at_phone_width(browser, "#queue .pair") == []
    browser.save_screenshot(str(ARTIFACTS / "10-phone-review.png"))
    assert console_errors(browser) == []


def test_errors_show_as_messages_not_console_errors(browser, live_server):
    from selenium.webdriver.common.by import By

    server, _, _ = live_server
    browser.get(server.url + "/#/product?id=shop_a:no-such-product")
    message = wait_for(browser, "#message.error")
    assert "no product" in message.text
    # Accepting without the key explains what is missing.
    browser.get(server.url + "/#/review")
    wait_for(browser, "#queue .pair button.accept").click()
    assert "API key" in wait_for(browser, "#message.error").text
    # A failed fetch (404) is logged by Chromium as a network error; the page itself logs nothing else.
    errors = [e for e in console_errors(browser) if "status of 404" not in e]
    assert errors == []



def test_api_docs_work_offline(offline_browser, matched_graph, tmp_path):
    """/docs: Swagger UI from the installed package, under the page's CSP, with no host but the
    loopback address reachable (no CDN), and nothing fetched from anywhere but this server."""
    from selenium.webdriver.common.by import By

    from shopgraph.queries.api import ShopGraph
    from shopgraph.serve.app import create_app
    from shopgraph.serve.host import GraphHost, ServeSettings
    from tests.serve.conftest import LiveServer, copy_graph

    browser = offline_browser
    host = GraphHost(ShopGraph.open(copy_graph(matched_graph.db, tmp_path), read_only=True), ServeSettings(api_key=KEY))
    server = LiveServer(create_app(host, warm_up=False)).start()
    try:
        browser.get(server.url + "/docs")
        wait_for(browser, "#swagger-ui .opblock")
        paths = {e.text.replace("\u200b", "") for e in browser.find_elements(By.CSS_SELECTOR, ".opblock-summary-path")}
        assert {"/api/search", "/api/review", "/api/cypher"} <= paths, paths
        browser.find_element(By.CSS_SELECTOR, "button.authorize")  # the X-API-Key scheme can be entered
        browser.save_screenshot(str(ARTIFACTS / "6-api-docs.png"))
        resources = browser.execute_script("return performance.getEntriesByType('resource').map(e => e.name)")
        assert resources and all(name.startswith(server.url) for name in resources), resources
        assert console_errors(browser) == []
    finally:
        server.stop()
        host.close()


@pytest.fixture
def trained_server(served_copy):
    """A live server (embedded store) over a copy whose alignment model is trained (a few epochs):
    the rank-by channels that need the learned space are offered."""
    from shopgraph.config import AlignConfig, Config
    from shopgraph.queries.api import ShopGraph
    from tests.serve.conftest import LiveServer, make_app

    with ShopGraph.open(served_copy.db, config=Config(align=AlignConfig(epochs=8))) as sg:
        sg.train(gnn=False)
    app, host = make_app(served_copy.db, image_root=served_copy.photos)
    server = LiveServer(app).start()
    yield server, served_copy, host
    server.stop()
    host.close()


def test_rank_by_product_text_and_photo_once_trained(browser, trained_server):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    server, served, host = trained_server
    product = next(p for p in map(host.graph.product, [a for a, _ in served.review] + list(served.labelled))
                   if not p.image_missing)
    with httpx.Client(base_url=server.url) as http:
        assert http.get("/api/health").json()["aligned"]
    browser.get(server.url + "/")
    wait_for(browser, "#footer:not(:empty)")
    rank = Select(browser.find_element(By.ID, "rank-by"))
    assert all(option.is_enabled() for option in rank.options)

    # Text search ranked by the learned text vectors: the URL and the summary say so.
    rank.select_by_value("text")
    browser.find_element(By.ID, "q").send_keys(product.title)
    browser.find_element(By.ID, "search-button").click()
    wait_for(browser, "#results .card")
    ids = [c.get_attribute("data-id") for c in browser.find_elements(By.CSS_SELECTOR, "#results .card")]
    assert product.id in ids[:3]
    assert "rank_by=text" in browser.current_url
    assert "ranked by product text" in browser.find_element(By.CSS_SELECTOR, ".summary").text
    browser.save_screenshot(str(ARTIFACTS / "9-rank-by-text.png"))

    # Photo search ranked by the learned image vectors: the product's own photo puts it first.
    browser.get(server.url + "/")
    wait_for(browser, "#footer:not(:empty)")
    rank = Select(browser.find_element(By.ID, "rank-by"))
    rank.select_by_value("image")
    browser.find_element(By.ID, "photo").send_keys(str(host.graph.image_file(product)))
    browser.find_element(By.ID, "search-button").click()
    card = wait_for(browser, "#results .card")
    assert card.get_attribute("data-id") == product.id
    assert "rank_by=image" in browser.current_url
    assert "ranked by product photo" in browser.find_element(By.CSS_SELECTOR, ".summary").text
    browser.save_screenshot(str(ARTIFACTS / "10-rank-by-photo.png"))
    assert console_errors(browser) == []
