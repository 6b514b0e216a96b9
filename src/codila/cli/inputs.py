"""Where `codila generate` / `infill` read their inputs and write their results: text, a file, `-` for stdin, or a JSONL
file of many inputs (one JSON object per line) answered by a JSONL file of results."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from codila.errors import CodilaError


def read_text(value: str | None, file: Path | None) -> str:
    """The text given on the command line (`-`: read stdin) or in a UTF-8 file (`-`: stdin too)."""
    if value is not None and file is not None:
        raise CodilaError("give the text or a file, not both")
    if file is not None and str(file) != "-":
        if not file.is_file():
            raise CodilaError(f"{file}: no such file")
        try:
            return file.read_text(encoding="utf-8")
        except UnicodeDecodeError as error:
            raise CodilaError(f"{file} is not UTF-8 text ({error.reason} at byte {error.start}): convert it to UTF-8") from None
    if file is not None or value == "-":
        return sys.stdin.read()
    try:
        (value or "").encode("utf-8")
    except UnicodeEncodeError:
        raise CodilaError("the text given on the command line is not valid UTF-8: pass it in a UTF-8 file instead") from None
    return value or ""


def read_jsonl(path: Path, keys: tuple[str, ...]) -> list[dict]:
    """The objects of a JSONL file (`-`: stdin), each checked to hold only `keys` (strings; the first required) and an
    optional "id"."""
    text = sys.stdin.read() if str(path) == "-" else path.read_text() if path.is_file() else None
    if text is None:
        raise CodilaError(f"{path}: no such file")
    records = []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as error:
            raise CodilaError(f"{path}:{number}: not JSON ({error.msg})") from None
        if not isinstance(record, dict) or not isinstance(record.get(keys[0]), str):
            raise CodilaError(f'{path}:{number}: expected an object with a "{keys[0]}" string')
        unknown = sorted(set(record) - {*keys, "id"})
        if unknown or any(not isinstance(record.get(key, ""), str) for key in keys):
            raise CodilaError(
                f"{path}:{number}: takes only {', '.join(keys)} (strings) and id; got {', '.join(unknown) or 'a non-string'}"
            )
        records.append(record)
    if not records:
        raise CodilaError(f"{path}: no input lines")
    return records


def check_output_path(path: Path | None) -> Path | None:
    """--output: refused before any work when it is a folder or its folder does not exist (`-`: stdout)."""
    if path is None or str(path) == "-":
        return path
    if path.is_dir():
        raise CodilaError(f"--output {path} is a folder: give a file path")
    if not path.parent.is_dir():
        raise CodilaError(f"--output {path}: the folder {path.parent} does not exist; create it or give another path")
    return path


def write_jsonl(path: Path, records: list[dict]) -> None:
    """One JSON object per line (`-`: stdout)."""
    text = "".join(json.dumps(record) + "\n" for record in records)
    if str(path) == "-":
        sys.stdout.write(text)
    else:
        path.write_text(text)
