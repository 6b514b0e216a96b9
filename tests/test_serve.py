"""`codila serve` as a client sees it: the real `openai` client against a server on 127.0.0.1 (tiny checkpoints)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import httpx
import openai
import pytest
import torch

from codila.decoding.canvas import Canvas
from codila.decoding.registry import decode, get_decoder
from codila.serve.schemas import ServeLimits
from codila.serve.server import running_server
from codila.serve.streaming import TextStream
from codila.tokenizer import load_tokenizer
from test_cli import codila


@pytest.fixture(scope="module")
def server(tiny_checkpoints, chat_dlm_dir):
    limits = ServeLimits(max_prompt_tokens=40, max_tokens=16, max_wait=0.5)  # a long wait: concurrent requests do share batches
    with running_server(tiny_checkpoints, limits, dlm=chat_dlm_dir) as url:
        yield url


@pytest.fixture(scope="module")
def client(server):
    return openai.OpenAI(base_url=server, api_key="unused", max_retries=0, timeout=120)


def decode_alone(dlm, ars, prompt, length, seed, suffix=None, decoder="codila", **settings):
    """What the library gives for one canvas (the CLI's path): the oracle the server must match."""
    encode = lambda text: dlm.tokenizer(text, add_special_tokens=False)["input_ids"]
    spec = get_decoder(decoder)
    if suffix is None:
        canvas = Canvas.completion(encode(prompt), length, dlm.mask_id, dlm.max_length)
    else:
        canvas = Canvas.infill(encode(prompt), length, encode(suffix), dlm.mask_id, dlm.max_length)
    result = decode(spec, dlm, ars[4] if spec.needs_ar else None, [canvas], spec.config_class(**settings), seed)[0]
    tokens = result.generated.tolist()
    if suffix is None and dlm.special.eos_id in tokens:
        tokens = tokens[: tokens.index(dlm.special.eos_id)]
    return dlm.tokenizer.decode(tokens), result


def test_completion_is_the_library_decoding_with_usage(client, dlm, ars):
    answer = client.completions.create(model="codila", prompt="import os\n", max_tokens=8, seed=3)
    text, result = decode_alone(dlm, ars, "import os\n", 8, 3)
    assert answer.choices[0].text == text
    usage = answer.usage
    assert usage.prompt_tokens == len(dlm.tokenizer("import os\n", add_special_tokens=False)["input_ids"])
    generated = result.generated.tolist()
    assert usage.completion_tokens == (generated.index(dlm.special.eos_id) if dlm.special.eos_id in generated else 8)
    assert (usage.steps, usage.dlm_forwards, usage.ar_steps) == (result.steps, result.dlm_forwards, result.ar_steps)
    assert usage.tokens_per_step == pytest.approx(result.mean_tokens_per_step, abs=1e-3)


def test_infill_via_suffix_decodes_the_gap(client, dlm, ars):
    answer = client.completions.create(model="codila", prompt="def f(x):\n", suffix="\n    return y\n", max_tokens=8, seed=0)
    text, _ = decode_alone(dlm, ars, "def f(x):\n", 8, 0, suffix="\n    return y\n")
    assert answer.choices[0].text == text
    assert (answer.usage.steps, answer.usage.dlm_forwards, answer.usage.ar_steps, answer.usage.tokens_per_step) == (2, 2, 8, 4.0)
    assert answer.choices[0].finish_reason == "length"


def test_decoder_settings_as_extra_fields(client, dlm, ars):
    answer = client.completions.create(
        model="codila", prompt="x = 1\n", max_tokens=6, seed=1, extra_body={"decoder": "dlm", "tokens_per_step": 2}
    )
    text, result = decode_alone(dlm, ars, "x = 1\n", 6, 1, decoder="dlm", tokens_per_step=2)
    assert answer.choices[0].text == text and answer.usage.ar_steps == 0 and answer.usage.dlm_forwards == result.dlm_forwards


def test_max_tokens_is_rounded_up_to_whole_blocks_and_cut(client, dlm, ars):
    answer = client.completions.create(model="codila", prompt="import os\n", max_tokens=6, seed=2)  # B=4: 8 decoded, 6 kept
    _, result = decode_alone(dlm, ars, "import os\n", 8, 2)
    tokens = result.generated.tolist()
    kept = tokens[: tokens.index(dlm.special.eos_id)] if dlm.special.eos_id in tokens[:6] else tokens[:6]
    assert answer.choices[0].text == dlm.tokenizer.decode(kept) and answer.usage.completion_tokens == len(kept)


def test_stream_sends_the_same_text_in_order(client):
    whole = client.completions.create(model="codila", prompt="class A:\n", max_tokens=16, seed=5).choices[0].text
    chunks = list(client.completions.create(model="codila", prompt="class A:\n", max_tokens=16, seed=5, stream=True))
    assert "".join(chunk.choices[0].text for chunk in chunks) == whole
    assert chunks[-1].choices[0].finish_reason in ("stop", "length") and chunks[-1].usage.completion_tokens > 0
    assert all(chunk.choices[0].finish_reason is None for chunk in chunks[:-1])


def test_text_stream_waits_for_everything_before_a_block():
    sent = []
    decode = lambda tokens: "".join(chr(ord("a") + t) for t in tokens)
    stream = TextStream(start=2, end=8, eos_id=99, stop_at_eos=True, max_tokens=6, decode=decode, send=sent.append)
    stream.committed(0, torch.tensor([6, 7]), torch.tensor([6, 7]))  # the last block first: nothing before it is final
    assert sent == []
    stream.committed(1, torch.tensor([2, 3]), torch.tensor([0, 1]))
    assert sent == ["ab"]
    stream.committed(2, torch.tensor([4, 5]), torch.tensor([2, 99]))  # EOS: the answer ends before it
    assert sent == ["ab", "c"]


def test_chat_uses_the_tokenizers_template(client, dlm, ars, chat_dlm_dir):
    messages = [{"role": "system", "content": "code"}, {"role": "user", "content": "add"}]
    answer = client.chat.completions.create(model="codila", messages=messages, max_tokens=8, seed=4)
    prompt = load_tokenizer(chat_dlm_dir).apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    assert prompt.endswith("# assistant:\n")
    text, _ = decode_alone(dlm, ars, prompt, 8, 4)
    assert answer.choices[0].message.content == text and answer.choices[0].message.role == "assistant"
    streamed = list(client.chat.completions.create(model="codila", messages=messages, max_tokens=8, seed=4, stream=True))
    assert "".join(chunk.choices[0].delta.content or "" for chunk in streamed) == text
    assert streamed[0].choices[0].delta.role == "assistant"


def test_models_and_health(server):
    models = openai.OpenAI(base_url=server, api_key="unused").models.list()
    assert [model.id for model in models.data] == ["codila"]
    assert httpx.get(server.removesuffix("/v1") + "/health").json()["status"] == "ok"


BAD_REQUESTS = [  # (body, status, code or param)
    (b"{not json", 400, "invalid_json"),
    (b"[1, 2]", 400, "invalid_json"),
    ({"model": "codila", "prompt": "x", "max_tokens": "many"}, 400, "max_tokens"),
    ({"model": "codila", "prompt": 3}, 400, "prompt"),
    ({"model": "codila"}, 400, "prompt"),
    ({"model": "gpt-4", "prompt": "x"}, 404, "model_not_found"),
    ({"model": "codila", "prompt": "x", "decoder": "beam"}, 400, "unknown_decoder"),
    ({"model": "codila", "prompt": "x", "ar": "../../etc"}, 400, "unknown_ar"),
    ({"model": "codila", "prompt": "x", "max_tokens": 17}, 400, "max_tokens_exceeded"),
    ({"model": "codila", "prompt": "x " * 60}, 400, "context_length_exceeded"),
    ({"model": "codila", "prompt": "x", "max_tokens": 0}, 400, "max_tokens"),
    ({"model": "codila", "prompt": "x", "temperature": -1}, 400, "temperature"),
    ({"model": "codila", "prompt": "x", "mode": "greedy"}, 400, "mode"),
    ({"model": "codila", "prompt": "x", "n": 2}, 400, "n"),
    ({"model": "codila", "prompt": "x", "frobnicate": 1}, 400, "frobnicate"),
    ({"model": "codila", "prompt": ["a", "b"]}, 400, "prompt"),
    ({"model": "codila", "prompt": "", "suffix": ""}, 400, "invalid_decoding_request"),
    ({"model": "codila", "prompt": "x", "semi_ar_block": 3}, 400, "invalid_decoding_request"),  # the decoder refuses it
    ({"model": "codila", "prompt": "x", "decoder": "dlm", "mode": "static"}, 400, "unsupported_setting"),
    ({"model": "codila", "prompt": "x", "scope": 0}, 400, "scope"),  # the limits of codila.validate.RULES
    ({"model": "codila", "prompt": "x", "verify_penalty": -1}, 400, "verify_penalty"),
    ({"model": "codila", "prompt": "x", "verify_selection": "max"}, 400, "verify_selection"),
    ({"model": "codila", "prompt": "x", "decoder": "dlm", "max_span": 4}, 400, "unsupported_setting"),
]


def test_every_registered_decoder_option_is_a_request_field_and_verify_mode_is_served(server, dlm, ars):
    from codila.decoding.registry import decode_options
    from codila.serve.schemas import request_models

    completion, chat = request_models()
    assert {option.name for option in decode_options()} <= set(completion.model_fields) & set(chat.model_fields)
    body = {"model": "codila", "prompt": "import os\n", "max_tokens": 8, "mode": "verify", "tokens_per_step": 2}
    answer = httpx.post(server + "/completions", json={**body, "verify_penalty": 0.5}, timeout=120)
    assert answer.status_code == 200, answer.text
    expected, _ = decode_alone(dlm, ars, "import os\n", 8, 0, mode="verify", tokens_per_step=2, verify_penalty=0.5)
    assert answer.json()["choices"][0]["text"] == expected


@pytest.mark.parametrize("body,status,where", BAD_REQUESTS)
def test_bad_input_gets_an_openai_error_and_the_server_stays_up(server, tiny_checkpoints, body, status, where):
    post = dict(content=body, headers={"content-type": "application/json"}) if isinstance(body, bytes) else dict(json=body)
    response = httpx.post(server + "/completions", timeout=60, **post)
    assert response.status_code == status
    error = response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"} and where in (error["code"], error["param"])
    assert not any(leak in error["message"] for leak in ("Traceback", str(tiny_checkpoints), "site-packages", ".py"))
    assert httpx.get(server.removesuffix("/v1") + "/health").status_code == 200


def test_a_huge_body_is_refused_unread(server):
    response = httpx.post(server + "/completions", content=b"x" * 2_000_000, headers={"content-type": "application/json"})
    assert response.status_code == 413 and response.json()["error"]["code"] == "body_too_large"
    chunked = httpx.post(server + "/completions", content=iter([b'{"model": "codila", ', b'"prompt": "x"}']))
    assert chunked.status_code == 411 and chunked.json()["error"]["code"] == "length_required"


def test_unknown_route_and_method_are_openai_errors(server):
    assert httpx.get(server + "/nothing").json()["error"]["type"] == "not_found_error"
    assert httpx.get(server + "/completions").status_code == 405


def test_openai_client_raises_the_right_errors(client):
    with pytest.raises(openai.NotFoundError):
        client.completions.create(model="gpt-4", prompt="x")
    with pytest.raises(openai.BadRequestError, match="unknown decoder"):
        client.completions.create(model="codila", prompt="x", extra_body={"decoder": "beam"})


def test_a_client_leaving_mid_stream_leaves_the_server_serving(server, client):
    body = {"model": "codila", "prompt": "import os\n", "max_tokens": 16, "stream": True}
    with httpx.stream("POST", server + "/completions", json=body, timeout=60) as response:
        assert response.status_code == 200
        next(response.iter_lines())  # one event, then hang up
    again = client.completions.create(model="codila", prompt="import os\n", max_tokens=8, seed=0)
    assert again.usage.dlm_forwards > 0


def test_concurrent_clients_get_their_sequential_answers(server, client):
    requests = [
        dict(prompt=prompt, max_tokens=8, seed=seed, extra_body=extra)
        for seed, (prompt, extra) in enumerate(
            [
                ("import os\n", {}),
                ("def f(x):\n", {}),
                ("class A:\n", {"mode": "dynamic"}),
                ("x = [", {}),
                ("for i in range(", {"decoder": "dlm"}),
                ("import os\n", {}),
                ("if x:\n", {"temperature": 0.5, "top_p": 0.9}),
                ("return ", {"mode": "dynamic"}),
            ]
        )
    ]
    call = lambda request: client.completions.create(model="codila", **request).choices[0].text
    sequential = [call(request) for request in requests]
    health = lambda: httpx.get(server.removesuffix("/v1") + "/health").json()
    batches_before = health()["batches"]
    with ThreadPoolExecutor(8) as pool:
        concurrent = list(pool.map(call, requests))
    assert concurrent == sequential
    assert health()["batches"] - batches_before < len(requests)  # some requests shared a batch


def test_a_full_queue_answers_429_and_a_slow_request_408(tiny_checkpoints):
    with running_server(tiny_checkpoints, ServeLimits(max_queued=0)) as url:
        response = httpx.post(url + "/completions", json={"model": "codila", "prompt": "x"}, timeout=60)
        assert response.status_code == 429 and response.json()["error"]["type"] == "rate_limit_error"
        chat = httpx.post(url + "/chat/completions", json={"model": "codila", "messages": [{"role": "user", "content": "hi"}]})
        assert chat.status_code == 400 and chat.json()["error"]["code"] == "chat_template_missing"
    with running_server(tiny_checkpoints, ServeLimits(timeout=0.0)) as url:
        response = httpx.post(url + "/completions", json={"model": "codila", "prompt": "x"}, timeout=60)
        assert response.status_code == 408 and response.json()["error"]["code"] == "timeout"
        assert httpx.get(url.removesuffix("/v1") + "/health").json()["queued"] == 0


def test_a_request_can_be_traced(client, server):
    answer = client.completions.create(
        model="codila", prompt="def f(x):\n", suffix="\n    return y\n", max_tokens=8, extra_body={"trace": True}
    )
    trace_id = answer.model_extra["trace_id"]
    trace = httpx.get(f"{server}/traces/{trace_id}").json()
    assert len(trace["steps"]) == answer.usage.steps
    committed = sorted(position for step in trace["steps"] for position, _ in step["committed"])
    assert committed == list(range(trace["start"], trace["end"]))
    assert all(candidate["ar_token"] is not None for step in trace["steps"] for candidate in step["candidates"])
    page = httpx.get(f"{server}/traces/{trace_id}/html")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html") and "Commit grid" in page.text
    assert httpx.get(f"{server}/traces/nope").status_code == 404
    chunks = list(
        client.completions.create(model="codila", prompt="import os\n", max_tokens=8, stream=True, extra_body={"trace": True})
    )
    streamed_trace = httpx.get(f"{server}/traces/{chunks[-1].model_extra['trace_id']}").json()
    assert len(streamed_trace["steps"]) == chunks[-1].usage.steps


def test_bench_serve_counts_the_same_tokens_at_every_concurrency(tiny_checkpoints):
    from codila.serve.bench import run_bench_serve

    rows, summary = run_bench_serve(tiny_checkpoints, requests=6, clients=(1, 3), max_tokens=4, progress=lambda row: None)
    assert [row["clients"] for row in rows] == [1, 3] and all(row["errors"] == 0 and row["status_5xx"] == 0 for row in rows)
    assert rows[0]["completion_tokens"] == rows[1]["completion_tokens"] > 0  # batching changes no answer
    assert summary[1]["ratio"] == 1.0


@pytest.mark.parametrize(
    "args,message",
    [
        (["bench-serve", "--clients", "0"], "--clients takes comma-separated positive integers"),
        (["bench-serve", "--clients", "1,x"], "--clients takes comma-separated positive integers"),
        (["serve", "--port", "0"], "--port must be an integer from 1 to 65535"),
        (["serve", "--max-batch", "0"], "--max-batch must be"),
    ],
)
def test_serve_commands_refuse_bad_options_in_one_line(args, message):
    out = codila(*args)
    assert out.returncode == 2 and message in out.stderr and len(out.stderr.strip().splitlines()) == 1
