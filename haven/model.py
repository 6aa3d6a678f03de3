"""The data model: what a galaxy, region, system, planet, moon and station are.

Input models validate everything a user can send (API bodies, import
records). The store returns plain dicts shaped like these models, so hot
read paths never build model objects.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Iterable, Sequence
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, ValidationInfo

from haven.errors import InvalidInput

NAME_MAX_CHARS = 200
#: Sorts after every valid name in binary order (names are at most NAME_MAX_CHARS long).
END_OF_NAMES = "\U0010ffff" * (NAME_MAX_CHARS + 1)
TEXT_MAX_CHARS = 20_000
MAX_PLANETS = 64
MAX_MOONS_PER_PLANET = 64
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1  # what SQLite stores as an INTEGER
#: Station prices in percent: of the base price in legacy files (a station buying at 120 %),
#: or as a change of it in game scans (-40 %). Below -100 or above 1000 is a typo. Values
#: stored before the range was checked are still restored by undo (``RESTORING``).
PERCENT_MIN, PERCENT_MAX = -100.0, 1000.0
#: Validation context for re-reading Haven's own stored state (undo): ranges and rules added
#: later (percent range, unique planet and moon names, the characters names refuse beyond C0
#: controls) are not applied to values that were accepted when they were written.
RESTORING = {"restoring": True}


def _restoring(info: ValidationInfo) -> bool:
    """Whether a validation re-reads Haven's own stored state (``RESTORING``)."""
    return bool(info.context and info.context.get("restoring"))


def _is_int64(value: int) -> bool:
    return INT64_MIN <= value <= INT64_MAX


#: Text fields refuse U+0000: SQLite's full-text search stops reading a value there, so
#: the words after it could never be found.
NUL_MESSAGE = "must not contain the control character U+0000 (NUL)"


def _text_or_none(value: Any) -> Any:
    """Legacy files carry numbers where text belongs (``"fauna": 5``): keep them as text."""
    if type(value) is str:  # nearly always: nothing to convert
        if "\x00" in value:
            raise ValueError(NUL_MESSAGE)
        return value
    if value is None:
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int) and not _is_int64(value):
        raise ValueError("is an integer beyond 64 bits; send it as text (in quotes)")
    if isinstance(value, (int, float)):
        if isinstance(value, float) and not math.isfinite(value):
            raise ValueError("must be a finite number or text")
        return str(value)
    return value


def _finite(value: Any) -> Any:
    """A JSON number for a float field: any integer is fine while a double holds it."""
    if type(value) is float:  # the usual case; pydantic refuses inf and nan after this
        return value
    if isinstance(value, bool):
        raise ValueError("must be a number, not true/false")
    if isinstance(value, str):
        raise ValueError("must be a number, not text")
    if isinstance(value, int) and not _is_int64(value):
        try:
            return float(value)
        except OverflowError:
            raise ValueError("is too large to be a finite number") from None
    return value


def _percent(value: Any, info: ValidationInfo) -> Any:
    """A station price: a finite number from :data:`PERCENT_MIN` to :data:`PERCENT_MAX`, or null."""
    value = _finite(value)
    if isinstance(value, (int, float)) and not _restoring(info) and not PERCENT_MIN <= value <= PERCENT_MAX:
        raise ValueError(f"must be a percentage from {PERCENT_MIN:g} to {PERCENT_MAX:g}")
    return value


def _version(value: Any) -> Any:
    """``version`` is a JSON integer from 1 to 2⁶³−1: ``"3"``, ``true`` and ``3.0`` are refused, not coerced."""
    if value is None:
        return value
    if type(value) is not int:
        raise ValueError("must be a JSON integer such as 3 (not text, true/false or a decimal)")
    if not 1 <= value <= INT64_MAX:
        raise ValueError(f"must be from 1 to {INT64_MAX}")
    return value


