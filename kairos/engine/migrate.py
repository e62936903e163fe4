"""State-file versions: each older version is migrated, one step at a time, to the current one on read.

A newer version is refused (this program cannot know what it means); an older one is migrated in
memory on every read and written as the current version at the next locked save, after the file as
it was has been copied to `backups/` (`StateStore` does this).

Versions:
    1  rounds 1–2: optional fields were written only when set (a record's fills, a leg's `rejections`,
       a plan's `closed_at`/`paused_at`/`summary`), `seq`/`installation`/`pending_rebalance` only once
       used, each plan carried an unused `rejections` counter, and a TWAP order record had no `plan_id`
       or `kind` (its place in the plan said both).
    2  every field of every model is present (null when it has no value), so a deleted field is an
       error, not a silent default: a record whose `executed_krw` vanished would otherwise read as
       unfilled, and its leg would buy again.
"""
from __future__ import annotations

from typing import Any, Callable

from kairos.engine.codec import fill_defaults, shown
from kairos.engine.model import SCHEMA_VERSION, State


def _v1_to_v2(tree: dict[str, Any]) -> dict[str, Any]:
    for plan in tree.get("plans") or []:
        if not isinstance(plan, dict):
            continue  # the decoder names it
        plan.pop("rejections", None)
        for leg in plan.get("legs") if isinstance(plan.get("legs"), list) else []:
            for record in leg.get("orders") if isinstance(leg, dict) and isinstance(leg.get("orders"), list) else []:
                if isinstance(record, dict):  # v1 knew a leg order's plan and kind from where it sat
                    record.setdefault("plan_id", plan.get("plan_id"))
                    record.setdefault("kind", "twap")
    tree["schema_version"] = 2
    return fill_defaults(State, tree)


STEPS: dict[int, Callable[[dict[str, Any]], dict[str, Any]]] = {1: _v1_to_v2}
OLDEST = min(STEPS)


class VersionError(ValueError):
    """A schema_version this program cannot read (newer, or not a version at all)."""


def migrate(tree: dict[str, Any]) -> tuple[dict[str, Any], int]:
    """(the tree at the current version, the version it had); VersionError when it cannot be read."""
    version = tree.get("schema_version")
    if isinstance(version, bool) or not isinstance(version, int):
        raise VersionError(f"schema_version: expected a whole number ({OLDEST}–{SCHEMA_VERSION}), got {shown(version)}")
    if version > SCHEMA_VERSION:
        raise VersionError(f"schema_version: {version} is newer than this program reads ({SCHEMA_VERSION}); "
                           f"run the newer KAIROS-1 that wrote it")
    if version < OLDEST:
        raise VersionError(f"schema_version: {version} is older than any this program migrates ({OLDEST})")
    start = version
    while version < SCHEMA_VERSION:
        tree = STEPS[version](tree)
        version += 1
    return tree, start
