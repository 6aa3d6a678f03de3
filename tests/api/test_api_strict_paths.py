"""Strict ids and names in requests: ids in path positions are plain ASCII digits (``1_0`` is
not 10), names a query filters by never hold control characters, and the box names the
parameter at fault. Each refusal is a 400 naming the field, and changes nothing."""

from __future__ import annotations

from typing import Any

import pytest
from apihelpers import dump

JSON = {"Content-Type": "application/json"}
NOT_IDS = ["1.0", "+1", "%201", "1%20", "1_0", "-1", "1e1", "0x1", "%EF%BC%91", "١", "true", "1,0"]


@pytest.fixture
def ten(client, store) -> list[dict[str, Any]]:
    """Systems 1 to 10 (so ``1_0`` would reach system 10 if it were read as a Python literal)."""
    return [client.post("/api/v1/systems", json={"name": f"S{i}", "x": float(i), "y": 0.0, "z": 0.0}).json()
            for i in range(1, 11)]


def _invalid(r: Any, field: str) -> None:
    assert r.status_code == 400, r.text
    error = r.json()["error"]
    if isinstance(error, str):  # the legacy API's shape: {"error": "message"}
        assert field in error and "digits" in error, error
        return
    assert error["code"] == "invalid" and error["field"] == field, error
    assert "digits" in error["message"]


@pytest.mark.parametrize("text", NOT_IDS)
def test_an_id_that_is_not_plain_digits_is_400_on_every_id_route(client, store, ten, text):
    before = dump(store)
    path = f"/api/v1/systems/{text}"
    _invalid(client.get(path), "id")
    _invalid(client.put(path, json={"name": "S10", "x": 0, "y": 0, "z": 0}), "id")
    _invalid(client.patch(path, json={"fauna": "x"}), "id")
    _invalid(client.delete(path), "id")
    _invalid(client.get(f"{path}/history"), "id")
    _invalid(client.post(f"{path}/undo", headers=JSON), "id")
    assert dump(store) == before  # DELETE /systems/1_0 did not delete system 10


def test_leading_zeros_are_still_the_number(client, ten):
    assert client.get("/api/v1/systems/010").json()["name"] == "S10"


@pytest.mark.parametrize("path, field", [
    ("/api/v1/chunks/{}/0", "level"),
    ("/api/v1/chunks/0/{}", "cell"),
    ("/api/v1/chunks/0/0/{}", "index"),
    ("/api/v1/chunks/{}/0/0", "level"),
    ("/api/v1/chunks/0/{}/0", "cell"),
])
@pytest.mark.parametrize("text", ["1.0", "+0", "%200", "0_0", "1e0"])
def test_node_ids_in_the_path_are_plain_digits(client, map_galaxy, path, field, text):
    _invalid(client.get(path.format(text), params={"galaxy": map_galaxy}), field)


@pytest.mark.parametrize("query, field", [("level=1.0", "level"), ("cell=+0", "cell"), ("level=0_0", "level")])
def test_the_hierarchy_takes_plain_digits_too(client, map_galaxy, query, field):
    _invalid(client.get(f"/api/v1/chunks/hierarchy?{query}&galaxy={map_galaxy}"), field)


def test_node_ids_in_digits_still_work(client, map_galaxy):
    assert client.get("/api/v1/chunks/00/0", params={"galaxy": map_galaxy}).status_code == 200
    assert client.get("/api/v1/chunks/0/0/024", params={"galaxy": map_galaxy}).status_code == 200
    assert client.get("/api/v1/chunks/99999999999999999999/0", params={"galaxy": map_galaxy}).status_code == 400


@pytest.mark.parametrize("url, field", [
    ("/api/v1/systems?region=a%00", "region"),
    ("/api/v1/systems?region=Euclid%0A", "region"),
    ("/api/v1/systems?galaxy=a%1F", "galaxy"),
    ("/api/v1/systems?galaxy=Haven%0A", "galaxy"),
    ("/api/v1/systems/search?q=abc&galaxy=%07", "galaxy"),
    ("/api/v1/regions?galaxy=x%0Dy", "galaxy"),
    ("/api/v1/chunks/hierarchy?galaxy=%00", "galaxy"),
    ("/api/v1/export?galaxy=%09x", "galaxy"),
    ("/api/v1/systems/by-name/a%00b", "name"),
    ("/api/v1/systems/1?galaxy=%00", "galaxy"),
])
def test_control_characters_in_a_name_filter_are_400_naming_it(client, url, field):
    r = client.get(url)
    assert r.status_code == 400, r.text
    error = r.json()["error"]
    assert error["field"] == field and "control characters" in error["message"]


def test_a_write_with_a_control_character_in_its_galaxy_changes_nothing(client, store):
    before = dump(store)
    r = client.post("/api/v1/systems", params={"galaxy": "Ha\x00ven"}, json={"name": "X", "x": 0, "y": 0, "z": 0})
    assert r.status_code == 400 and r.json()["error"]["field"] == "galaxy"
    assert dump(store) == before


