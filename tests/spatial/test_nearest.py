"""Candidates from codes alone: every system is within the slack of its cell centre,
and limited nearest-first answers are exact (checked against brute force)."""

from __future__ import annotations

import math
import sqlite3

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from haven.spatial import Cube, box_code_ranges, deinterleave3
from haven.spatial.morton import deinterleave3_array
from haven.spatial.nearest import Box, Candidates, Sphere, sphere_shells, squared_distance, squared_distance_sql

CUBE = Cube(10.0, -20.0, 5.0, 1024.0)
coord = st.floats(min_value=-1024, max_value=1024, allow_nan=False)


def test_vectorised_deinterleave_matches_scalar():
    codes = np.random.default_rng(5).integers(0, 1 << 63, 400, dtype=np.int64)
    assert deinterleave3_array(codes).tolist() == [list(deinterleave3(int(c))) for c in codes]


@given(coord, coord, coord)
@settings(max_examples=300)
def test_a_system_lies_within_the_slack_of_its_cell_centre(dx, dy, dz):
    x, y, z = CUBE.centre_x_ly + dx, CUBE.centre_y_ly + dy, CUBE.centre_z_ly + dz
    centre = CUBE.code_centres_ly(np.array([CUBE.code(x, y, z)]))[0]
    assert math.dist(centre, (x, y, z)) <= CUBE.code_slack_ly


def test_the_cube_corners_stay_within_the_slack():
    h = CUBE.half_size_ly
    for sx in (-1, 1):
        for sy in (-1, 1):
            for sz in (-1, 1):
                p = (CUBE.centre_x_ly + sx * h, CUBE.centre_y_ly + sy * h, CUBE.centre_z_ly + sz * h)
                centre = CUBE.code_centres_ly(np.array([CUBE.code(*p)]))[0]
                assert math.dist(centre, p) <= CUBE.code_slack_ly


def answer(shape, points: np.ndarray, shells, limit: int) -> list[int]:
    """What a store does: scan shells, resolve surface cells, rank the finalists exactly."""
    codes = CUBE.codes(points[:, 0], points[:, 1], points[:, 2])
    found = Candidates(shape, CUBE, limit)
    if shells is None:
        shells = sphere_shells(CUBE, shape, found)
    for bound, ranges in shells:
        mask = np.zeros(len(points), dtype=bool)
        for lo, hi in ranges:
            mask |= (codes >= lo) & (codes <= hi)
        ids = np.flatnonzero(mask)
        maybe = found.add(codes[ids], ids)
        found.resolve([(int(i), *points[i]) for i in maybe])
        if found.enough(bound):
            break
    ranked = sorted((squared_distance(shape.centre_ly, *points[i]), i) for i in found.finalists()
                    if shape.contains(*points[i]))
    return [i for _, i in ranked[:limit]]


def brute(shape, points: np.ndarray, limit: int) -> list[int]:
    ranked = sorted((squared_distance(shape.centre_ly, *p), i) for i, p in enumerate(points) if shape.contains(*p))
    return [i for _, i in ranked[:limit]]


def clustered_points(seed: int) -> np.ndarray:
    """A tight cluster, a sparse field, and duplicates sharing one cell (ties)."""
    rng = np.random.default_rng(seed)
    cluster = rng.normal(0, 3, (600, 3)) + (CUBE.centre_x_ly, CUBE.centre_y_ly, CUBE.centre_z_ly)
    field = rng.uniform(-1000, 1000, (400, 3)) + (CUBE.centre_x_ly, CUBE.centre_y_ly, CUBE.centre_z_ly)
    twins = np.repeat(cluster[:20], 3, axis=0)
    return np.vstack([cluster, field, twins])


@given(st.integers(0, 10_000), st.sampled_from([1, 5, 50, 400, 5000]), st.sampled_from([0.5, 3.0, 10.0, 300.0]))
@settings(max_examples=60, deadline=None)
def test_sphere_answers_match_brute_force(seed, limit, radius_ly):
    points = clustered_points(seed)
    centre = tuple(points[seed % len(points)])
    shape = Sphere(centre, radius_ly)
    assert answer(shape, points, None, limit) == brute(shape, points, limit)


def test_points_on_the_sphere_surface_are_inside():
    centre = (CUBE.centre_x_ly, CUBE.centre_y_ly, CUBE.centre_z_ly)
    points = np.array([[centre[0] + 2.0, centre[1], centre[2]], [centre[0], centre[1] - 2.0, centre[2]],
                       [centre[0] + 2.0000001, centre[1], centre[2]]])
    shape = Sphere(centre, 2.0)
    assert answer(shape, points, None, 10) == [0, 1]


