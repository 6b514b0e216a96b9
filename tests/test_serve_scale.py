"""The server's OpenAI `stop` and `logprobs`, dropping a request whose client left, timeouts and /health (issue 30)."""

from __future__ import annotations

import socket
import threading
import time

import httpx
import openai
import pytest
import torch

from codila.decoding.canvas import Canvas
from codila.decoding.registry import decode, get_decoder
from codila.serve.schemas import ServeLimits
from codila.serve.server import running_server
from codila.serve.streaming import TextStream, cut_at_stop, undecided


@pytest.fixture(scope="module")
def server(tiny_checkpoints, chat_dlm_dir):
    with running_server(tiny_checkpoints, ServeLimits(max_prompt_tokens=40, max_tokens=16), dlm=chat_dlm_dir) as url:
        yield url


@pytest.fixture(scope="module")
def client(server):
    return openai.OpenAI(base_url=server, api_key="unused", max_retries=0, timeout=120)


def health(server) -> dict:
    return httpx.get(server.removesuffix("/v1") + "/health").json()


def library(dlm, prompt, length, seed, decoder="dlm", **settings):
    """The library's decoding of one canvas (the oracle): its region tokens and result."""
    spec = get_decoder(decoder)
    canvas = Canvas.completion(dlm.tokenizer(prompt, add_special_tokens=False)["input_ids"], length, dlm.mask_id, dlm.max_length)
    result = decode(spec, dlm, None, [canvas], spec.config_class(**settings), seed)[0]
    return result.generated.tolist(), result


def test_stop_helpers():
    assert cut_at_stop("abcdef", ["de", "c"]) == ("ab", True)
    assert cut_at_stop("abc", ["x"]) == ("abc", False) and cut_at_stop("abc", []) == ("abc", False)
    assert undecided("ab\nx", ["\ndef"]) == 0 and undecided("ab\nd", ["\ndef"]) == 2
    assert undecided("ab\nde", ["\ndef", "e!"]) == 3
    sent = []
    stream = TextStream(
        0, 6, 99, True, 6, lambda ts: "".join("abcdef"[t] for t in ts), sent.append, ["cd"], lambda: sent.append("STOP")
    )
    stream.committed(0, torch.tensor([0, 1, 2]), torch.tensor([0, 1, 2]))  # "abc": "c" may begin "cd", held back
    assert sent == ["ab"]
    stream.committed(1, torch.tensor([3]), torch.tensor([3]))  # "abcd": the stop sequence, cut and the canvas stopped
    assert sent == ["ab", "STOP"] and stream.stopped


def test_stop_cuts_the_answer_and_ends_the_decoding_early(client, dlm):
    tokens, result = library(dlm, "import os\n", 16, 3)
    text = dlm.tokenizer.decode(tokens[: tokens.index(dlm.special.eos_id)] if dlm.special.eos_id in tokens else tokens)
    assert len(text) >= 6, text
    stop = text[3:5]
    expected = text[: text.find(stop)]
    body = dict(model="codila", prompt="import os\n", max_tokens=16, seed=3, extra_body={"decoder": "dlm"})
    plain = client.completions.create(**body, stop=None)
    assert plain.choices[0].text == text and plain.usage.steps == result.steps
    answer = client.completions.create(**body, stop=["never in it", stop])
    assert answer.choices[0].text == expected and answer.choices[0].finish_reason == "stop"
    # the decoding ended at the step that made the stop sequence final: fewer steps, the same tokens before it
    needed = next(k for k in range(1, 17) if stop in dlm.tokenizer.decode(tokens[:k]))
    assert answer.usage.steps == int(result.commit_step[result.start : result.start + needed].max()) + 1
    kept = next(k for k in range(17) if len(dlm.tokenizer.decode(tokens[:k])) >= len(expected))
    assert answer.usage.completion_tokens == kept
    streamed = list(client.completions.create(**body, stop=stop, stream=True))
    assert "".join(chunk.choices[0].text for chunk in streamed) == expected
    assert streamed[-1].choices[0].finish_reason == "stop"