def test_names_around_control_characters_still_work(client):
    """DEL and the characters above C1 are allowed in names (C0 and C1 controls are not)."""
    created = client.post("/api/v1/systems", json={"name": "A\x7fB", "x": 0, "y": 0, "z": 0, "region": "R\xa0S"})
    assert created.status_code == 201
    assert client.get("/api/v1/systems/by-name/A%7FB").status_code == 200
    assert client.get("/api/v1/systems", params={"region": "R\xa0S"}).json()["total"] == 1
    # a search may name anything stored text may hold (materials keep line breaks), but NUL
    for q in ("A\x7fB", "A\x7f"):
        found = client.get("/api/v1/systems/search", params={"q": q})
        assert found.status_code == 200 and [s["name"] for s in found.json()["items"]] == ["A\x7fB"], q
    assert client.get("/api/v1/systems/search", params={"q": "A\x01"}).json()["items"] == []
    assert client.get("/api/v1/systems/search", params={"q": "A\x00"}).json()["error"]["field"] == "q"


@pytest.mark.parametrize("axis", "xyz")
def test_a_box_with_min_above_max_names_the_parameter(client, axis):
    bounds = {"min_x": 0, "min_y": 0, "min_z": 0, "max_x": 1, "max_y": 1, "max_z": 1, f"min_{axis}": 2}
    r = client.get("/api/v1/systems/box", params=bounds)
    assert r.status_code == 400, r.text
    error = r.json()["error"]
    assert error["field"] == f"min_{axis}" and f"max_{axis}" in error["message"]


# -- numbers in query strings ------------------------------------------------------------


@pytest.mark.parametrize("path, field", [
    ("/api/v1/systems?limit={}", "limit"),
    ("/api/v1/systems/search?q=S1&limit={}", "limit"),
    ("/api/v1/systems/near?x=0&y=0&z=0&radius=50&limit={}", "limit"),
    ("/api/v1/systems/1/history?limit={}", "limit"),
    ("/api/v1/chunks/changes?since={}", "since"),
    ("/api/v1/chunks/changes?limit={}", "limit"),
    ("/api/v1/chunks/hierarchy?depth={}", "depth"),
    ("/api/systems/visible?limit={}", "limit"),
    ("/api/systems/search?q=S1&limit={}", "limit"),
    ("/api/regions/Nowhere/systems?page={}", "page"),
    ("/api/regions/Nowhere/systems?per_page={}", "per_page"),
])
@pytest.mark.parametrize("text", ["1_0", "%201", "1.0", "+1", "1e1", "%EF%BC%91"])
def test_whole_numbers_in_a_query_are_plain_digits(client, ten, path, field, text):
    """``limit=1_0`` used to be read as 10 (Python's int() accepts underscores)."""
    _invalid(client.get(path.format(text)), field)


@pytest.mark.parametrize("path, field", [
    ("/api/v1/systems/near?x={}&y=0&z=0&radius=5", "x"),
    ("/api/v1/systems/near?x=0&y=0&z=0&radius={}", "radius"),
    ("/api/v1/systems/box?min_x={}&min_y=0&min_z=0&max_x=9&max_y=9&max_z=9", "min_x"),
    ("/api/v1/systems/box?min_x=0&min_y=0&min_z=0&max_x=9&max_y=9&max_z={}", "max_z"),
    ("/api/systems/visible?cx={}", "cx"),
    ("/api/systems/visible?radius={}", "radius"),
])
@pytest.mark.parametrize("text", ["1_0", "%201", "1%20", "0x1", "%EF%BC%91", "1,5"])
def test_numbers_in_a_query_are_plain_decimals(client, ten, path, field, text):
    _invalid(client.get(path.format(text)), field)


@pytest.mark.parametrize("text", ["10", "%2B10", "10.0", "1e1", "1.E1", ".1e2", "-0"])
def test_decimal_spellings_still_work(client, ten, text):
    items = client.get(f"/api/v1/systems/near?x={text}&y=0&z=0&radius=0.5").json()["items"]
    assert [s["name"] for s in items] == (["S10"] if text != "-0" else [])


def test_a_very_long_number_is_refused_like_a_short_one(client, ten):
    """The decimal check is linear in the text's length (an optional dot between two digit runs
    used to make a long non-number backtrack quadratically: seconds for 20,000 digits)."""
    _invalid(client.get("/api/v1/systems/near", params={"x": "1" * 20_000 + "x", "y": 0, "z": 0, "radius": 1}), "x")


@pytest.mark.parametrize("path", ["/api/v1/systems/", "/api/v1/stats/", "/api/v1/chunks/0/0/",
                                  "/api/regions/100%2541/systems/"])
def test_a_path_with_a_slash_added_is_404_not_a_redirect(client, store, path):
    """A redirect would be built from the decoded path: /api/regions/100%2541/systems/ led to
    the systems of region "100A" instead of "100%41"."""
    client.post("/api/v1/systems", json={"name": "In 100A", "x": 1, "y": 0, "z": 0, "region": "100A"})
    r = client.get(path, follow_redirects=False)
    assert r.status_code == 404, r.text
    assert r.headers["content-type"].startswith("application/json")
    assert "error" in r.json()
