"""``/docs``: the API reference opens from the server's own copy of Swagger UI, with no internet."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from playwright.sync_api import expect


def test_the_reference_draws_without_leaving_the_server(page, module_server) -> None:
    here = urlsplit(module_server).netloc
    elsewhere: list[str] = []

    def only_this_server(route) -> None:
        if urlsplit(route.request.url).netloc == here:
            route.continue_()
        else:  # what a machine without the internet does to a CDN request
            elsewhere.append(route.request.url)
            route.abort()

    page.route("**/*", only_this_server)
    page.goto(f"{module_server}/docs")
    expect(page.locator(".swagger-ui .info .title")).to_contain_text("Haven")
    expect(page.locator(".opblock-summary-path", has_text=re.compile(r"^/api/v1/systems$")).first).to_be_visible()
    assert elsewhere == []
    assert page.page_errors == []
