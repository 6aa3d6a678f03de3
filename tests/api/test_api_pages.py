"""Keyset pages with signed cursors, prefix jumps, and search paging."""

from __future__ import annotations

import base64

import pytest
from apihelpers import REGIONS, seed

from haven.model import validate_system


def walk(client, params, *, direction="next", start=None):
    """Follow cursors to the end; returns (every answer, every item)."""
    answers, items = [], []
    r = client.get("/api/v1/systems", params={**params, **({"cursor": start} if start else {})})
    while True:
        assert r.status_code == 200, r.text
        body = r.json()
        answers.append(body)
        items.extend(body["items"])
        if not body[direction]:
            return answers, items
        r = client.get("/api/v1/systems", params={**params, "cursor": body[direction]})


def test_walk_visits_every_system_once_in_name_order(client, seeded):
    answers, items = walk(client, {"limit": 10})
    names = [s["name"] for s in items]
    assert names == sorted(s["name"] for s in seeded)
    assert len(set(names)) == len(seeded) == 57
    assert [a["page"] for a in answers] == [1, 2, 3, 4, 5, 6]
    assert all(a["total"] == 57 and a["pages"] == 6 and a["per_page"] == 10 for a in answers)
    assert answers[0]["prev"] is None and answers[-1]["next"] is None
    assert [len(a["items"]) for a in answers] == [10, 10, 10, 10, 10, 7]


def test_prev_walks_back_to_page_one(client, seeded):
    forward, _ = walk(client, {"limit": 10})
    last = forward[-1]
    back, items = walk(client, {"limit": 10}, direction="prev", start=last["prev"])
    assert [a["page"] for a in back] == [5, 4, 3, 2, 1]
    for fwd, bwd in zip(reversed(forward[:-1]), back):
        assert [s["name"] for s in fwd["items"]] == [s["name"] for s in bwd["items"]]
    assert back[-1]["prev"] is None
    # and forward again from page 1 reached backwards
    assert back[-1]["next"]


def test_region_filter(client, seeded):
    for region in REGIONS:
        answers, items = walk(client, {"limit": 4, "region": region})
        expected = sorted(s["name"] for s in seeded if s["region"] == region)
        assert [s["name"] for s in items] == expected
        assert all(s["region"] == region for s in items)
        assert answers[0]["total"] == len(expected)
    r = client.get("/api/v1/systems", params={"region": "Nowhere"})
    assert r.status_code == 404
    assert r.json()["error"]["field"] == "region"


def test_prefix_jump(client, seeded):
    names = sorted(s["name"] for s in seeded)
    for prefix in ["Sys 0030", "Sys 0030 ", "Sys 003", "A", "Sys", "Zzz", names[-1]]:
        r = client.get("/api/v1/systems", params={"prefix": prefix, "limit": 5})
        assert r.status_code == 200
        body = r.json()
        expected = [n for n in names if n >= prefix][:5]
        assert [s["name"] for s in body["items"]] == expected, prefix
        if expected and expected[0] == names[0]:
            assert body["page"] == 1 and body["prev"] is None
        else:
            assert body["page"] is None and body["prev"]
    # following next from a prefix jump continues in order; prev goes back before the prefix
    body = client.get("/api/v1/systems", params={"prefix": "Sys 0030", "limit": 5}).json()
    nxt = client.get("/api/v1/systems", params={"cursor": body["next"], "limit": 5}).json()
    assert [s["name"] for s in nxt["items"]] == [n for n in names if n >= "Sys 0030"][5:10]
    prv = client.get("/api/v1/systems", params={"cursor": body["prev"], "limit": 5}).json()
    assert [s["name"] for s in prv["items"]] == [n for n in names if n < "Sys 0030"][-5:]
    # a prefix past the end: no items, a prev cursor to the last page
    body = client.get("/api/v1/systems", params={"prefix": "zzz", "limit": 5}).json()
    assert body["items"] == [] and body["next"] is None
    last = client.get("/api/v1/systems", params={"cursor": body["prev"], "limit": 5}).json()
    assert [s["name"] for s in last["items"]] == names[-5:]


