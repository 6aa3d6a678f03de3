"""Opaque, tamper-checked pagination cursors.

A cursor is ``base64url(mac || body)`` without padding, where ``body`` is a
msgpack map and ``mac`` is the first 16 bytes of HMAC-SHA256(secret, body).
The map holds:

- ``k``: the kind of listing (``"page"`` for name-ordered pages, ``"search"``);
- ``s``: the identity of the query it belongs to (galaxy, region, search
  term), so a cursor cannot be replayed against a different filter;
- the position, which also says the direction: ``a`` (after this name),
  ``b`` (before this name), ``e`` (before the end), ``i`` (after this id),
  ``bi`` (before this id; search in id order);
- ``p``/``l``: the page number and page size it was made for, so a UI can
  show "Page X of Y" while paging by key.

The secret lives in the store's ``meta`` table under ``cursor_secret`` and is
created on first use, so cursors survive restarts and work across processes
sharing a database. A cursor that does not verify is a 400 naming ``cursor``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import logging
import secrets
from typing import Any

import msgpack

from haven.errors import InvalidInput
from haven.model import INT64_MAX

SECRET_META_KEY = "cursor_secret"
MAC_BYTES = 16
MAX_CURSOR_CHARS = 4096

log = logging.getLogger("haven.api")


def _b64encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _b64decode(text: str) -> bytes:
    if not text or len(text) > MAX_CURSOR_CHARS:
        raise ValueError("bad length")
    if not all(ch.isascii() and (ch.isalnum() or ch in "-_") for ch in text):
        raise ValueError("bad characters")
    padded = text + "=" * (-len(text) % 4)
    return base64.urlsafe_b64decode(padded.encode("ascii"))


def _bad(reason: str) -> InvalidInput:
    return InvalidInput(f"cursor {reason}; start again without it", field="cursor")


class CursorCodec:
    """Signs and checks cursors with one secret.

    ``lasting``: the secret is the database's (cursors work on every server of it and
    after a restart); False for a stand-in used while it could not be stored."""

    def __init__(self, secret: bytes, *, lasting: bool = True) -> None:
        if len(secret) < 16:
            raise ValueError("cursor secret must be at least 16 bytes")
        self._secret = secret
        self.lasting = lasting

    def _mac(self, body: bytes) -> bytes:
        return hmac.new(self._secret, body, hashlib.sha256).digest()[:MAC_BYTES]

    def encode(self, kind: str, scope: list[Any], state: dict[str, Any]) -> str:
        """A cursor for ``state`` (position, page) within the query ``scope``."""
        body = msgpack.packb({"k": kind, "s": scope, **state}, use_bin_type=True)
        return _b64encode(self._mac(body) + body)

    def decode(self, token: str, kind: str, scope: list[Any]) -> dict[str, Any]:
        """The state inside a cursor; :class:`InvalidInput` (field ``cursor``) if it is not ours."""
        try:
            raw = _b64decode(token)
        except (ValueError, binascii.Error):
            raise _bad("is not a cursor this server made") from None
        if len(raw) <= MAC_BYTES:
            raise _bad("is not a cursor this server made")
        mac, body = raw[:MAC_BYTES], raw[MAC_BYTES:]
        if not hmac.compare_digest(mac, self._mac(body)):
            raise _bad("is not a cursor this server made (or it was changed)")
        try:
            data = msgpack.unpackb(body, raw=False, strict_map_key=True)
        except Exception:  # noqa: BLE001 - a signed body should always unpack; be safe anyway
            raise _bad("cannot be read") from None
        if not isinstance(data, dict):
            raise _bad("cannot be read")
        if data.get("k") != kind:
            raise _bad("belongs to a different kind of listing")
        if data.get("s") != scope:
            raise _bad("was made for a different query (galaxy, region or search term)")
        return data


def codec_for_store(store: Any) -> CursorCodec:
    """The codec keyed by the store's ``cursor_secret``, created on first use (first writer wins).

    Read first: a write would wait behind any other process's write (a long
    import) although the secret is nearly always there already. When it is not
    and cannot be stored (a read-only file, a write lock held past the busy
    timeout), a stand-in secret serves until :func:`lasting_codec` finds the
    database's."""
    stored = _stored_codec(store)
    if stored is not None:
        return stored
    try:
        value = store.setdefault_meta_value(SECRET_META_KEY, secrets.token_hex(32))
    except Exception as exc:  # noqa: BLE001 - e.g. a read-only database file
        log.warning("cannot store the cursor secret (%s); cursors will last until it is stored", exc)
        return CursorCodec(secrets.token_hex(32).encode("utf-8"), lasting=False)
    return CursorCodec(value.encode("utf-8"))


def lasting_codec(store: Any, codec: CursorCodec) -> CursorCodec:
    """``codec``, or the database's codec once a stand-in's secret has been stored (by any process)."""
    return codec if codec.lasting else (_stored_codec(store) or codec)


def _stored_codec(store: Any) -> CursorCodec | None:
    """The codec of the secret the database holds, if it holds one (a read: never waits for a writer)."""
    value = store.meta_value(SECRET_META_KEY)
    return CursorCodec(value.encode("utf-8")) if value is not None else None


def state_str(data: dict[str, Any], key: str) -> str | None:
    """A text field of a verified cursor (``None`` if absent or of the wrong type)."""
    value = data.get(key)
    return value if isinstance(value, str) else None


#: The integers a cursor may carry (ids, page numbers and sizes): SQLite's and msgpack's
#: signed 64-bit range, less one so that the next page's number still fits.
_STATE_INT_MAX = INT64_MAX - 1


def state_int(data: dict[str, Any], key: str) -> int | None:
    """An integer of a decoded cursor, or None when absent or not one Haven could have written."""
    value = data.get(key)
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= _STATE_INT_MAX:
        return value
    return None
