"""A decode trace as one self-contained HTML page (no scripts, no external files).

Three views: the text coloured by the step that committed each token; the commit grid (one row per step, one column
per decoded position: the step's commits in blue, earlier ones pale, still masked white); and per step the
candidates, where the DLM's top guesses meet the local AR's choice (green: the AR took the DLM's top-1; orange: not).
"""

from __future__ import annotations

import html

NOW = "#1f77b4"  # committed at this step
EARLIER = "#c6dbef"  # committed before
AGREE = "#2ca02c"  # the AR chose the DLM's top-1 guess
DISAGREE = "#ff7f0e"  # the AR chose another token

STYLE = (
    "body{font-family:sans-serif;margin:1.5em;color:#222}h1{font-size:20px}h2{font-size:16px;margin-top:1.5em}"
    ".meta{color:#555;font-size:12px}.text{font-family:monospace;white-space:pre-wrap;line-height:1.9;font-size:14px;"
    "border:1px solid #ddd;padding:8px}.fixed{color:#888}.tok{padding:2px 1px;border-radius:3px;color:#fff}"
    "table{border-collapse:collapse;font-size:11px}td,th{border:1px solid #ccc;padding:2px 4px}"
    ".grid td{width:26px;height:18px;font-family:monospace;text-align:center;overflow:hidden;max-width:26px}"
    f".now{{background:{NOW};color:#fff}}.earlier{{background:{EARLIER}}}.agree{{background:{AGREE};color:#fff}}"
    f".disagree{{background:{DISAGREE};color:#fff}}.steps td{{vertical-align:top;font-family:monospace}}"
)


def visible(piece: str) -> str:
    """A token's text with its whitespace shown, escaped for HTML."""
    return html.escape(piece.replace("\n", "\u23ce").replace(" ", "\u00b7").replace("\t", "\u21e5"))


def step_colour(step: int, steps: int) -> str:
    """Early steps dark blue, late ones teal-green (a readable ramp on white text)."""
    share = min(1.0, step / max(1, steps - 1))
    red, green, blue = int(31 + share * 10), int(60 + share * 110), int(150 - share * 40)
    return f"rgb({red},{green},{blue})"


def _text_view(trace: dict) -> str:
    steps = len(trace["steps"])
    spans = []
    for position, piece in enumerate(trace["pieces"]):
        step = trace["commit_step"][position]
        if step < 0:
            spans.append(f"<span class=fixed>{html.escape(piece)}</span>")
        else:
            shown = html.escape(piece).replace("\n", "\u23ce\n")  # a decoded newline stays visible
            spans.append(f'<span class=tok title="step {step}" style="background:{step_colour(step, steps)}">{shown}</span>')
    return f"<div class=text>{''.join(spans)}</div>"


def _grid(trace: dict) -> str:
    start, end, pieces, commit = trace["start"], trace["end"], trace["pieces"], trace["commit_step"]
    head = "<tr><th>step</th>" + "".join(f"<th>{position - start}</th>" for position in range(start, end)) + "</tr>"
    rows = []
    for entry in trace["steps"]:
        step = entry["step"]
        cells = []
        for position in range(start, end):
            if commit[position] == step:
                cells.append(f"<td class=now>{visible(pieces[position])}</td>")
            elif 0 <= commit[position] < step:
                cells.append(f"<td class=earlier>{visible(pieces[position])}</td>")
            else:
                cells.append("<td></td>")
        rows.append(f"<tr><th>{step}</th>{''.join(cells)}</tr>")
    return f"<table class=grid>{head}{''.join(rows)}</table>"


def _candidate(candidate: dict, vocabulary: dict, start: int) -> str:
    guesses = " ".join(f"{visible(vocabulary.get(str(token), '?'))}:{prob:.2f}" for token, prob in candidate["dlm_top"])
    ar = candidate["ar_token"]
    if ar is None:
        choice = ""
    else:
        kind = "agree" if ar == candidate["dlm_top"][0][0] else "disagree"
        choice = f" AR <span class={kind}>{visible(vocabulary.get(str(ar), '?'))}</span>"
    entropies = f"H<sub>DLM</sub>={candidate['dlm_entropy']:.2f}"
    if candidate["ar_entropy"] is not None:
        entropies += f" H<sub>AR</sub>={candidate['ar_entropy']:.2f}"
    return f"{candidate['position'] - start}: {guesses}{choice} {entropies}"


def _steps(trace: dict) -> str:
    start, pieces = trace["start"], trace["pieces"]
    rows = [
        "<tr><th>step</th><th>committed (offset: token)</th><th>candidates: DLM top guesses:prob, the AR's token, "
        "entropies (nats)</th></tr>"
    ]
    for entry in trace["steps"]:
        committed = " ".join(
            f"{position - start}:<span class=now>{visible(pieces[position])}</span>" for position, _ in entry["committed"]
        )
        candidates = "<br>".join(_candidate(c, trace["vocabulary"], start) for c in entry["candidates"])
        rows.append(f"<tr><td>{entry['step']}</td><td>{committed}</td><td>{candidates}</td></tr>")
    return f"<table class=steps>{''.join(rows)}</table>"


def trace_html(trace: dict, title: str = "codila decode trace") -> str:
    settings = ", ".join(f"{key}={value}" for key, value in trace["settings"].items())
    region = trace["end"] - trace["start"]
    counts = (
        f"{region} tokens in {len(trace['steps'])} steps ({region / max(1, len(trace['steps'])):.2f} tokens/step), "
        f"{trace['dlm_forwards']} DLM forwards, {trace['ar_steps']} AR steps"
    )
    return (
        f"<!doctype html><html><head><meta charset=utf-8><title>{html.escape(title)}</title><style>{STYLE}</style></head><body>"
        f"<h1>{html.escape(title)}</h1><p class=meta>decoder {html.escape(trace['decoder'])}: {html.escape(settings)}<br>"
        f"{html.escape(counts)}</p>"
        f"<h2>Text (grey: given; coloured by the step that committed it, dark = early)</h2>{_text_view(trace)}"
        f"<h2>Commit grid (rows: steps; columns: decoded positions; blue: committed at that step)</h2>{_grid(trace)}"
        f"<h2>Steps</h2>{_steps(trace)}</body></html>\n"
    )
