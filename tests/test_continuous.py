"""Continuous batching (codila.decoding.feed): canvases that join a running decoding between steps, and leave it when
done, decode exactly as they would alone (every joinable decoder, every example setting, sampling at temperature 1)."""

from __future__ import annotations

from dataclasses import fields, replace

import pytest

from codila.decoding.canvas import Canvas
from codila.decoding.registry import DECODERS, decode, get_decoder
from codila.errors import CodilaError
from test_decoders import SETTINGS, many_canvases

JOINABLE = [(name, config, block) for name, config, block in SETTINGS if DECODERS[name].joinable]


class ScriptedFeed:
    """Hands out canvases at given step boundaries; records every outcome and the boundary it came at."""

    def __init__(self, arrivals: dict[int, list[tuple[object, Canvas, int]]]):
        self.arrivals, self.boundary, self.outcomes = arrivals, 0, {}

    def joining(self):
        self.boundary += 1
        return self.arrivals.get(self.boundary, [])

    def finished(self, handle, outcome):  # handed back at a boundary before its newcomers are asked for
        assert handle not in self.outcomes, "a canvas was handed back twice"
        self.outcomes[handle] = (outcome, self.boundary + 1)


def summary(result):
    return result.ids.tolist(), result.commit_step.tolist(), result.tokens_per_step, result.dlm_forwards, result.ar_steps


@pytest.mark.parametrize("name,config,block", JOINABLE, ids=lambda v: str(v))
def test_canvases_joining_between_steps_decode_as_alone(dlm, ars, name, config, block):
    spec = get_decoder(name)
    ar = ars[block] if block else None
    sampled = replace(config, temperature=1.0) if "temperature" in {f.name for f in fields(config)} else config
    batch = many_canvases(dlm, 6)
    seeds = [7 + index for index in range(6)]
    feed = ScriptedFeed(
        {
            2: [("a", batch[2], seeds[2])],
            3: [("b", batch[3], seeds[3]), ("c", batch[4], seeds[4])],
            4: [("d", batch[5], seeds[5])],
        }
    )
    returned = decode(spec, dlm, ar, batch[:2], sampled, seeds[:2], feed=feed)
    assert set(feed.outcomes) == {0, 1, "a", "b", "c", "d"}
    for handle, index in zip((0, 1, "a", "b", "c", "d"), range(6)):
        alone = decode(spec, dlm, ar, [batch[index]], sampled, seeds[index])[0]
        assert summary(feed.outcomes[handle][0]) == summary(alone), handle
    assert [summary(r) for r in returned] == [summary(feed.outcomes[h][0]) for h in (0, 1, "a", "b", "c", "d")]
    # each canvas left the batch at the boundary right after its last step, not when the batch ended
    for handle, (result, boundary) in feed.outcomes.items():
        joined = {0: 1, 1: 1, "a": 2, "b": 3, "c": 3, "d": 4}[handle]
        assert boundary == joined + result.steps, handle


def test_a_refused_joiner_fails_alone(dlm, ars):
    batch = many_canvases(dlm, 2)
    odd = Canvas.completion([5, 6, 7], 6, dlm.mask_id, dlm.max_length)  # not a multiple of B=4
    feed = ScriptedFeed({2: [("odd", odd, 0), ("fine", batch[1], 1)]})
    decode("codila", dlm, ars[4], batch[:1], None, 0, feed=feed)
    assert isinstance(feed.outcomes["odd"][0], CodilaError)
    assert summary(feed.outcomes["fine"][0]) == summary(decode("codila", dlm, ars[4], [batch[1]], None, 1)[0])


def test_a_static_decoder_refuses_a_feed(dlm):
    with pytest.raises(CodilaError, match="static batches"):
        decode("dlm-variable", dlm, None, many_canvases(dlm, 1), None, 0, feed=ScriptedFeed({}))


def test_a_cancelled_canvas_stops_at_the_next_step(dlm):
    import threading

    canvas = many_canvases(dlm, 2)[1]
    canvas.cancel = threading.Event()

    class CancelAtStep:
        def considered(self, *args):
            pass

        def committed(self, step, positions, tokens):
            if step == 2:
                canvas.cancel.set()

    canvas.observer = CancelAtStep()
    other = many_canvases(dlm, 1)[0]
    cut, kept = decode("dlm", dlm, None, [canvas, other], None, [0, 1])
    assert cut.steps == 3 and bool((cut.generated == dlm.mask_id).any())  # steps 0, 1, 2, then dropped
    assert summary(kept) == summary(decode("dlm", dlm, None, [other], None, 1)[0])  # its batch mate is unaffected
