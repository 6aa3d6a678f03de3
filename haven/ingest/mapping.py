"""The field mapping between legacy records and Haven's model, both ways.

Import (:func:`system_from_legacy`) turns one raw legacy record into a dict
that :class:`haven.model.SystemIn` can validate; export
(:func:`system_to_legacy`) turns a stored system back into a legacy-shaped
record. The two are written side by side because together they promise
import → export → import is lossless:

* fields the model knows keep their legacy names (``id`` ↔ ``legacy_id``);
* every key the model does not know goes to ``extra`` of its level (system,
  planet, moon, station) and comes back out at that level;
* an ``extra`` key that would be read as something else on the way back in
  (it is a field name, ``id``, ``extra``, or an alias such as ``sentinels``
  that would be folded into ``sentinel``) is written under a nested
  ``"extra": {...}`` object instead, which import merges back verbatim.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any

from haven.ingest.sources import DupDict
from haven.model import (BODY_TEXT_FIELDS, INT64_MAX, INT64_MIN, MoonIn, PlanetIn, StationIn, SystemIn,
                         describe_value)

#: Epoch zero, which the store keeps as "no known time" (``timeutil.UNKNOWN_MS``).
UNKNOWN_TIME = "1970-01-01T00:00:00Z"

# Keys of a system record that map straight onto a SystemIn field.
SYSTEM_DIRECT = frozenset(SystemIn.model_fields) - {"version", "extra", "planets", "space_station"}
PLANET_DIRECT = frozenset(PlanetIn.model_fields) - {"extra", "moons"}
MOON_DIRECT = frozenset(MoonIn.model_fields) - {"extra"}
STATION_DIRECT = frozenset(StationIn.model_fields) - {"extra"}

# Keys an exporter must not write at the top level of an object for an extra
# entry, because import would read them as something other than extra.
SYSTEM_RESERVED = SYSTEM_DIRECT | {"id", "extra", "planets", "space_station"}
PLANET_RESERVED = PLANET_DIRECT | {"extra", "moons"}
MOON_RESERVED = MOON_DIRECT | {"extra"}
STATION_RESERVED = STATION_DIRECT | {"extra"}

SYSTEM_LEGACY_ORDER = (
    "name", "x", "y", "z", "region", "fauna", "flora", "sentinel", "materials",
    "base_location", "photo", "attributes", "created_at", "modified_at",
)
HAVEN_ONLY_FIELDS = ("glyph", "provenance", "confidence")
STATION_ORDER = ("name", "x", "y", "z", "race", "sell_percent", "buy_percent")


@dataclass
class Mapped:
    """One legacy record turned into model input, or the reasons it could not be."""

    data: dict[str, Any] | None = None
    problems: list[tuple[str, str]] = field(default_factory=list)  # (field path, message)
    # Model field path → the path the user wrote (``planets[0].sentinel`` → ``planets[0].sentinels``).
    renamed: dict[str, str] = field(default_factory=dict)
    region_marker: bool = False


def _join(path: str, key: str | int) -> str:
    if isinstance(key, int):
        return f"{path}[{key}]"
    return f"{path}.{key}" if path else key


def is_region_marker(value: Any) -> bool:
    """The array shape may hold region markers: ``{"type": "region", "region": …, "x": …}``."""
    return isinstance(value, dict) and value.get("type") == "region" and "name" not in value


# -- import -------------------------------------------------------------------


def scan_json(value: Any, path: str, problems: list[tuple[str, str]]) -> None:
    """Problems no model would notice: repeated keys and text that is not valid Unicode.

    Every value of a record is visited, so a value's path is kept as a chain of
    ``(parent, key)`` pairs and written out only for a value with a problem.
    """
    stack: list[tuple[Any, Any]] = [(value, path)]
    while stack:
        v, at = stack.pop()
        if isinstance(v, str):
            if _SURROGATE.search(v):
                problems.append((_path(at), "contains an unpaired surrogate escape (\\ud800–\\udfff); "
                                            "not valid Unicode"))
        elif isinstance(v, dict):
            if isinstance(v, DupDict):
                for key in v.duplicate_keys:
                    problems.append((_join(_path(at), key), "this key appears more than once in the same object"))
            for k, item in v.items():
                if _SURROGATE.search(k):
                    problems.append((_path(at), f"a key ({k!r}) contains an unpaired surrogate escape; "
                                                "not valid Unicode"))
                stack.append((item, (at, k)))
        elif isinstance(v, list):
            stack.extend((item, (at, i)) for i, item in enumerate(v))


def _path(at: Any) -> str:
    """The field path of a ``(parent, key)`` chain built by :func:`scan_json`."""
    keys: list[str | int] = []
    while isinstance(at, tuple):
        at, key = at
        keys.append(key)
    path = at
    for key in reversed(keys):
        path = _join(path, key)
    return path


# Unpaired surrogates reach a str only through ``\\ud800``-style escapes in JSON text.
_SURROGATE = re.compile("[\ud800-\udfff]")


def _has_surrogate(text: str) -> bool:
    return _SURROGATE.search(text) is not None


def check_storable(value: Any, path: str, problems: list[tuple[str, str]]) -> None:
    """Extra values must survive JSON storage unchanged: finite numbers, 64-bit integers."""
    stack: list[tuple[Any, str]] = [(value, path)]
    while stack:
        v, p = stack.pop()
        if isinstance(v, bool) or v is None or isinstance(v, str):
            continue
        if isinstance(v, int):
            if not INT64_MIN <= v <= INT64_MAX:  # the range ``extra`` stores (see haven.model)
                problems.append((p, "integer is too large to store (more than 64 bits)"))
        elif isinstance(v, float):
            if not math.isfinite(v):
                problems.append((p, "must be a finite number (NaN and Infinity cannot be stored)"))
        elif isinstance(v, dict):
            for k, item in v.items():
                stack.append((item, _join(p, k)))
        elif isinstance(v, list):
            for i, item in enumerate(v):
                stack.append((item, _join(p, i)))
        else:
            problems.append((p, f"{describe_value(v)} cannot be stored in extra"))


class _Ctx:
    def __init__(self) -> None:
        self.problems: list[tuple[str, str]] = []
        self.renamed: dict[str, str] = {}

    def problem(self, path: str, message: str) -> None:
        self.problems.append((path, message))


def _merge_nested_extra(ctx: _Ctx, raw: dict[str, Any], extra: dict[str, Any], path: str) -> None:
    """A record's own ``"extra": {...}`` object is merged into extra verbatim."""
    if "extra" not in raw:
        return
    nested = raw["extra"]
    if not isinstance(nested, dict):
        # Not Haven's nested extra: an ordinary unknown key that happens to be called "extra".
        extra["extra"] = nested
        return
    for key, value in nested.items():
        if key in extra:
            ctx.problem(_join(_join(path, "extra"), key),
                        f"{key!r} is given both as a field and inside \"extra\"; keep one")
        else:
            extra[key] = value


