"""The bounded slot pool: concurrency bound, first-come order, queue positions, release on errors."""
from __future__ import annotations

import threading
import time

import pytest

from xai_core.workslots import JOB_LANES, JOB_SLOTS, Slots, job_lanes, size_from_env, waiting_message

from polling import until


def test_never_more_holders_than_slots():
    slots, lock = Slots(2), threading.Lock()
    inside, peak, done = [0], [0], []

    def work(i: int) -> None:
        with slots.slot():
            with lock:
                inside[0] += 1
                peak[0] = max(peak[0], inside[0])
            time.sleep(0.02)
            with lock:
                inside[0] -= 1
        done.append(i)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert sorted(done) == list(range(8))
    assert peak[0] == 2 and slots.busy == 0 and slots.waiting == 0


def test_waiters_are_admitted_in_arrival_order():
    slots, order = Slots(1), []
    slots.acquire()  # the test holds the only slot while the line forms

    def work(i: int) -> None:
        with slots.slot():
            order.append(i)

    threads = []
    for i in range(5):
        threads.append(threading.Thread(target=work, args=(i,)))
        threads[-1].start()
        until(lambda: slots.waiting == i + 1)  # each joins the line before the next arrives
    slots.release()
    for t in threads:
        t.join(10)
    assert order == [0, 1, 2, 3, 4]


def test_queue_positions_are_reported_as_the_line_moves():
    slots = Slots(1)
    heard: dict[str, list[int]] = {"a": [], "b": []}
    gate_a = threading.Event()
    slots.acquire()

    def a() -> None:
        with slots.slot(heard["a"].append):
            gate_a.wait(10)

    def b() -> None:
        with slots.slot(heard["b"].append):
            pass

    ta = threading.Thread(target=a)
    ta.start()
    until(lambda: slots.waiting == 1)
    tb = threading.Thread(target=b)
    tb.start()
    until(lambda: heard["b"][:1] == [1])  # one waiter ahead of b
    assert set(heard["a"]) == {0}  # nobody ahead of a, but the slot is taken
    slots.release()  # a gets the slot; b moves up
    until(lambda: heard["b"][-1:] == [0])
    gate_a.set()
    ta.join(10)
    tb.join(10)
    assert heard["b"][0] == 1 and heard["b"][-1] == 0 and slots.busy == 0


def test_waiting_is_reported_again_every_heartbeat():
    slots, heard = Slots(1), []
    slots.acquire()
    t = threading.Thread(target=lambda: slots.acquire(heard.append, heartbeat_s=0.02))
    t.start()
    until(lambda: len(heard) >= 3)  # the same position, repeated: a cancelled caller gets to notice
    assert set(heard) == {0}
    slots.release()
    t.join(10)
    assert slots.busy == 1  # the waiter holds it now
    slots.release()


def test_slot_is_released_when_the_work_raises():
    slots = Slots(1)
    with pytest.raises(ValueError):
        with slots.slot():
            assert slots.busy == 1 and slots.held()
            raise ValueError("bug")
    assert slots.busy == 0 and not slots.held()
    with slots.slot():  # usable again
        assert slots.busy == 1


def test_a_waiter_whose_callback_raises_leaves_the_line():
    slots = Slots(1)
    slots.acquire()
    errors, heard_b = [], []

    def impatient(ahead: int) -> None:
        raise KeyboardInterrupt  # like Streamlit stopping a script: not an Exception

    def a() -> None:
        try:
            slots.acquire(impatient)
        except KeyboardInterrupt:
            errors.append("left")

    ta = threading.Thread(target=a)
    ta.start()
    ta.join(10)
    assert errors == ["left"] and slots.waiting == 0
    tb = threading.Thread(target=lambda: slots.acquire(heard_b.append))
    tb.start()
    until(lambda: heard_b[:1] == [0])  # first in line: the one who left holds no place
    slots.release()
    tb.join(10)
    assert slots.busy == 1
    slots.release()


def test_nested_slots_in_one_thread_do_not_deadlock():
    slots = Slots(1)
    with slots.slot():
        with slots.slot():
            assert slots.busy == 1
        assert slots.held()
    assert slots.busy == 0 and not slots.held()


def test_release_without_acquire_is_an_error_and_sizes_are_positive():
    with pytest.raises(RuntimeError):
        Slots(1).release()
    with pytest.raises(ValueError):
        Slots(0)


def test_size_from_env(monkeypatch):
    monkeypatch.setenv("XAI_TEST_SLOTS", "3")
    assert size_from_env("XAI_TEST_SLOTS", 1) == 3
    for bad in ("0", "-2", "many", ""):
        monkeypatch.setenv("XAI_TEST_SLOTS", bad)
        assert size_from_env("XAI_TEST_SLOTS", 2) == 2
    monkeypatch.delenv("XAI_TEST_SLOTS")
    assert size_from_env("XAI_TEST_SLOTS", 1) == 1
    assert waiting_message(2) == "Waiting for a free worker (2 ahead) …"


def test_two_job_lanes_sized_from_the_environment_the_old_name_still_sizing_the_long_one(monkeypatch):
    for name in ("XAI_JOB_SLOTS", "XAI_LONG_JOB_SLOTS", "XAI_SHORT_JOB_SLOTS"):
        monkeypatch.delenv(name, raising=False)
    assert {k: v.size for k, v in job_lanes().items()} == {"long": 1, "short": 1}
    monkeypatch.setenv("XAI_JOB_SLOTS", "3")  # the single pool's old variable: the long lane now
    assert {k: v.size for k, v in job_lanes().items()} == {"long": 3, "short": 1}
    monkeypatch.setenv("XAI_LONG_JOB_SLOTS", "2")
    monkeypatch.setenv("XAI_SHORT_JOB_SLOTS", "4")
    assert {k: v.size for k, v in job_lanes().items()} == {"long": 2, "short": 4}
    assert JOB_SLOTS is JOB_LANES["long"] and JOB_LANES["long"] is not JOB_LANES["short"]
