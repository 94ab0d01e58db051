"""/docs in a real browser: headless Chromium (Debian's) driven by Playwright.

A developer's path through the page: it opens on the whole service's OpenAPI
3.1 document, the selector lists it and every feature's OpenAPI 3.1 document and
Swagger 2.0 spec, each one renders, Authorize takes the bearer token, and "Try it
out" creates a foo whose 201 shows in the page. The page must load nothing from
elsewhere and run under the service's Content-Security-Policy without a console
error. A screenshot is saved under .test-artifacts/.

`make test` installs Chromium (Debian package `chromium`) when it is missing;
elsewhere this test skips, saying so.
"""

import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from myapp import FEATURES

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = Path(__file__).resolve().parent.parent / ".test-artifacts"
TIMEOUT_MS = 20_000

pytestmark = pytest.mark.skipif(
    not os.access(CHROMIUM, os.X_OK),
    reason=f"no Chromium at {CHROMIUM}: `make test` installs it (Debian package"
    " chromium), or apt-get install chromium",
)


@dataclass
class Seen:
    """What the page did besides rendering: console errors, requested URLs."""

    errors: list = field(default_factory=list)
    urls: list = field(default_factory=list)

    def foreign_urls(self, origin):
        return [url for url in self.urls if not url.startswith(origin + "/")]

    def console(self, message):
        if message.type == "error":
            self.errors.append(message.text)


@pytest.fixture
def seen():
    return Seen()


@pytest.fixture(scope="module")
def browser():
    """One headless Chromium for this module's tests."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, timeout=TIMEOUT_MS
        )
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def page(browser, seen):
    """A fresh page (its own cookies and storage), watched by ``seen``."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    try:
        page = context.new_page()
        page.set_default_timeout(TIMEOUT_MS)
        page.on("console", seen.console)
        page.on("pageerror", lambda error: seen.errors.append(str(error)))
        page.on("request", lambda request: seen.urls.append(request.url))
        yield page
    finally:
        context.close()


def _spec(feature, live_server):
    return live_server.app.test_client().get(live_server.spec_url(feature)).get_json()


def _document(live_server, url):
    return live_server.app.test_client().get(url).get_json()


def _operations(spec):
    return sum(
        method in ("get", "put", "post", "delete", "patch")
        for path in spec["paths"].values()
        for method in path
    )


def _offered(live_server):
    """What /docs should offer, in order: (selector label, document URL)."""
    offered = [("myapp (OpenAPI 3.1)", "/openapi.json")]
    for blueprint in FEATURES:
        name = blueprint.name
        for version, endpoint in (("OpenAPI 3.1", "openapi"), ("Swagger 2.0", "specs")):
            url = live_server.page_url(f"{name}.{endpoint}")
            offered.append((f"{name} ({version})", url.removeprefix(live_server.url)))
    return offered


def test_docs_page_lists_every_document_and_creates_a_foo(
    page, seen, live_server, database_url
):
    offered = _offered(live_server)
    page.goto(f"{live_server.url}/docs")
    selector = page.locator(".topbar select")
    selector.wait_for()
    assert selector.locator("option").all_inner_texts() == [
        label for label, _ in offered
    ]
    # The whole service's OpenAPI 3.1 document is the one shown first.
    assert selector.input_value() == "/openapi.json"
    service = _document(live_server, "/openapi.json")
    page.locator(".information-container .title").filter(
        has_text=service["info"]["title"]
    ).wait_for()
    page.locator(".information-container .title .version-stamp").filter(
        has_text="OAS 3.1"
    ).wait_for()
    page.locator(".opblock").first.wait_for()
    # swagger-ui warns above the operations about what it cannot render.
    assert "Warning" not in page.locator(".information-container").inner_text()

    for label, url in reversed(offered):
        document = _document(live_server, url)
        selector.select_option(label=label)
        title = page.locator(".information-container .title")
        title.filter(has_text=document["info"]["title"]).wait_for()
        page.locator(".opblock").first.wait_for()
        assert page.locator(".opblock").count() == _operations(document), label
    assert selector.input_value() == "/openapi.json"

    # An HTTP bearer scheme: swagger-ui takes the token alone and adds "Bearer".
    page.click("button.authorize")
    page.fill(".modal-ux input", live_server.token)
    page.click(".modal-ux button.authorize")
    page.click(".modal-ux button.btn-done")

    operation = page.locator("#operations-foo-post_foo_list")
    operation.locator(".opblock-summary").click()
    operation.locator("button.try-out__btn").click()
    operation.locator("textarea.body-param__text").fill(
        json.dumps({"name": "made in the docs page"})
    )
    with page.expect_response(
        lambda response: response.request.method == "POST"
    ) as answer:
        operation.locator("button.execute").click()
    sent = answer.value.request
    assert sent.url == f"{live_server.url}/v1/foo/"
    assert sent.headers["authorization"] == f"Bearer {live_server.token}"
    assert answer.value.status == 201

    live = operation.locator(".live-responses-table .response-col_status")
    live.filter(has_text="201").wait_for()
    body = operation.locator(".live-responses-table .response-col_description pre")
    created = json.loads(body.first.inner_text())
    assert created["name"] == "made in the docs page"
    assert re.search(r"location: /v1/foo/\d+", operation.inner_text(), re.I)

    ARTIFACTS.mkdir(exist_ok=True)
    dialect = database_url.split(":", 1)[0].split("+", 1)[0]
    page.evaluate("window.scrollTo(0, 0)")
    page.screenshot(path=ARTIFACTS / f"docs-{dialect}-top.png")
    operation.locator(".request-url").scroll_into_view_if_needed()
    page.screenshot(path=ARTIFACTS / f"docs-{dialect}-post-201.png")

    client = live_server.app.test_client()
    stored = client.get(f"/v1/foo/{created['id']}").get_json()
    assert stored == created
    assert seen.errors == []
    assert seen.foreign_urls(live_server.url) == []


@pytest.mark.parametrize("feature", [blueprint.name for blueprint in FEATURES])
def test_each_feature_docs_page_renders(page, seen, live_server, feature):
    spec = _spec(feature, live_server)
    page.goto(live_server.page_url(f"{feature}.doc"))
    title = page.locator(".information-container .title")
    title.filter(has_text=spec["info"]["title"]).wait_for()
    page.locator(".opblock-tag").first.click()  # this page starts collapsed
    page.locator(".opblock").first.wait_for()
    assert page.locator(".opblock").count() == _operations(spec)
    assert seen.errors == []
    assert seen.foreign_urls(live_server.url) == []