def _fold_aliases(ctx: _Ctx, raw: dict[str, Any], out: dict[str, Any], extra: dict[str, Any], path: str) -> None:
    """Legacy planet/moon spellings: ``sentinels`` → sentinel, ``resources`` → materials."""
    if "sentinels" in raw:
        if raw.get("sentinel") is None:
            out["sentinel"] = raw["sentinels"]
            ctx.renamed[_join(path, "sentinel")] = _join(path, "sentinels")
        else:
            extra["sentinels"] = raw["sentinels"]
    if "resources" in raw:
        res = raw["resources"]
        if raw.get("materials") is None and (
            res is None
            or (isinstance(res, (str, int, float)) and not isinstance(res, bool))
            or (isinstance(res, list) and all(isinstance(r, str) for r in res))
        ):
            out["materials"] = ", ".join(res) if isinstance(res, list) else res
            ctx.renamed[_join(path, "materials")] = _join(path, "resources")
        else:
            extra["resources"] = res


def _body(ctx: _Ctx, raw: Any, path: str, *, moon: bool) -> dict[str, Any] | None:
    what = "moon" if moon else "planet"
    if isinstance(raw, str):
        return {"name": raw}
    if not isinstance(raw, dict):
        ctx.problem(path, f"a {what} must be an object or a {what} name, not {describe_value(raw)}")
        return None
    direct = MOON_DIRECT if moon else PLANET_DIRECT
    out: dict[str, Any] = {}
    extra: dict[str, Any] = {}
    for key, value in raw.items():
        if key in direct:
            out[key] = value
        elif key in ("extra", "sentinels", "resources"):
            continue
        elif key == "moons" and not moon:
            out["moons"] = _bodies(ctx, value, _join(path, "moons"), moon=True)
        else:
            extra[key] = value
    _fold_aliases(ctx, raw, out, extra, path)
    _merge_nested_extra(ctx, raw, extra, path)
    out["extra"] = extra
    return out


