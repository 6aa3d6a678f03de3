"""Haven's web front end: the static pages under ``static/`` and the self-contained map export.

:class:`PageRedirects` sends the addresses people type for the pages to the pages themselves.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any
from urllib.parse import quote

from starlette.responses import RedirectResponse
from starlette.routing import BaseRoute, Match, NoMatchFound, get_route_path
from starlette.types import Receive, Scope, Send

#: The pages' short names: ``/map`` is ``/map.html``, ``/control-room`` the Control Room at ``/``.
PAGE_NAMES = {"map": "map.html", "wizard": "wizard.html", "system": "system.html", "control-room": "index.html"}

_SHORT_NAME = re.compile(r"/([a-z-]+)/?")
# A page with slashes added (``/system.html/``, ``/static/map.html//``). Letters, digits, "_" and
# "-" only: the redirect never leads anywhere but a page of this site.
_PAGE_WITH_SLASH = re.compile(r"/((?:static/)?[A-Za-z0-9_-]+\.html)/+")
# Kept as they are in the query string sent on; anything else (a space, a raw non-ASCII byte) is escaped.
_QUERY_SAFE = "!$&'()*+,-./:;=?@_~%"


class PageRedirects(BaseRoute):
    """``GET`` (and so ``HEAD``) of a page's short name or of a page with a slash added: a redirect.

    ``/map``, ``/wizard``, ``/system`` and ``/control-room`` (with or without a trailing slash)
    answer ``307`` to their page; ``/system.html/`` (or ``/static/system.html/``) answers ``308``
    to ``/system.html``, because its relative ``css/`` and ``js/`` links would otherwise be read
    under ``/system.html/`` and not be found. The query string goes along unchanged. Only pages
    that exist in ``directory`` are redirected to; every other path (the API's included) is left
    to the routes after this one.
    """

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def target(self, path: str) -> tuple[str, int] | None:
        """Where ``path`` is sent, and with which status; None when it is not a page's other address."""
        short = _SHORT_NAME.fullmatch(path)
        if short is not None:
            page = PAGE_NAMES.get(short.group(1))
            if page is not None and (self.directory / page).is_file():
                return ("/" if page == "index.html" else f"/{page}"), 307
            return None
        slashed = _PAGE_WITH_SLASH.fullmatch(path)
        if slashed is not None and (self.directory / slashed.group(1).removeprefix("static/")).is_file():
            return f"/{slashed.group(1)}", 308
        return None

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        if scope["type"] == "http" and scope["method"] == "GET" and self.target(get_route_path(scope)) is not None:
            return Match.FULL, {}
        return Match.NONE, {}

    def url_path_for(self, name: str, /, **path_params: Any) -> Any:
        raise NoMatchFound(name, path_params)

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        found = self.target(get_route_path(scope))
        assert found is not None  # matches() said so
        location, status = found
        location = scope.get("root_path", "") + location
        raw_query = scope.get("query_string", b"")
        if raw_query:
            location += "?" + quote(raw_query, safe=_QUERY_SAFE)
        await RedirectResponse(location, status_code=status)(scope, receive, send)
