"""Every message catalogue has both languages, the same placeholders in each, and Korean that is Korean.

A catalogue is any module-level dict in `kairos` whose values are (ko, en) pairs of strings — the form
`Output.t` / `tr` read. The scan imports every module, so a new catalogue is checked without being listed.
"""
from __future__ import annotations

import importlib
import pkgutil
import re
import string
from typing import Any, Iterator

import pytest

import kairos

HANGUL = re.compile(r"[\uac00-\ud7a3]")
# what may stay as written in a Korean line: flags, config keys, paths, code names, units and tickers
TECHNICAL = re.compile(r"\bbps\b|--[\w-]+|\$?[A-Za-z_]+(?:\.[A-Za-z_]+)+|[\w./-]+/[\w./-]*|\b[A-Za-z]+_[\w]+\b|\{[^}]*\}")


def catalogues() -> Iterator[tuple[str, str, Any]]:
    for info in pkgutil.walk_packages(kairos.__path__, "kairos."):
        module = importlib.import_module(info.name)
        for name, value in vars(module).items():
            if name.startswith("_") or not isinstance(value, dict) or not value:
                continue
            pairs = [v for v in value.values() if isinstance(v, tuple) and len(v) == 2 and all(isinstance(x, str) for x in v)]
            if len(pairs) == len(value):
                yield info.name, name, value


def fields(text: str) -> set[str]:
    return {f for _, f, _, _ in string.Formatter().parse(text) if f is not None}


ALL = sorted({(m, n): c for m, n, c in catalogues()}.items())


def test_the_scan_finds_the_catalogues() -> None:
    found = {f"{m}.{n}" for (m, n), _ in ALL}
    assert {"kairos.notify.texts.A", "kairos.commands.twap.M", "kairos.engine.plans.STATUS_WORDS", "kairos.engine.tick.M"} <= found
    assert len(found) >= 20


@pytest.mark.parametrize(("where", "catalogue"), [(f"{m}.{n}", c) for (m, n), c in ALL])
def test_each_message_has_both_languages_and_the_same_placeholders(where: str, catalogue: dict[str, Any]) -> None:
    problems = []
    for key, (ko, en) in catalogue.items():
        if not ko.strip() or not en.strip():
            problems.append(f"{where}[{key!r}]: an empty translation")
        elif fields(ko) != fields(en):
            problems.append(f"{where}[{key!r}]: placeholders differ: ko {sorted(fields(ko))} en {sorted(fields(en))}")
        elif not HANGUL.search(ko) and re.search(r"[a-z]{3,}", TECHNICAL.sub("", ko)):
            problems.append(f"{where}[{key!r}]: the Korean text is English: {ko!r}")
    assert problems == []
