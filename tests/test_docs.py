"""The docs say what the code does: the defaults table is the generated one, the index links every page, and the
statements about defaults name the configs' values."""

import re
from pathlib import Path

from codila.decoding.codila import CodilaDecodeConfig
from codila.decoding.registry import DECODERS, defaults_markdown

DOCS = Path(__file__).parent.parent / "docs"


def test_the_defaults_table_in_usage_is_the_generated_one():
    """The shipped decoders' table (a plugin another test registered is not codila's)."""
    text = (DOCS / "usage.md").read_text()
    block = text.split("<!-- defaults:start -->\n")[1].split("<!-- defaults:end -->")[0]
    shipped = [spec for spec in DECODERS.values() if spec.decode_batch.__module__.startswith("codila.")]
    assert block == defaults_markdown(shipped), "regenerate it: codila ls --defaults"
    assert len(shipped) >= 5 and all(f"| {spec.name} |" in block for spec in shipped)


def test_the_docs_index_links_every_page_and_every_link_resolves():
    index = (DOCS / "README.md").read_text()
    linked = set(re.findall(r"\]\(([\w.-]+\.md)\)", index))
    assert linked == {path.name for path in DOCS.glob("*.md")} - {"README.md"}
    for page in DOCS.glob("*.md"):
        for target in re.findall(r"\]\(([\w./-]+\.md)(?:#[\w-]+)?\)", page.read_text()):
            assert (page.parent / target).resolve().is_file(), f"{page.name} links {target}, which does not exist"


def test_the_statements_about_defaults_name_the_configs_values():
    choices = (DOCS / "design-choices.md").read_text()
    assert f"(default {CodilaDecodeConfig.scope}, the nearest block" in choices
    assert f"`verify_penalty` (default {CodilaDecodeConfig.verify_penalty}" in choices
    for page in ("usage.md", "serving.md"):  # --threshold is fast-dllm's, not dlm's
        assert not re.search(r"--decoder dlm [^\n]*--threshold", (DOCS / page).read_text()), page