Text = Annotated[Annotated[str, Field(max_length=TEXT_MAX_CHARS)] | None, BeforeValidator(_text_or_none)]
Coordinate = Annotated[float, BeforeValidator(_finite), Field(allow_inf_nan=False)]
OptionalNumber = Annotated[Annotated[float, Field(allow_inf_nan=False)] | None, BeforeValidator(_finite)]
#: ``confidence``: a JSON number from 0 to 1 (an integer too), or null; ``true`` and ``"0.5"`` are
#: refused, as the JSONL importer refuses them, not coerced.
Confidence = Annotated[Annotated[float, Field(ge=0.0, le=1.0, allow_inf_nan=False)] | None, BeforeValidator(_finite)]
Percent = Annotated[Annotated[float, Field(allow_inf_nan=False)] | None, BeforeValidator(_percent)]
Version = Annotated[Annotated[int, Field(ge=1, le=INT64_MAX)] | None, BeforeValidator(_version)]


MAX_EXTRA_DEPTH = 32


def _shallow_json(value: dict[str, Any]) -> dict[str, Any]:
    """``extra`` holds any JSON, nested at most 32 levels (so it always serializes back).

    ``extra`` itself is the first level; an object or list inside it the second, and so on:
    the values inside the 32nd are fine, a 33rd object or list is not.
    """
    if not value:
        return value
    stack: list[tuple[Any, tuple[str | int, ...]]] = [(value, ())]  # value, its keys and indexes from extra
    while stack:
        item, loc = stack.pop()
        if isinstance(item, (dict, list)) and len(loc) >= MAX_EXTRA_DEPTH:
            raise ValueError(f"is nested more than {MAX_EXTRA_DEPTH} levels deep (under {field_path(loc[:1])})")
        if isinstance(item, dict):
            stack.extend((v, (*loc, k)) for k, v in item.items())
        elif isinstance(item, list):
            stack.extend((v, (*loc, i)) for i, v in enumerate(item))
        elif isinstance(item, int) and not isinstance(item, bool) and not _is_int64(item):
            raise ValueError(f"{field_path(loc)} is an integer beyond 64 bits; send it as text (in quotes)")
        elif isinstance(item, float) and not math.isfinite(item):
            raise ValueError(f"{field_path(loc)} is a number that is not finite")
    return value


Extra = Annotated[dict[str, Any], AfterValidator(_shallow_json)]


#: What no name has ever held (C0 controls: a line break or NUL in a name breaks files and
#: terminals). Lookups (``?galaxy=``, ``?region=``, ``/by-name/``, search) refuse these too.
CONTROL_CHARS = re.compile("[\x00-\x1f]")
#: Refused in names since they were first checked, so names stored before may hold them (undo
#: restores those, lookups still find them): C1 controls and the line and paragraph separators
#: (they break lines in terminals, CSV viewers and logs), and the bidirectional embedding,
#: override and isolate controls (they reorder the text shown after the name: spoofed listings).
#: The marks LRM, RLM and ALM (U+200E, U+200F, U+061C) reorder nothing after them and stay allowed.
REFUSED_NAME_CHARS = re.compile("[\x80-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")
#: Characters that render as nothing, besides spaces and format characters (category Cf, such as
#: U+200B ZERO WIDTH SPACE, U+2060 WORD JOINER, U+FEFF, U+00AD SOFT HYPHEN): the Hangul and
#: halfwidth fillers (letters that draw blank), the Braille blank, and the default-ignorable
#: marks (combining grapheme joiner, Khmer inherent vowels, Mongolian and other variation selectors).
_BLANK_CHARS = frozenset(
    "\u034f\u115f\u1160\u17b4\u17b5\u180b\u180c\u180d\u180f\u2800\u3164\uffa0"
    + "".join(map(chr, range(0xFE00, 0xFE10))) + "".join(map(chr, range(0xE0100, 0xE01F0))))
_INVISIBLE_CATEGORIES = frozenset({"Cf", "Cc", "Zs", "Zl", "Zp"})


def _code_point(char: str) -> str:
    """``U+202E (RIGHT-TO-LEFT OVERRIDE)``: a character as a message names it (controls have no name)."""
    name = unicodedata.name(char, "")
    return f"U+{ord(char):04X} ({name})" if name else f"the control character U+{ord(char):04X}"


def _invisible(char: str) -> bool:
    """Whether ``char`` draws nothing on its own: a space, a format or control character, a filler."""
    return char.isspace() or char in _BLANK_CHARS or unicodedata.category(char) in _INVISIBLE_CATEGORIES