@given(st.integers(0, 10_000), st.sampled_from([1, 7, 100, 5000]))
@settings(max_examples=40, deadline=None)
def test_box_answers_match_brute_force_including_faces(seed, limit):
    points = clustered_points(seed)
    rng = np.random.default_rng(seed + 1)
    a, b = points[rng.integers(len(points))], points[rng.integers(len(points))]
    lo, hi = tuple(np.minimum(a, b)), tuple(np.maximum(a, b))  # two points sit exactly on faces
    shape = Box(lo, hi)
    got = answer(shape, points, [(math.inf, box_code_ranges(CUBE, lo, hi))], limit)
    assert got == brute(shape, points, limit)


def test_shells_grow_nearest_first_and_never_overlap():
    points = clustered_points(3)
    centre = (CUBE.centre_x_ly, CUBE.centre_y_ly, CUBE.centre_z_ly)
    sphere = Sphere(centre, 900.0)
    found = Candidates(sphere, CUBE, 10_000)  # never enough: every shell is produced
    codes = CUBE.codes(points[:, 0], points[:, 1], points[:, 2])
    bounds, flat = [], []
    for bound, ranges in sphere_shells(CUBE, sphere, found):
        bounds.append(bound)
        flat += ranges
        ids = np.flatnonzero(np.any([(codes >= lo) & (codes <= hi) for lo, hi in ranges] or [codes < 0], axis=0))
        found.resolve([(int(i), *points[i]) for i in found.add(codes[ids], ids)])
    assert bounds == sorted(bounds) and bounds[-1] == 900.0 and len(bounds) >= 2
    flat.sort()
    for (_, hi1), (lo2, _) in zip(flat, flat[1:]):
        assert hi1 < lo2  # no code is scanned twice
    centre_code = CUBE.code(*centre)
    assert any(lo <= centre_code <= hi for lo, hi in flat)


def test_an_empty_sphere_doubles_its_reach_until_the_radius():
    sphere = Sphere((0.0, 0.0, 0.0), 500.0)
    found = Candidates(sphere, CUBE, 100)
    # nothing seen: 1/8 of the radius, then twice as far each time (a store's density hint
    # reads a sphere it knows to be sparse in one scan, see tests/store/test_near_shells.py)
    assert [bound for bound, _ in sphere_shells(CUBE, sphere, found)] == [62.5, 125.0, 250.0, 500.0]


finite = st.floats(min_value=-1e6, max_value=1e6, allow_nan=False)


@settings(max_examples=200, deadline=None)
@given(st.tuples(finite, finite, finite), st.tuples(finite, finite, finite), st.floats(min_value=0.001, max_value=1e6),
       st.tuples(finite, finite, finite))
def test_sql_distance_and_conditions_agree_with_python_to_the_bit(centre, point, radius_ly, size):
    """The store filters and ranks in SQL; ties and surfaces must fall exactly as in Python."""
    conn = sqlite3.connect(":memory:")
    conn.execute("CREATE TABLE s (x REAL, y REAL, z REAL)")
    conn.execute("INSERT INTO s VALUES (?, ?, ?)", point)
    d2_sql, d2_params = squared_distance_sql(centre)
    assert conn.execute(f"SELECT {d2_sql} FROM s", d2_params).fetchone()[0] == squared_distance(centre, *point)
    lo = tuple(min(c, c + s) for c, s in zip(centre, size))
    hi = tuple(max(c, c + s) for c, s in zip(centre, size))
    for shape in (Sphere(centre, radius_ly), Sphere(centre, math.sqrt(squared_distance(centre, *point))), Box(lo, hi)):
        where, params = shape.sql_condition()
        inside = conn.execute(f"SELECT count(*) FROM s WHERE {where}", params).fetchone()[0] == 1
        assert inside == shape.contains(*point)


def test_a_system_filed_across_a_grid_line_by_rounding_is_still_found():
    """``y - min`` of a system 1e-13 LY below a grid line rounds onto the line, filing it in the
    cell above; a sphere reaching the system but not that cell's face must still find it."""
    points = np.array([[10.0, -1e-13, 20.0]])  # y = 0 is a grid line of CUBE (1044 LY above its floor)
    assert CUBE.grid_coord(-1e-13, 1) == CUBE.grid_coord(0.0, 1)  # the rounding this is about
    shape = Sphere((10.0, -1.0, 20.0), 0.99999999999995)
    assert shape.contains(*points[0])
    assert answer(shape, points, None, 10) == [0]