def test_stop_in_chat_and_with_codila(client):
    messages = [{"role": "user", "content": "add"}]
    text = client.chat.completions.create(model="codila", messages=messages, max_tokens=8, seed=1).choices[0].message.content
    assert len(text) >= 3, text
    answer = client.chat.completions.create(model="codila", messages=messages, max_tokens=8, seed=1, stop=text[2])
    assert answer.choices[0].message.content == text[: text.find(text[2])] and answer.choices[0].finish_reason == "stop"


def test_logprobs_are_the_dlm_marginals_at_the_commit_step(client, dlm):
    tokens, result = library(dlm, "def f(x):\n", 8, 0)
    answer = client.completions.create(
        model="codila", prompt="def f(x):\n", max_tokens=8, seed=0, logprobs=2, extra_body={"decoder": "dlm"}
    )
    choice = answer.choices[0]
    logprobs = choice.logprobs
    n = answer.usage.completion_tokens
    assert len(logprobs.tokens) == len(logprobs.token_logprobs) == len(logprobs.top_logprobs) == len(logprobs.text_offset) == n
    assert "".join(logprobs.tokens) == choice.text and logprobs.text_offset[0] == 0
    for index in range(n):  # the canvas as it was at the step the token was committed, through the DLM again
        position = result.start + index
        step = int(result.commit_step[position])
        ids = result.ids.clone()
        ids[(result.commit_step >= step)] = dlm.mask_id
        with torch.no_grad():
            marginal = torch.log_softmax(dlm.logits(ids[None], torch.tensor([position]))[0, 0].float(), -1)
        assert logprobs.token_logprobs[index] == pytest.approx(float(marginal[tokens[index]]), abs=1e-4)
        top = sorted(logprobs.top_logprobs[index].values(), reverse=True)
        assert len(top) <= 2 and top[0] == pytest.approx(logprobs.token_logprobs[index], abs=1e-6)  # greedy: the top-1


def test_chat_logprobs(client):
    messages = [{"role": "user", "content": "add"}]
    answer = client.chat.completions.create(
        model="codila", messages=messages, max_tokens=8, logprobs=True, top_logprobs=3, extra_body={"decoder": "fast-dllm"}
    )
    content = answer.choices[0].logprobs.content
    assert "".join(item.token for item in content) == answer.choices[0].message.content
    assert all(item.logprob <= 0 and len(item.top_logprobs) == 3 for item in content)
    assert all(bytes(item.bytes).decode() == item.token for item in content)


@pytest.mark.parametrize(
    "body,param",
    [
        ({"logprobs": 1}, "logprobs"),  # codila: its tokens come from the AR
        ({"logprobs": 1, "decoder": "dlm", "stream": True}, "logprobs"),
        ({"logprobs": 6, "decoder": "dlm"}, "logprobs"),
        ({"stop": ["a", "b", "c", "d", "e"]}, "stop"),
        ({"stop": ""}, "stop"),
        ({"stop": 3}, "stop"),
    ],
)
def test_unsupported_stop_and_logprobs_are_refused_per_field(server, body, param):
    response = httpx.post(server + "/completions", json={"model": "codila", "prompt": "x", **body}, timeout=60)
    assert response.status_code == 400 and response.json()["error"]["param"] == param, response.text


def test_top_logprobs_needs_logprobs_in_chat(server):
    body = {"model": "codila", "messages": [{"role": "user", "content": "hi"}], "decoder": "dlm", "top_logprobs": 2}
    response = httpx.post(server + "/chat/completions", json=body, timeout=60)
    assert response.status_code == 400 and response.json()["error"]["param"] == "top_logprobs"