def _bodies(ctx: _Ctx, value: Any, path: str, *, moon: bool) -> list[dict[str, Any]]:
    if value is None:
        return []
    if not isinstance(value, list):
        ctx.problem(path, f"must be a list, not {describe_value(value)}")
        return []
    out = []
    for i, item in enumerate(value):
        body = _body(ctx, item, _join(path, i), moon=moon)
        if body is not None:
            out.append(body)
    return out


def _station(ctx: _Ctx, raw: Any, path: str) -> dict[str, Any] | None:
    if raw is None:
        return None
    if not isinstance(raw, dict):
        ctx.problem(path, f"must be an object, not {describe_value(raw)}")
        return None
    out: dict[str, Any] = {}
    extra: dict[str, Any] = {}
    for key, value in raw.items():
        if key in STATION_DIRECT:
            out[key] = value
        elif key != "extra":
            extra[key] = value
    _merge_nested_extra(ctx, raw, extra, path)
    out["extra"] = extra
    return out


def system_from_legacy(value: Any, *, key: str | None = None, provenance: str | None = None,
                       plain: bool = False) -> Mapped:
    """Turn one raw legacy record into a dict ready for :class:`SystemIn`.

    ``key`` is the record's key in a name-keyed file: it is the name when the
    record has none; when both exist and differ, the record's ``name`` wins and
    the key is kept in ``extra["legacy_key"]``. ``provenance`` is set unless
    the record carries a ``provenance`` key of its own. A time given as ``null``
    stays unknown (a missing one means "now" to the store). ``plain`` says the record's
    text had no repeated key and no surrogate escape, which spares the scan for them.
    """
    if key is None and is_region_marker(value):  # in a name-keyed file the key names the system
        return Mapped(region_marker=True)
    ctx = _Ctx()
    if not isinstance(value, dict):
        ctx.problem("", f"a system must be an object, not {describe_value(value)}")
        return Mapped(problems=ctx.problems)
    if not plain:
        scan_json(value, "", ctx.problems)
    out: dict[str, Any] = {}
    extra: dict[str, Any] = {}
    for k, v in value.items():
        if k in SYSTEM_DIRECT:
            out[k] = v
        elif k in ("planets", "space_station", "extra", "id"):
            continue
        else:
            extra[k] = v
    if "id" in value:
        if value.get("legacy_id") is None and value["id"] is not None:
            out["legacy_id"] = value["id"]
            ctx.renamed["legacy_id"] = "id"
        elif value["id"] is not None:
            extra["id"] = value["id"]
    if key is not None:
        name = out.get("name")
        if _has_surrogate(key):  # scan_json sees the record's value, not the key it is filed under
            if name is None:
                ctx.problem("name", "contains an unpaired surrogate escape (\\ud800–\\udfff); not valid Unicode")
            else:
                ctx.problem("", f"the key it is filed under ({key!r}) contains an unpaired surrogate escape; "
                                "not valid Unicode")
        if name is None:
            out["name"] = key
        elif not (isinstance(name, str) and name.strip() == key.strip()):
            if "legacy_key" in value and value["legacy_key"] != key:
                ctx.problem("name", f"the record is filed under the key {key!r} but named {name!r}")
            else:
                extra["legacy_key"] = key
    out["planets"] = _bodies(ctx, value.get("planets"), "planets", moon=False)
    out["space_station"] = _station(ctx, value.get("space_station"), "space_station")
    _merge_nested_extra(ctx, value, extra, "")
    out["extra"] = extra
    for when in ("created_at", "modified_at"):
        if when in value and value[when] is None:
            out[when] = UNKNOWN_TIME  # written as null: not known, which is not "now"
    if provenance is not None and "provenance" not in value:
        out["provenance"] = provenance
    _check_extras(ctx, out)
    return Mapped(data=out, problems=ctx.problems, renamed=ctx.renamed)