def name_problem(value: str, *, restoring: bool = False) -> str | None:
    """What is wrong with a trimmed, non-empty name, or None; the one rule of every name.

    Besides C0 controls, a name must not hold :data:`REFUSED_NAME_CHARS` and must hold a
    visible character (one made only of U+200B looks empty in every list). Inside a name,
    invisible characters are fine: ZWJ and ZWNJ join emoji and Persian or Indic letters.
    ``restoring`` (undo, ``RESTORING``) applies only the rules names have always had, so a
    name stored before the others were checked comes back.
    """
    if CONTROL_CHARS.search(value):
        return "must not contain control characters"
    if restoring:
        return None
    refused = REFUSED_NAME_CHARS.search(value)
    if refused:
        return f"must not contain {_code_point(refused.group())}"
    if all(map(_invisible, value)):  # stops at the first visible character: usually the first
        hidden = next((c for c in value if not c.isspace()), None)
        return "must contain a visible character" + (
            f", not only invisible ones such as {_code_point(hidden)}" if hidden else "")
    return None


def first_bad_name(names: Sequence[str]) -> tuple[int, str] | None:
    """The index and :func:`name_problem` of the first bad one of many trimmed, non-empty names.

    For bulk loads: two searches of the joined names, then a look only at the names that
    start with something other than printable ASCII (only those can lack a visible
    character), rather than :func:`name_problem` on each of a million generated names.
    """
    spaced = " ".join(names)
    if CONTROL_CHARS.search(spaced) or REFUSED_NAME_CHARS.search(spaced):
        suspects: Iterable[int] = range(len(names))
    else:
        suspects = (i for i, name in enumerate(names) if not "!" <= name[:1] <= "~")
    for i in suspects:
        problem = name_problem(names[i])
        if problem:
            return i, problem
    return None


def clean_name(value: Any, *, restoring: bool = False) -> str:
    """Names are trimmed, non-empty, at most ``NAME_MAX_CHARS`` characters, visible, without
    controls (:func:`name_problem`); any other Unicode is fine (emoji, RTL scripts, combining marks).

    A bad name is refused, never rewritten: only the surrounding whitespace is trimmed.
    """
    if value is None:
        raise ValueError("is required")
    if not isinstance(value, str):
        raise ValueError("must be text")
    value = value.strip()
    if not value:
        raise ValueError("must not be empty")
    if len(value) > NAME_MAX_CHARS:
        raise ValueError(f"must be at most {NAME_MAX_CHARS} characters")
    problem = name_problem(value, restoring=restoring)
    if problem:
        raise ValueError(problem)
    return value


def _name(value: Any, info: ValidationInfo) -> str:
    """A name field: :func:`clean_name`, with only the old rules when restoring."""
    return clean_name(value, restoring=_restoring(info))


Name = Annotated[str, BeforeValidator(_name)]


def clean_region(value: str | None, *, restoring: bool = False) -> str | None:
    """A region name: the rules of every name (:func:`clean_name`); empty means none."""
    return clean_name(value, restoring=restoring) if value is not None and value.strip() else None


def _region(value: str | None, info: ValidationInfo) -> str | None:
    """The ``region`` field: :func:`clean_region`, with only the old rules when restoring."""
    return clean_region(value, restoring=_restoring(info))


Region = Annotated[Text, AfterValidator(_region)]


#: What an answer holds that a write does not set: accepted in a body, so a system can be
#: sent back as ``GET`` answered it, and ignored (the server assigns ids, a system never
#: changes galaxy, ``derived`` describes an answer). ``version``, ``created_at`` and
#: ``modified_at`` are fields of their own (:class:`SystemIn`).
READ_ONLY_FIELDS = ("id", "galaxy", "derived")
#: The same for a planet and a moon: their ids.
READ_ONLY_CHILD_FIELDS = ("id",)


def _read_only_doc(fields: Sequence[str], what: str) -> Any:
    """``json_schema_extra`` listing read-only keys in a body model's OpenAPI schema (any value)."""

    def add(schema: dict[str, Any]) -> None:
        props = schema.setdefault("properties", {})
        for name in fields:
            props[name] = {"title": name.replace("_", " ").title(),
                           "description": f"Read-only: accepted so that {what} can be sent back as GET "
                                          "answers it, and ignored (whatever its value)."}

    return add


class _Input(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=False)


