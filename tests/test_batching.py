"""Checks submitted in one event-loop turn are judged together, each request gets its own answer."""

import asyncio

import pytest

from api.batching import CheckBatcher
from detector import Detector


@pytest.fixture(scope="module")
def detector():
    return Detector(mode="realtime")


def test_when_requests_arrive_together_then_each_gets_its_own_verdicts_in_order(detector):
    requests = [(["有完没完", "您好，请稍等"], "realtime"), (["问别任去"], "qa"), ([], "qa"), (["你自己不会看公告吗", "老东西"], "qa")]

    async def run():
        batcher = CheckBatcher()
        return await asyncio.gather(*(batcher.check(detector, texts, mode) for texts, mode in requests))

    got = asyncio.run(run())
    assert got == [detector.check_many(texts, mode) for texts, mode in requests]
    assert [v.mode for v in got[0]] == ["realtime"] * 2 and got[1][0].mode == "qa"


def test_when_one_request_fails_then_the_others_in_its_batch_are_still_answered(detector):
    class Fussy:
        def check_many(self, texts, mode):
            if "坏" in texts:
                raise ValueError("cannot judge 坏")
            return detector.check_many(texts, mode)

    fussy = Fussy()

    async def run():
        batcher = CheckBatcher()
        return await asyncio.gather(
            batcher.check(fussy, ["有完没完"], "qa"), batcher.check(fussy, ["坏"], "qa"), batcher.check(fussy, ["您好"], "qa"),
            return_exceptions=True,
        )

    first, bad, last = asyncio.run(run())
    assert first == detector.check_many(["有完没完"], "qa") and last == detector.check_many(["您好"], "qa")
    assert isinstance(bad, ValueError) and "坏" in str(bad)


def test_when_a_waiting_request_is_cancelled_then_its_texts_are_not_judged(detector):
    seen = []

    class Recording:
        def check_many(self, texts, mode):
            seen.extend(texts)
            return detector.check_many(texts, mode)

    async def run():
        batcher = CheckBatcher()
        gone = batcher.check(Recording(), ["客户已断开"], "qa")
        kept = batcher.check(Recording(), ["您好"], "qa")
        gone.cancel()
        return await kept

    assert asyncio.run(run()) == detector.check_many(["您好"], "qa")
    assert seen == ["您好"]


def test_when_a_turn_fills_up_then_the_rest_is_judged_in_later_turns_and_all_are_answered(detector):
    turns = []

    class Counting:
        def check_many(self, texts, mode):
            turns.append(list(texts))
            return detector.check_many(texts, mode)

    counting = Counting()
    requests = [[f"第{i}句：有完没完"] for i in range(6)]

    async def run():
        batcher = CheckBatcher(max_chars=20)  # 8-character texts: the third in a turn takes it past 20
        return await asyncio.gather(*(batcher.check(counting, texts, "qa") for texts in requests))

    got = asyncio.run(run())
    assert got == [detector.check_many(texts, "qa") for texts in requests]
    assert [len(t) for t in turns] == [3, 3] and [t for turn in turns for t in turn] == [t for r in requests for t in r]