def _check_extras(ctx: _Ctx, system: dict[str, Any]) -> None:
    def check(extra: dict[str, Any], path: str) -> None:
        for k, v in extra.items():
            check_storable(v, _join(path, k), ctx.problems)

    check(system["extra"], "")
    for i, p in enumerate(system["planets"]):
        check(p.get("extra") or {}, f"planets[{i}]")
        for j, m in enumerate(p.get("moons") or []):
            check(m.get("extra") or {}, f"planets[{i}].moons[{j}]")
    if system["space_station"] is not None:
        check(system["space_station"].get("extra") or {}, "space_station")


# -- export -------------------------------------------------------------------


def _merge_extra(out: dict[str, Any], extra: dict[str, Any] | None, reserved: frozenset[str],
                 *, body: bool = False) -> None:
    """Put extra keys back at their level, or under ``"extra"`` when import would misread them."""
    if not extra:
        return
    nested: dict[str, Any] = {}
    for key, value in extra.items():
        folded = body and (
            (key == "sentinels" and out.get("sentinel") is None)
            or (key == "resources" and out.get("materials") is None)
        )
        if key in reserved or key in out or folded:
            nested[key] = value
        else:
            out[key] = value
    if nested:
        out["extra"] = nested


def _body_to_legacy(b: dict[str, Any], *, moon: bool) -> dict[str, Any]:
    out: dict[str, Any] = {"name": b["name"]}
    for f in BODY_TEXT_FIELDS:
        out[f] = b.get(f)
    if moon:
        out["orbit_radius"] = b.get("orbit_radius")
        out["orbit_speed"] = b.get("orbit_speed")
    _merge_extra(out, b.get("extra"), MOON_RESERVED if moon else PLANET_RESERVED, body=True)
    if not moon:
        out["moons"] = [_body_to_legacy(m, moon=True) for m in b.get("moons") or []]
    return out


def planets_to_legacy(s: dict[str, Any]) -> list[dict[str, Any]]:
    """A system's planets (with moons) in legacy field names, each body's extra merged back."""
    return [_body_to_legacy(p, moon=False) for p in s.get("planets") or []]


def station_to_legacy(s: dict[str, Any]) -> dict[str, Any] | None:
    """A system's space station in legacy field names, extra merged back (None: no station)."""
    station = s.get("space_station")
    if not station:
        return None
    out = {f: station.get(f) for f in STATION_ORDER}
    _merge_extra(out, station.get("extra"), STATION_RESERVED)
    return out


def system_to_legacy(s: dict[str, Any]) -> dict[str, Any]:
    """A stored system (as the store returns it) in legacy field names, extra merged back."""
    out: dict[str, Any] = {}
    if s.get("legacy_id") is not None:
        out["id"] = s["legacy_id"]
    for f in SYSTEM_LEGACY_ORDER:
        out[f] = s.get(f)
    out["planets"] = planets_to_legacy(s)
    station = station_to_legacy(s)
    if station is not None:
        out["space_station"] = station
    for f in HAVEN_ONLY_FIELDS:
        out[f] = s.get(f)
    _merge_extra(out, s.get("extra"), SYSTEM_RESERVED)
    return out