class BodyFields(_Input):
    """Fields shared by planets and moons."""

    name: Name
    sentinel: Text = None
    fauna: Text = None
    flora: Text = None
    properties: Text = None
    materials: Text = None
    base_location: Text = None
    photo: Text = None
    notes: Text = None
    extra: Extra = Field(default_factory=dict)


class MoonIn(BodyFields):
    model_config = ConfigDict(json_schema_extra=_read_only_doc(READ_ONLY_CHILD_FIELDS, "a moon"))

    orbit_radius: OptionalNumber = None
    orbit_speed: OptionalNumber = None


def _unique_names(what: str) -> AfterValidator:
    """A list validator: no two items share a name (they are addressed by name).

    Not applied when restoring (``RESTORING``): PATCH once let a system's planets
    share a name, and undo must still bring back the state such a system had.
    """

    def check(items: list[Any], info: ValidationInfo) -> list[Any]:
        if _restoring(info):
            return items
        seen: set[str] = set()
        for item in items:
            if item.name in seen:
                raise ValueError(f"two {what}s are named {item.name!r}; {what} names must be unique")
            seen.add(item.name)
        return items

    return AfterValidator(check)


class PlanetIn(BodyFields):
    model_config = ConfigDict(json_schema_extra=_read_only_doc(READ_ONLY_CHILD_FIELDS, "a planet"))

    moons: Annotated[list[MoonIn], _unique_names("moon")] = Field(
        default_factory=list, max_length=MAX_MOONS_PER_PLANET)


#: A system's planets, as every input model takes them (create, replace and patch alike).
Planets = Annotated[list[PlanetIn], _unique_names("planet")]


class StationIn(_Input):
    """A space station; old files often give no position, so it is optional."""

    name: Name
    x: OptionalNumber = None
    y: OptionalNumber = None
    z: OptionalNumber = None
    race: Text = None
    sell_percent: Percent = None
    buy_percent: Percent = None
    extra: Extra = Field(default_factory=dict)


class SystemIn(_Input):
    """A star system as a user creates or replaces it."""

    model_config = ConfigDict(json_schema_extra=_read_only_doc(READ_ONLY_FIELDS, "a system"))

    name: Name
    x: Coordinate
    y: Coordinate
    z: Coordinate
    region: Region = None
    fauna: Text = None
    flora: Text = None
    sentinel: Text = None
    materials: Text = None
    base_location: Text = None
    photo: Text = None
    attributes: Text = None
    glyph: Text = None
    legacy_id: Text = None
    provenance: Text = None
    confidence: Confidence = None
    extra: Extra = Field(default_factory=dict)
    planets: Planets = Field(default_factory=list, max_length=MAX_PLANETS)
    space_station: StationIn | None = None
    created_at: Text = None
    modified_at: Text = None
    version: Version = None


class SystemPatch(_Input):
    """A partial update: only the fields present change; ``planets`` replaces the list."""

    model_config = ConfigDict(json_schema_extra=_read_only_doc(READ_ONLY_FIELDS, "a system"))

    name: Name | None = None
    x: Coordinate | None = None
    y: Coordinate | None = None
    z: Coordinate | None = None
    region: Region = None
    fauna: Text = None
    flora: Text = None
    sentinel: Text = None
    materials: Text = None
    base_location: Text = None
    photo: Text = None
    attributes: Text = None
    glyph: Text = None
    provenance: Text = None
    confidence: Confidence = None
    extra: Extra | None = None
    planets: Planets | None = Field(default=None, max_length=MAX_PLANETS)
    space_station: StationIn | None = None
    version: Version = None


SYSTEM_TEXT_FIELDS = (
    "fauna",
    "flora",
    "sentinel",
    "materials",
    "base_location",
    "photo",
    "attributes",
    "glyph",
    "legacy_id",
    "provenance",
)
BODY_TEXT_FIELDS = ("sentinel", "fauna", "flora", "properties", "materials", "base_location", "photo", "notes")