def wait_for(condition, what: str, seconds: float = 30.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, what
        time.sleep(0.02)


def hold_after_first_step(monkeypatch) -> tuple[threading.Event, threading.Event]:
    """Make every streamed decoding wait after its first committed step until `release` is set (`reached` says it
    got there)."""
    reached, release = threading.Event(), threading.Event()
    original = TextStream.committed

    def held(self, *args):
        original(self, *args)
        if self.steps == 1:
            reached.set()
            release.wait(30)

    monkeypatch.setattr(TextStream, "committed", held)
    return reached, release


def test_a_dropped_stream_stops_decoding_at_the_next_step(server, monkeypatch):
    """The decoding is held after its first step until the server has seen the client leave; then it decodes at most
    the one step under way (16 steps in all if it went on)."""
    reached, release = hold_after_first_step(monkeypatch)
    before = health(server)["dropped"]
    body = {"model": "codila", "prompt": "import os\n", "max_tokens": 16, "stream": True, "decoder": "dlm"}
    try:
        with httpx.stream("POST", server + "/completions", json=body, timeout=60) as response:
            assert response.status_code == 200 and reached.wait(30)
            assert health(server)["running"] == 1
        wait_for(lambda: health(server)["running"] == 0, "the server never saw the client leave")
    finally:
        release.set()
    wait_for(lambda: health(server)["dropped"] == before + 1, "the dropped request never ended")
    assert health(server)["max_steps_after_drop"] <= 1


@pytest.mark.parametrize("decoder", ["dlm", "codila"])
def test_a_request_arriving_mid_batch_joins_at_the_next_step_and_decodes_as_alone(server, dlm, ars, monkeypatch, decoder):
    """Request A is held after its first step until request B is queued; B's first step is A's second (static
    batching would start B after A's last), and both answers are what each gets alone (sampled at temperature 1)."""
    reached, release, order = threading.Event(), threading.Event(), []
    original = TextStream.committed

    def recorded(self, *args):
        original(self, *args)
        order.append((self.start, self.steps))
        if len(order) == 1:
            reached.set()
            release.wait(30)

    monkeypatch.setattr(TextStream, "committed", recorded)
    settings = {"decoder": decoder, "temperature": 1.0, "top_p": 1.0}
    a = {"model": "codila", "prompt": "import os\n", "max_tokens": 16, "seed": 4, "stream": True, **settings}
    b = {"model": "codila", "prompt": "x = 1\ny = [", "max_tokens": 8, "seed": 5, "stream": True, **settings}
    texts = {}

    def read(name, body):
        with httpx.stream("POST", server + "/completions", json=body, timeout=60) as response:
            lines = [line for line in response.iter_lines() if line.startswith("data: {")]
        texts[name] = "".join(__import__("json").loads(line[6:])["choices"][0]["text"] for line in lines)

    joined_before = health(server)["joined"]
    first = threading.Thread(target=read, args=("a", a))
    first.start()
    second = threading.Thread(target=read, args=("b", b))
    try:
        assert reached.wait(30)
        second.start()
        wait_for(lambda: health(server)["queued"] == 1, "B was never queued")
    finally:
        release.set()
    first.join(60)
    second.join(60)
    assert health(server)["joined"] == joined_before + 1
    start_a = len(dlm.tokenizer("import os\n", add_special_tokens=False)["input_ids"])
    steps_a = [steps for start, steps in order if start == start_a]
    b_first = next(index for index, (start, _) in enumerate(order) if start != start_a)
    assert order[b_first - 1] == (start_a, 2)  # B's first step came right after A's second, in the same batch step
    for name, body in (("a", a), ("b", b)):
        spec = get_decoder(decoder)
        ids = dlm.tokenizer(body["prompt"], add_special_tokens=False)["input_ids"]
        canvas = Canvas.completion(ids, body["max_tokens"], dlm.mask_id, dlm.max_length)
        result = decode(
            spec, dlm, ars[4] if spec.needs_ar else None, [canvas], spec.config_class(temperature=1.0, top_p=1.0), body["seed"]
        )[0]
        tokens = result.generated.tolist()
        tokens = tokens[: tokens.index(dlm.special.eos_id)] if dlm.special.eos_id in tokens else tokens
        assert texts[name] == dlm.tokenizer.decode(tokens), name
    assert steps_a == list(range(1, len(steps_a) + 1))


def raw_request(url: str, head: bytes, body: bytes = b"") -> socket.socket:
    host, port = url.removeprefix("http://").split("/")[0].split(":")
    connection = socket.create_connection((host, int(port)), timeout=20)
    connection.sendall(head + body)
    return connection


def test_slow_clients_are_timed_out(tiny_checkpoints):
    limits = ServeLimits(read_timeout=0.3, idle_timeout=0.3)
    with running_server(tiny_checkpoints, limits) as url:
        # a body that never arrives whole: 408, and the server goes on serving
        head = b"POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n"
        slow = raw_request(url, head, b'{"model"')
        answer = b"".join(iter(lambda: slow.recv(65536), b"")).decode()  # until the server closes the connection
        assert answer.startswith("HTTP/1.1 408") and "read_timeout" in answer
        # an idle keep-alive connection is closed
        idle = raw_request(url, b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
        response = b""
        while not response.endswith(b"}"):  # the JSON body of /health
            response += idle.recv(65536)
        assert response.startswith(b"HTTP/1.1 200")
        assert idle.recv(65536) == b""  # then closed by the server, not by us
        assert (
            httpx.post(url + "/completions", json={"model": "codila", "prompt": "x", "max_tokens": 4}, timeout=60).status_code
            == 200
        )


def test_a_client_not_reading_is_dropped_after_the_write_timeout():
    import asyncio

    from codila.serve.timeouts import SlowClientTimeouts

    async def app(scope, receive, send):
        await send({"type": "http.response.start", "status": 200, "headers": []})

    async def never_taken(message):
        await asyncio.sleep(60)

    async def receive():
        return {"type": "http.request", "body": b"", "more_body": False}

    middleware = SlowClientTimeouts(app, read_timeout=1.0, write_timeout=0.05)
    with pytest.raises(OSError, match="to read the response"):
        asyncio.run(middleware({"type": "http", "method": "GET", "headers": []}, receive, never_taken))


def test_serve_hugging_face_directories_with_the_dlms_chat_template(real_models, tmp_path):
    """`codila serve --dlm DIR --ar DIR --block-size 4` on a Dream-layout DLM and a Qwen3-like causal LM: the answers
    are `generate`'s (the chat prompt built by the DLM's chat template)."""
    from codila.api import CoDiLA

    library = CoDiLA.from_pretrained(real_models / "dream", real_models / "qwen3", device="cpu", block_size=4)
    limits = ServeLimits(max_prompt_tokens=64, max_tokens=8)
    models = {"block_size": 4, "device": "cpu"}
    with running_server(tmp_path, limits, dlm=real_models / "dream", ar=real_models / "qwen3", models=models) as url:
        assert httpx.get(url + "/models").json()["data"][0]["ars"] == ["qwen3"]
        client = openai.OpenAI(base_url=url, api_key="unused", max_retries=0, timeout=120)
        messages = [{"role": "user", "content": "def add(a, b):"}]
        for decoder in ("codila", "dlm"):
            answer = client.chat.completions.create(
                model="codila", messages=messages, max_tokens=8, seed=2, extra_body={"decoder": decoder}
            )
            expected = library.generate("def add(a, b):", length=8, seed=2, chat=True, decoder=decoder).text
            assert answer.choices[0].message.content == expected, decoder
        completion = client.completions.create(model="codila", prompt="import os\n", max_tokens=8, seed=1)
        assert completion.choices[0].text == library.generate("import os\n", length=8, seed=1).text


def test_a_client_leaving_before_its_whole_answer_drops_the_request(server, monkeypatch):
    """A non-streamed request (its stop sequence watched step by step) is held after its first step; its client gives
    up (a 1 s read timeout) and the server, polling for it, drops the request: at most one more step is decoded."""
    reached, release = hold_after_first_step(monkeypatch)
    before = health(server)["dropped"]
    body = {"model": "codila", "prompt": "import os\n", "max_tokens": 16, "decoder": "dlm", "stop": "never in any answer"}

    def leave():
        with pytest.raises(httpx.ReadTimeout):
            httpx.post(server + "/completions", json=body, timeout=httpx.Timeout(60, read=1.0))

    client = threading.Thread(target=leave)
    client.start()
    try:
        assert reached.wait(30)
        client.join(30)
        wait_for(lambda: health(server)["running"] == 0, "the server never saw the client leave")
    finally:
        release.set()
    wait_for(lambda: health(server)["dropped"] == before + 1, "the dropped request never ended")
    assert health(server)["max_steps_after_drop"] <= 1