def test_prefix_with_region(client, seeded):
    r = client.get("/api/v1/systems", params={"prefix": "Sys 002", "region": "Hilbert", "limit": 100})
    expected = sorted(s["name"] for s in seeded if s["region"] == "Hilbert" and s["name"] >= "Sys 002")
    assert [s["name"] for s in r.json()["items"]] == expected


def test_cursor_and_prefix_together_is_400(client, seeded):
    body = client.get("/api/v1/systems", params={"limit": 5}).json()
    r = client.get("/api/v1/systems", params={"limit": 5, "cursor": body["next"], "prefix": "S"})
    assert r.status_code == 400
    assert r.json()["error"]["field"] == "prefix"


def _flip(token: str, index: int) -> str:
    raw = bytearray(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
    raw[index] ^= 0x01
    return base64.urlsafe_b64encode(bytes(raw)).rstrip(b"=").decode()


def test_tampered_cursors_are_400(client, seeded):
    token = client.get("/api/v1/systems", params={"limit": 5}).json()["next"]
    bad = [
        _flip(token, 0),  # the MAC
        _flip(token, 20),  # the body
        _flip(token, -1),
        token[:-2],
        token + "AA",
        "not a cursor",
        "",
        "A" * 5000,
        "%%%",
        "!!!!",
        base64.urlsafe_b64encode(b"x" * 40).decode(),
        "é",
    ]
    for cursor in bad:
        if cursor == "":
            continue  # an empty cursor is no cursor: page 1
        r = client.get("/api/v1/systems", params={"limit": 5, "cursor": cursor})
        assert r.status_code == 400, cursor
        err = r.json()["error"]
        assert err["field"] == "cursor", err
        assert err["code"] == "invalid"


def test_cursor_cannot_be_replayed_with_another_filter(client, seeded, store):
    token = client.get("/api/v1/systems", params={"limit": 5, "region": "Euclid"}).json()["next"]
    for params in ({}, {"region": "Hilbert"}):
        r = client.get("/api/v1/systems", params={"limit": 5, "cursor": token, **params})
        assert r.status_code == 400
        assert r.json()["error"]["field"] == "cursor"
    store.ensure_galaxy("Other")
    r = client.get("/api/v1/systems", params={"limit": 5, "cursor": token, "region": "Euclid", "galaxy": "Other"})
    assert r.status_code == 400
    # a search cursor is not a page cursor
    search = client.get("/api/v1/systems/search", params={"q": "Sys", "limit": 2}).json()["next"]
    r = client.get("/api/v1/systems", params={"cursor": search})
    assert r.status_code == 400


def test_cursor_survives_a_new_app_on_the_same_store(store, seeded):
    from fastapi.testclient import TestClient

    from haven.api import create_app

    with TestClient(create_app(store)) as a:
        token = a.get("/api/v1/systems", params={"limit": 5}).json()["next"]
    with TestClient(create_app(store)) as b:
        r = b.get("/api/v1/systems", params={"limit": 5, "cursor": token})
    assert r.status_code == 200
    assert r.json()["page"] == 2
    assert store.meta_value("cursor_secret")


def test_changing_limit_keeps_position_but_drops_page_number(client, seeded):
    token = client.get("/api/v1/systems", params={"limit": 5}).json()["next"]
    body = client.get("/api/v1/systems", params={"limit": 7, "cursor": token}).json()
    names = sorted(s["name"] for s in seeded)
    assert [s["name"] for s in body["items"]] == names[5:12]
    assert body["page"] is None


def test_page_survives_deleting_everything_after_it(client, store, seeded):
    body = client.get("/api/v1/systems", params={"limit": 50}).json()
    for s in body["items"][-1:] + [x for x in seeded if x["name"] > body["items"][-1]["name"]]:
        store.delete(s["id"])
    r = client.get("/api/v1/systems", params={"limit": 50, "cursor": body["next"]})
    assert r.status_code == 200
    assert r.json()["items"] == [] and r.json()["next"] is None and r.json()["prev"]


@pytest.mark.parametrize("limit", ["0", "5001", "-3", "ten", "1.5", ""])
def test_bad_limits_are_400(client, limit):
    r = client.get("/api/v1/systems", params={"limit": limit})
    assert r.status_code == 400
    assert r.json()["error"]["field"] == "limit"


def test_limit_5000_is_allowed(client, seeded):
    r = client.get("/api/v1/systems", params={"limit": 5000})
    assert r.status_code == 200 and len(r.json()["items"]) == 57


# -- search -----------------------------------------------------------------------


def test_search_in_id_order_with_cursor(client, store):
    rows = seed(store, 30)
    expected = [s["id"] for s in rows if "copper" in (s["materials"] or "").lower()]
    assert len(expected) > 4
    got, cursor = [], None
    while True:
        params = {"q": "COPPER", "limit": 3, **({"cursor": cursor} if cursor else {})}
        r = client.get("/api/v1/systems/search", params=params)
        assert r.status_code == 200, r.text
        body = r.json()
        got.extend(s["id"] for s in body["items"])
        cursor = body["next"]
        if not cursor:
            break
    assert got == expected


def test_search_limit_5000_still_pages(client, store):
    rows = seed(store, 5)
    r = client.get("/api/v1/systems/search", params={"q": "Sys", "limit": 5000})
    assert [s["id"] for s in r.json()["items"]] == [s["id"] for s in rows]
    assert r.json()["next"] is None


@pytest.mark.parametrize("q", ["Qqzv", "Qq"])
def test_search_full_pages_of_5000_say_truly_whether_more_lie_either_way(client, store, q):
    """At the largest limit no extra row can be read: a full page must not claim a next page
    when there is none, nor a previous one on the first page."""
    store.import_systems("Haven", [validate_system({"name": f"Qqzv {i:05d}", "x": i % 100, "y": 0, "z": 0})
                                   for i in range(5000)])
    first = client.get("/api/v1/systems/search", params={"q": q, "limit": 5000}).json()
    assert len(first["items"]) == 5000 and first["next"] is None and first["prev"] is None
    store.import_systems("Haven", [validate_system({"name": "Qqzv 05000", "x": 1, "y": 1, "z": 1})])
    first = client.get("/api/v1/systems/search", params={"q": q, "limit": 5000}).json()
    assert first["next"] is not None and first["prev"] is None
    second = client.get("/api/v1/systems/search", params={"q": q, "limit": 5000, "cursor": first["next"]}).json()
    assert [s["name"] for s in second["items"]] == ["Qqzv 05000"] and second["next"] is None
    back = client.get("/api/v1/systems/search", params={"q": q, "limit": 5000, "cursor": second["prev"]}).json()
    assert back["items"] == first["items"] and back["prev"] is None and back["next"] is not None


def test_search_short_terms_match_name_starts_and_page(client, store):
    seed(store, 12)
    store.create("Haven", validate_system({"name": "Other", "x": 0, "y": 0, "z": 0}))
    got, cursor = [], None
    while True:
        params = {"q": "Sy", "limit": 5, **({"cursor": cursor} if cursor else {})}
        body = client.get("/api/v1/systems/search", params=params).json()
        got.extend(s["name"] for s in body["items"])
        cursor = body["next"]
        if not cursor:
            break
    assert len(got) == 12 and got == sorted(got) and all(n.startswith("Sy") for n in got)


def test_search_cursor_is_bound_to_the_term(client, store):
    seed(store, 10)
    token = client.get("/api/v1/systems/search", params={"q": "Sys", "limit": 2}).json()["next"]
    r = client.get("/api/v1/systems/search", params={"q": "Iron", "limit": 2, "cursor": token})
    assert r.status_code == 400 and r.json()["error"]["field"] == "cursor"


@pytest.mark.parametrize("params, field", [({}, "q"), ({"q": ""}, "q"), ({"q": "   "}, "q"), ({"q": "x" * 201}, "q"),
                                            ({"q": "abc", "limit": 0}, "limit"), ({"q": "a\x00b"}, "q"),
                                            ({"q": "\U0010fffd\U00100000\U00100001"}, "q")])
def test_search_bad_input(client, params, field):
    r = client.get("/api/v1/systems/search", params=params)
    assert r.status_code == 400
    assert r.json()["error"]["field"] == field


@pytest.mark.parametrize("q", ['"', "a\"b", "* OR 1", "NEAR(a b)", "%_", "\\", "'; DROP TABLE system; --", "\x00ab"])
def test_search_odd_terms_do_not_fail(client, seeded, q):
    r = client.get("/api/v1/systems/search", params={"q": q})
    assert r.status_code in (200, 400), r.text


def test_search_short_terms_ignore_case_and_page_across_spellings(client, store):
    for name in ("abath", "Abesbae", "ABX-1", "aBc", "Other", "zab"):
        store.create("Haven", validate_system({"name": name, "x": 0, "y": 0, "z": 0}))
    got, cursor = [], None
    while True:
        params = {"q": "ab", "limit": 2, **({"cursor": cursor} if cursor else {})}
        body = client.get("/api/v1/systems/search", params=params).json()
        got.extend(s["name"] for s in body["items"])
        cursor = body["next"]
        if not cursor:
            break
    assert got == ["ABX-1", "Abesbae", "aBc", "abath"]  # name (binary) order
    one = client.get("/api/v1/systems/search", params={"q": "o"}).json()["items"]
    assert [s["name"] for s in one] == ["Other"]


# -- search both ways ---------------------------------------------------------------------


def search_walk(client, params, *, direction="next", start=None):
    """Follow a search's cursors to the end one way; returns every answer."""
    answers, cursor = [], start
    while True:
        r = client.get("/api/v1/systems/search", params={**params, **({"cursor": cursor} if cursor else {})})
        assert r.status_code == 200, r.text
        answers.append(r.json())
        cursor = answers[-1][direction]
        if not cursor:
            return answers


def shown(answer) -> list[str]:
    return [s["name"] for s in answer["items"]]


@pytest.mark.parametrize("q, limit", [("COPPER", 3), ("sys 00", 4), ("Sy", 5), ("sY", 7)])
def test_search_prev_walks_back_to_the_first_page_and_next_returns(client, store, q, limit):
    seed(store, 40)
    for name in ("sYx", "SYSTEM", "syzygy"):  # other spellings of a short term
        store.create("Haven", validate_system({"name": name, "x": 0, "y": 0, "z": 0}))
    params = {"q": q, "limit": limit}
    forward = search_walk(client, params)
    assert len(forward) >= 3
    assert forward[0]["prev"] is None and forward[0]["page"] == 1
    assert [a["page"] for a in forward] == list(range(1, len(forward) + 1))
    back = search_walk(client, params, direction="prev", start=forward[-1]["prev"])
    assert [shown(a) for a in back] == [shown(a) for a in reversed(forward[:-1])]
    assert [a["page"] for a in back] == list(range(len(forward) - 1, 0, -1))
    assert back[-1]["prev"] is None  # the first page again, reached backwards
    for fwd, bwd in zip(reversed(forward[:-1]), back):
        # next from a page reached backwards returns to the page that was after it
        after = client.get("/api/v1/systems/search", params={**params, "cursor": bwd["next"]}).json()
        assert shown(after) == shown(forward[fwd["page"]]) and after["page"] == fwd["page"] + 1


def test_search_prev_is_null_when_everything_fits_on_one_page(client, store):
    seed(store, 5)
    body = client.get("/api/v1/systems/search", params={"q": "Sys"}).json()
    assert len(body["items"]) == 5 and body["next"] is None and body["prev"] is None and body["page"] == 1


def test_forward_only_search_cursors_still_work(client, store):
    from haven.api.cursor import codec_for_store

    rows = seed(store, 30)
    ids = [s["id"] for s in rows]
    codec = codec_for_store(store)  # the secret the app signs with; a cursor as the server made them before
    old = codec.encode("search", ["Haven", "Sys"], {"i": ids[9]})
    body = client.get("/api/v1/systems/search", params={"q": "Sys", "limit": 5, "cursor": old}).json()
    assert [s["id"] for s in body["items"]] == ids[10:15]
    assert body["page"] is None and body["prev"] and body["next"]
    before = client.get("/api/v1/systems/search", params={"q": "Sys", "limit": 5, "cursor": body["prev"]}).json()
    assert [s["id"] for s in before["items"]] == ids[5:10] and before["page"] is None
    old_short = codec.encode("search", ["Haven", "Sy"], {"a": rows[9]["name"]})
    body = client.get("/api/v1/systems/search", params={"q": "Sy", "limit": 5, "cursor": old_short}).json()
    assert shown(body) == sorted(s["name"] for s in rows)[10:15] and body["prev"]


def test_search_cursors_that_do_not_fit_are_400_naming_cursor(client, store):
    from haven.api.cursor import codec_for_store

    seed(store, 20)
    body = client.get("/api/v1/systems/search", params={"q": "Sys", "limit": 2}).json()
    second = client.get("/api/v1/systems/search", params={"q": "Sys", "limit": 2, "cursor": body["next"]}).json()
    codec = codec_for_store(store)
    bad = [
        _flip(second["prev"], 0),
        _flip(second["prev"], 20),
        second["prev"][:-3],
        "not a cursor",
        client.get("/api/v1/systems", params={"limit": 2}).json()["next"],  # a list page's cursor
        codec.encode("search", ["Haven", "Sys"], {"p": 2, "l": 2}),  # signed, but no position
        codec.encode("search", ["Haven", "Sys"], {"bi": "not an id"}),
        codec.encode("search", ["Haven", "Sy"], {"b": 5}),
    ]
    for i, cursor in enumerate(bad):
        q = "Sy" if i == len(bad) - 1 else "Sys"
        r = client.get("/api/v1/systems/search", params={"q": q, "limit": 2, "cursor": cursor})
        assert r.status_code == 400, (i, r.text)
        assert r.json()["error"]["field"] == "cursor"
    # a prev cursor is bound to its term like next
    r = client.get("/api/v1/systems/search", params={"q": "Iron", "limit": 2, "cursor": second["prev"]})
    assert r.status_code == 400 and r.json()["error"]["field"] == "cursor"


@pytest.mark.parametrize("q", ["Gold", "Go"])
def test_search_pages_survive_deletions_both_ways(client, store, q):
    for i in range(12):
        store.create("Haven", validate_system({"name": f"Gold {i:02d}", "x": 0, "y": 0, "z": 0}))
    params = {"q": q, "limit": 4}
    first, second, third = search_walk(client, params)
    # Everything from the third page on is gone: next leads to an empty page offering the last one.
    for s in third["items"]:
        store.delete(s["id"])
    empty = client.get("/api/v1/systems/search", params={**params, "cursor": second["next"]}).json()
    assert empty["items"] == [] and empty["next"] is None and empty["prev"]
    last = client.get("/api/v1/systems/search", params={**params, "cursor": empty["prev"]}).json()
    assert shown(last) == shown(second) and last["next"] is None and last["prev"]
    # Everything before the second page is gone: prev starts over at the (new) first page.
    for s in first["items"]:
        store.delete(s["id"])
    again = client.get("/api/v1/systems/search", params={**params, "cursor": second["prev"]}).json()
    assert shown(again) == shown(second) and again["page"] == 1 and again["prev"] is None and again["next"] is None


def test_signed_cursors_with_integers_haven_never_writes_are_400(client, store):
    """Hardening: a signed cursor holding an id or page number beyond 64 bits is refused, not a 500."""
    from haven.api.cursor import codec_for_store

    seed(store, 5)
    codec = codec_for_store(store)
    huge = 2**64 - 1
    for q, position in (("Sys", {"i": huge}), ("Sys", {"bi": 2**63}), ("Sys", {"i": -1})):
        r = client.get("/api/v1/systems/search", params={"q": q, "limit": 2,
                                                         "cursor": codec.encode("search", ["Haven", q], position)})
        assert r.status_code == 400 and r.json()["error"]["field"] == "cursor", r.text
    page = codec.encode("page", ["Haven", None], {"a": "Sys", "p": huge, "l": 2})
    r = client.get("/api/v1/systems", params={"limit": 2, "cursor": page})
    assert r.status_code == 200, r.text  # the page is served; its number is unknown
    assert r.json()["page"] is None
