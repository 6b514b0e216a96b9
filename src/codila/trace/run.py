"""`codila trace`: decode one canvas with a TraceRecorder watching, and write the page (and a PNG)."""

from __future__ import annotations

from pathlib import Path

from codila.assets import SHIPPED
from codila.decoding.canvas import Canvas
from codila.decoding.defaults import DEFAULT_AR
from codila.decoding.registry import DecoderSpec, decode
from codila.models.loading import load_ar, load_dlm
from codila.trace.page import trace_html
from codila.trace.plot import trace_png
from codila.trace.record import TraceRecorder, trace_document


def trace_decoding(
    spec: DecoderSpec,
    config,
    prompt: str,
    length: int,
    suffix: str | None,
    seed: int = 0,
    dlm_path: str | Path | None = None,
    ar_path: str | Path | None = None,
    conditioning: str | None = None,
) -> dict:
    """The trace (see trace_document) of one completion (`suffix` None) or infilling, decoded as `codila generate` /
    `codila infill` would (same models by default, same seed: the same tokens)."""
    dlm = load_dlm(dlm_path or SHIPPED / "dlm")
    if spec.needs_ar and ar_path is None:
        ar_path = SHIPPED / DEFAULT_AR
    ar = load_ar(ar_path, dlm, conditioning) if spec.needs_ar else None
    encode = lambda text: dlm.tokenizer(text, add_special_tokens=False)["input_ids"]
    if suffix is None:
        canvas = Canvas.completion(encode(prompt), length, dlm.mask_id, dlm.max_length)
    else:
        canvas = Canvas.infill(encode(prompt), length, encode(suffix), dlm.mask_id, dlm.max_length)
    recorder = TraceRecorder()
    canvas.observer = recorder
    (result,) = decode(spec, dlm, ar, [canvas], config, seed)
    return trace_document(recorder, result, dlm.tokenizer, spec.name, vars(config))


def write_trace(trace: dict, html_path: str | Path, png_path: str | Path | None) -> None:
    html_path = Path(html_path)
    html_path.parent.mkdir(parents=True, exist_ok=True)
    html_path.write_text(trace_html(trace))
    if png_path is not None:
        trace_png(trace, png_path)
