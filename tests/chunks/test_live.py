"""The change hub's pieces: boxes against octree nodes, listeners that fall behind, other processes' writes."""

from __future__ import annotations

import asyncio

from haven.chunks.live import LISTENER_QUEUE_MESSAGES, Box, ChangeHub, Listener
from haven.config import DEFAULT_GALAXY as GALAXY
from haven.model import validate_system
from haven.spatial.morton import Cube

CUBE = Cube(0.0, 0.0, 0.0, 1000.0)


def test_a_box_touches_the_nodes_it_overlaps_and_no_others():
    box = Box((100.0, 100.0, 100.0), (200.0, 200.0, 200.0))
    assert box.touches_node(CUBE, 0, 0)  # the root holds everything
    assert box.touches_node(CUBE, 1, 7)  # the +x +y +z octant
    assert not box.touches_node(CUBE, 1, 0)  # the -x -y -z octant
    corner = Box((0.0, 0.0, 0.0), (0.0, 0.0, 0.0))  # a point on the shared corner touches all eight
    assert all(corner.touches_node(CUBE, 1, cell) for cell in range(8))


def test_a_listener_that_falls_behind_gets_one_resync_then_fresh_messages():
    async def run() -> list[dict]:
        listener = Listener("G")
        for i in range(LISTENER_QUEUE_MESSAGES + 5):
            listener.offer({"type": "chunk_updated", "clock": i})
        assert listener.behind
        got = [await listener.next_message() for _ in range(LISTENER_QUEUE_MESSAGES)]
        got.append(await listener.next_message())
        listener.offer({"type": "chunk_updated", "clock": 999})
        got.append(await listener.next_message())
        return got

    got = asyncio.run(run())
    assert [m["clock"] for m in got[:LISTENER_QUEUE_MESSAGES]] == list(range(LISTENER_QUEUE_MESSAGES))
    assert got[LISTENER_QUEUE_MESSAGES]["type"] == "resync"
    assert got[-1] == {"type": "chunk_updated", "clock": 999}


def test_the_resync_of_a_listener_that_fell_behind_carries_the_clock_of_what_it_missed():
    """Like the bulk-load resync, the overflow resync says how current the tree the client reads next is."""

    async def run() -> list[dict]:
        listener = Listener("G")
        for clock in range(100, 100 + LISTENER_QUEUE_MESSAGES + 3):  # the last three are dropped
            listener.offer({"type": "chunk_updated", "clock": clock, "nodes": []})
        got = [await listener.next_message() for _ in range(LISTENER_QUEUE_MESSAGES + 1)]
        # falling behind again later: the next resync has the clock of that round's drops
        for clock in range(500, 500 + LISTENER_QUEUE_MESSAGES + 1):
            listener.offer({"type": "chunk_updated", "clock": clock, "nodes": []})
        got += [await listener.next_message() for _ in range(LISTENER_QUEUE_MESSAGES + 1)]
        return got

    got = asyncio.run(run())
    first, second = got[LISTENER_QUEUE_MESSAGES], got[-1]
    assert first["type"] == "resync" and first["clock"] == 100 + LISTENER_QUEUE_MESSAGES + 2
    assert second["type"] == "resync" and second["clock"] == 500 + LISTENER_QUEUE_MESSAGES


def test_a_write_by_another_process_right_after_subscribing_is_heard(store):
    """The write lands before the hub's first round: nothing wakes the hub but its check for commits."""
    other = type(store)(store.path)

    async def run() -> dict:
        hub = ChangeHub(store, asyncio.to_thread, interval_s=0.01)
        listener, clock = await hub.listen(GALAXY)
        other.create(GALAXY, validate_system({"name": "Elsewhere", "x": 1.0, "y": 2.0, "z": 3.0}))
        try:
            message = await asyncio.wait_for(listener.next_message(), 10)
        finally:
            await hub.close()
        assert message["clock"] > clock
        return message

    try:
        message = asyncio.run(run())
    finally:
        other.close()
    assert message["type"] == "chunk_updated" and message["total_systems"] >= 1