def field_path(loc: tuple[Any, ...]) -> str:
    """``('planets', 0, 'moons', 1, 'name')`` → ``planets[0].moons[1].name``."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out


#: At most this many problems are listed in one error (:class:`InvalidFields`): the last of
#: a longer list says how many more there were.
MAX_PROBLEMS = 50


class InvalidFields(InvalidInput):
    """Input with one or more bad fields: ``message`` and ``field`` name the first problem (as
    every :class:`InvalidInput` does), ``problems`` in :meth:`to_dict` lists them all.

    ``field_problems`` holds ``(field, message)`` pairs, each message starting with its field
    as ``message`` does (``x: is required``); the first is the error's own."""

    def __init__(self, problems: Sequence[tuple[str | None, str]]) -> None:
        field, message = problems[0]
        super().__init__(message, field=field)
        self.field_problems = list(problems)

    def to_dict(self) -> dict:
        d = super().to_dict()
        d["problems"] = problem_dicts(self.field_problems)
        return d


def problem_dicts(problems: Sequence[tuple[str | None, str]]) -> list[dict[str, str | None]]:
    """``problems`` as an answer lists them: ``{"field", "message"}`` each, at most
    :data:`MAX_PROBLEMS`, the last of a longer list saying how many more there are."""
    if len(problems) > MAX_PROBLEMS:
        more = len(problems) - (MAX_PROBLEMS - 1)
        problems = [*problems[: MAX_PROBLEMS - 1], (None, f"… and {more} more problems")]
    return [{"field": field, "message": message} for field, message in problems]


def describe_value(value: Any) -> str:
    """What a value is, as a message says it: ``must be a number, not text``."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "text"
    if isinstance(value, (list, tuple)):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


def _bound(value: Any) -> str:
    """A limit as a message shows it: ``1`` (not ``1.0``), ``0.5``."""
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    return str(value)


def _count(n: Any, noun: str) -> str:
    """``20,000 characters``, ``1 item``."""
    if not isinstance(n, int):
        return f"{n} {noun}"
    return f"{n:,} {noun}" if n != 1 else f"1 {noun.removesuffix('s')}"


#: pydantic's lead for the messages it has no type of its own for (``Input should be ...``).
_SHOULD = re.compile(r"^[A-Za-z]+ should ")
_PREFIXES = ("Value error, ", "Assertion failed, ")


#: Pydantic's bound errors: the key of the bound in the error's ``ctx``, and how a message says it.
_BOUNDS = {
    "less_than_equal": ("le", "at most"),
    "greater_than_equal": ("ge", "at least"),
    "less_than": ("lt", "less than"),
    "greater_than": ("gt", "more than"),
}


def plain_message(err: Any) -> str:
    """One of pydantic's errors (an item of ``ValidationError.errors()``, or of FastAPI's
    ``RequestValidationError``) in plain words, without the field it is about.

    The one place where pydantic's wording ("Input should be a valid number", "String should
    have at most 20000 characters", "Value error, ...") becomes Haven's: the API, the
    importers and the CLI all say ``x: is required``, ``notes: must be at most 20,000 characters``.
    """
    kind, ctx = err.get("type"), err.get("ctx") or {}
    given = err.get("input")
    if kind == "missing" or (given is None and kind in (
            "float_type", "int_type", "string_type", "bool_type", "decimal_type")):
        return "is required"  # null for a value that must be there says the same as no value
    if kind in ("float_type", "decimal_type"):
        return f"must be a number, not {describe_value(given)}"
    if kind == "int_type":
        return f"must be a whole number, not {describe_value(given)}"
    if kind in ("float_parsing", "decimal_parsing"):
        return "must be a number"
    if kind in ("int_parsing", "int_from_float", "int_parsing_size"):
        return "must be a whole number"
    if kind == "finite_number":
        return "must be a finite number (not NaN or Infinity)"
    if kind == "string_type":
        return f"must be text, not {describe_value(given)}"
    if kind in ("bool_type", "bool_parsing"):
        return "must be true or false"
    if kind in ("list_type", "tuple_type", "set_type", "frozen_set_type", "iterable_type"):
        return f"must be a list, not {describe_value(given)}"
    if kind in ("dict_type", "model_type", "model_attributes_type"):
        return f"must be an object, not {describe_value(given)}"
    if kind in _BOUNDS:
        key, words = _BOUNDS[kind]
        return f"must be {words} {_bound(ctx.get(key))}"
    if kind == "string_too_long":
        return f"must be at most {_count(ctx.get('max_length'), 'characters')}"
    if kind == "string_too_short":
        n = ctx.get("min_length")
        return "must not be empty" if n == 1 else f"must be at least {_count(n, 'characters')}"
    if kind in ("too_long", "too_short"):
        most = kind == "too_long"
        limit = _count(ctx.get("max_length" if most else "min_length"), "items")
        actual = ctx.get("actual_length")
        return f"must have at {'most' if most else 'least'} {limit}" + (f", not {actual}" if actual is not None else "")
    if kind == "extra_forbidden":
        return "is not a known field"
    if kind in ("literal_error", "enum") and ctx.get("expected"):
        return f"must be {ctx['expected']}"
    msg = str(err.get("msg") or "is not valid")
    for prefix in _PREFIXES:
        if msg.startswith(prefix):
            return msg[len(prefix):]
    return _SHOULD.sub("must ", msg, count=1)


def error_path(loc: Sequence[Any], prefix: str = "") -> str:
    """The field path of a pydantic error's ``loc``, under ``prefix`` (pydantic's own
    ``function-...`` steps left out)."""
    path = field_path(tuple(p for p in loc if not (isinstance(p, str) and p.startswith("function-"))))
    if prefix:
        path = f"{prefix}.{path}" if path else prefix
    return path


def field_problems(exc: ValidationError, prefix: str = "", *, has_extra: bool = True) -> list[tuple[str | None, str]]:
    """Every error of ``exc`` as ``(field, "field: message")``, in pydantic's order (the order of
    the fields, depth first), messages in plain words (:func:`plain_message`).

    ``has_extra``: the object has an ``extra`` field, which an unknown field's message points to.
    """
    out: list[tuple[str | None, str]] = []
    for err in exc.errors():
        path = error_path(err["loc"], prefix)
        msg = plain_message(err)
        if err["type"] == "extra_forbidden" and has_extra:
            msg += " (put custom data under 'extra')"
        out.append((path or None, f"{path or 'body'}: {msg}"))
    return out


def invalid_from_validation(exc: ValidationError, prefix: str = "", *, has_extra: bool = True) -> InvalidFields:
    """Turn pydantic's errors into an :class:`InvalidFields`: the first names the field (its
    ``message`` and ``field``), ``problems`` lists them all.

    ``has_extra``: the object has an ``extra`` field, which an unknown field's message points to.
    """
    return InvalidFields(field_problems(exc, prefix, has_extra=has_extra))


def validation_message(exc: ValidationError) -> str:
    """Pydantic's first error in plain words (:func:`plain_message`; the caller names the field)."""
    return plain_message(exc.errors()[0])


