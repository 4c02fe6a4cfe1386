"""Both CDK engines synthesize the same three stacks from the same network.toml, with their real
CLIs; every difference between the outputs is one the README explains ("What differs between the
engines"), and the README explains no difference that is not there."""

from __future__ import annotations

import itertools
import re
from typing import Any, Iterator

from tests.support.engines import ENGINES, cli_synth
from tests.synth import REPO

SECTION = "### What differs between the engines"


def differences(a: Any, b: Any, path: str = "") -> Iterator[tuple[str, Any, Any]]:
    """(path, value in a, value in b) for every place the two JSON values differ."""
    if isinstance(a, dict) and isinstance(b, dict):
        for key in sorted(set(a) | set(b)):
            where = f"{path}.{key}" if path else key
            if key not in a or key not in b:
                yield where, a.get(key, "<absent>"), b.get(key, "<absent>")
            else:
                yield from differences(a[key], b[key], where)
    elif isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        for i, (x, y) in enumerate(zip(a, b)):
            yield from differences(x, y, f"{path}[{i}]")
    elif a != b:
        yield path, a, b


def where(path: str) -> str:
    """A difference's place as the README names it: resource names stand as `*`."""
    return re.sub(r"^(resource|data)\.([^.]+)\.[^.]+", r"\1.\2.*", path)


def readme_rows() -> dict[str, tuple[str, str]]:
    """{place: (cdktf cell, cdktn cell)} from the README's table."""
    text = (REPO / "README.md").read_text()
    assert SECTION in text, f"README.md has no {SECTION!r} section"
    lines = text.split(SECTION, 1)[1].splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("|"))
    table = list(itertools.takewhile(lambda line: line.startswith("|"), lines[start:]))
    rows = {}
    for line in table[2:]:
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        rows[cells[0].strip("`")] = (cells[1], cells[2])
    return rows


def test_both_engines_synthesize_the_same_stacks_but_for_what_the_readme_explains(tmp_path):
    outputs = {engine: cli_synth(engine, tmp_path / engine)[0] for engine in ENGINES}
    cdktf, cdktn = (outputs[e] for e in ENGINES)
    assert sorted(cdktf) == sorted(cdktn) == ["caretta", "goflow2", "platform"]
    found: dict[str, set] = {}
    for stack in cdktf:
        for path, a, b in differences(cdktf[stack], cdktn[stack]):
            found.setdefault(where(path), set()).add((repr(a), repr(b)))
    explained = readme_rows()
    assert set(found) == set(explained), (
        f"differences the README does not explain: {sorted(set(found) - set(explained))}; "
        f"explained but not found: {sorted(set(explained) - set(found))}; all found: {found}"
    )
    for place, values in found.items():
        cells = explained[place]
        for a, b in values:
            # A scalar written in the README's cells must be the value itself.
            for cell, value in zip(cells, (a, b)):
                scalar = re.fullmatch(r"`([^`]*)`", cell)
                if scalar:
                    assert repr(scalar.group(1)) == value, f"{place}: README says {cell}, the output has {value}"
    # The resources themselves, their names (state addresses) and every reference are the same.
    for stack in cdktf:
        for block in ("resource", "data", "output", "removed", "import"):
            assert sorted(_addresses(cdktf[stack], block)) == sorted(_addresses(cdktn[stack], block)), (stack, block)


def _addresses(stack: dict, block: str) -> list[str]:
    value = stack.get(block, {})
    if isinstance(value, list):
        return [item.get("from") or item.get("to") for item in value]
    if block in ("resource", "data"):
        return [f"{t}.{n}" for t, named in value.items() for n in named]
    return list(value)
