"""`--set KEY=VALUE` for the clustering benchmarks: try a radar.yaml clustering setting.

Contract: `clustering_overrides(items, base) -> ClusteringConfig`, `base` with the items
applied and validated as radar.yaml's would be; raises SystemExit with a clear message for an
item without `=`, an unknown key or an invalid value (nothing runs on a setting that was
mistyped).
"""
from __future__ import annotations

from collections.abc import Sequence

from pydantic import ValidationError

from core.config import ClusteringConfig


def clustering_overrides(items: Sequence[str], base: ClusteringConfig) -> ClusteringConfig:
    update: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise SystemExit(f"--set {item!r}: expected KEY=VALUE, e.g. --set same_problem_threshold=0.2")
        key = key.strip()
        if key not in ClusteringConfig.model_fields:
            raise SystemExit(f"--set {item!r}: clustering has no setting {key!r} "
                             f"(known: {', '.join(sorted(ClusteringConfig.model_fields))})")
        update[key] = value.strip()
    if not update:
        return base
    try:
        return ClusteringConfig.model_validate({**base.model_dump(), **update})
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise SystemExit(f"--set: {problems}") from None