def without_read_only(data: Any) -> Any:
    """A body with the read-only keys (:data:`READ_ONLY_FIELDS`, planets' and moons' ids) left out.

    Only objects are touched (anything else is left for the model to refuse), and only copies:
    the caller's body is not changed."""
    if not isinstance(data, dict):
        return data
    out = {k: v for k, v in data.items() if k not in READ_ONLY_FIELDS}
    planets = out.get("planets")
    if isinstance(planets, list):
        out["planets"] = [_child_without_ids(p, moons=True) for p in planets]
    return out


def _child_without_ids(item: Any, *, moons: bool) -> Any:
    if not isinstance(item, dict):
        return item
    out = {k: v for k, v in item.items() if k not in READ_ONLY_CHILD_FIELDS}
    if moons and isinstance(out.get("moons"), list):
        out["moons"] = [_child_without_ids(m, moons=False) for m in out["moons"]]
    return out


def validate_system(data: Any) -> SystemIn:
    """Validate a whole system, raising :class:`InvalidInput` that names the field."""
    if not isinstance(data, dict):
        raise InvalidInput("a system must be a JSON object", field=None)
    try:
        return SystemIn.model_validate(without_read_only(data))
    except ValidationError as exc:
        raise invalid_from_validation(exc) from None


def validate_patch(data: Any) -> SystemPatch:
    if not isinstance(data, dict):
        raise InvalidInput("a patch must be a JSON object", field=None)
    # name, x, y and z are the patch's first fields: their problems come first
    nulls: list[tuple[str | None, str]] = [
        (key, f"{key}: cannot be null") for key in ("name", "x", "y", "z") if key in data and data[key] is None]
    try:
        patch = SystemPatch.model_validate(without_read_only(data))
    except ValidationError as exc:
        raise InvalidFields(nulls + field_problems(exc)) from None
    if nulls:
        raise InvalidFields(nulls)
    return patch
