"""Learning from the desk (issue 13, part 4): analysts' decisions become training examples, a
new category model is trained as a candidate, and it replaces the current model only when it is
at least as good on a FIXED evaluation set. Models are versioned in a registry folder.

Registry layout (default `$RADAR_HOME/models/category/`):

    v0001/ model.joblib meta.json   a saved `TextClassifier`; meta.json holds the model's own
                                    meta plus a "registry" block: version, parent (the current
                                    version when it was trained), sources and counts (base rows,
                                    desk labels used, desk weight), eval scores of the candidate
                                    and of the parent on the same eval set, status
                                    (promoted | refused | candidate) and the reason
    v0001/relevance.jsonl           the desk's relevance examples (verify: relevant, reject: not
                                    relevant) and routing examples (reroute, returned), kept
                                    aside for a relevance/routing model; the category model is
                                    not trained on them
    current                         one line naming the promoted version, replaced atomically
                                    (temp file + os.replace): a reader sees the old or the new
                                    name, never half of one

Desk labels as category examples: `verify` and `recategorize` labels that are relevant and name
a category give (text, the analyst's category) for each line of the label's text (the lead's
title and its posts: the model classifies one post at a time, and the analyst's category holds
for every post of the lead). Only the latest label per lead counts (an
analyst who changes their mind overrides their earlier decision). Each is repeated
`desk_weight` times (default 5): the desk's decisions are few but the freshest truth about this
city's text, and a handful of them must be able to outvote older base rows that say otherwise.

Promotion rule (`promote_if_better`): the candidate and the current model are both scored on the
same fixed eval set (accuracy and macro-F1; the current model is re-scored, never trusted from
an old meta, so a changed eval file cannot favour either). The candidate is promoted when its
accuracy beats the current one by more than `min_gain`, or equals current + `min_gain` (within
1e-9) and its macro-F1 is not lower: with the default `min_gain=0.0`, "no worse on accuracy and
no worse on macro-F1 on a tie" - ties go to the fresher model. A positive `min_gain` demands a
margin (e.g. 0.005 against eval-set noise). With no current model the first candidate is
promoted. A refused version stays in the registry with status "refused" and the reason.

Where the model version should be stamped: `current_version(registry)` names the promoted
version; enrichment (`enrichment.enricher`, where it loads the supervised model) should load
`Registry(...).load()` and stamp `Enrichment`/label `model_version` with it, alongside the desk's
rules hash (`leads_api.desk.model_version`). Not rewired here.
"""
from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from sklearn.metrics import accuracy_score, f1_score

from enrichment.model import META_FILE, Extra, ModelError, TextClassifier

CURRENT_FILE = "current"
RELEVANCE_FILE = "relevance.jsonl"
DESK_WEIGHT = 5
CATEGORY_ACTIONS = frozenset({"verify", "recategorize"})
ROUTING_ACTIONS = frozenset({"reroute", "returned"})
_TIE = 1e-9


def default_registry(home: Path | str) -> Path:
    """The category model registry under a RADAR_HOME."""
    return Path(home) / "models" / "category"


@dataclass(frozen=True)
class Scores:
    accuracy: float
    macro_f1: float
    rows: int


@dataclass(frozen=True)
class Candidate:
    model: TextClassifier
    sources: dict
    side_examples: list[dict] = field(default_factory=list)  # relevance and routing, kept aside


@dataclass(frozen=True)
class Decision:
    candidate: str
    promoted: bool
    current: str | None          # the version current after the decision
    previous: str | None         # the version current before it
    scores: Scores
    current_scores: Scores | None
    reason: str

    def as_dict(self) -> dict:
        return {"candidate": self.candidate, "promoted": self.promoted, "current": self.current,
                "previous": self.previous, "accuracy": self.scores.accuracy, "macro_f1": self.scores.macro_f1,
                "current_accuracy": self.current_scores.accuracy if self.current_scores else None,
                "current_macro_f1": self.current_scores.macro_f1 if self.current_scores else None,
                "reason": self.reason}


def _write_atomically(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(text)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


class Registry:
    """Versioned category models in one folder; see the module docstring for the layout."""

    def __init__(self, root: Path | str):
        self.root = Path(root)

    def versions(self) -> list[str]:
        if not self.root.is_dir():
            return []
        return sorted(p.name for p in self.root.iterdir()
                      if p.is_dir() and p.name.startswith("v") and p.name[1:].isdigit())

    def current(self) -> str | None:
        try:
            name = (self.root / CURRENT_FILE).read_text(encoding="utf-8").strip()
        except FileNotFoundError:
            return None
        return name or None

    def set_current(self, version: str) -> None:
        if version not in self.versions():
            raise ModelError(f"{self.root}: no version {version!r}")
        _write_atomically(self.root / CURRENT_FILE, version + "\n")

    def meta(self, version: str) -> dict:
        return json.loads((self.root / version / META_FILE).read_text(encoding="utf-8"))

    def info(self, version: str) -> dict:
        return self.meta(version).get("registry", {})

    def load(self, version: str | None = None) -> TextClassifier:
        version = version or self.current()
        if version is None:
            raise ModelError(f"{self.root}: no current model (train one with `radar train category`)")
        return TextClassifier.load(self.root / version)

    def add(self, model: TextClassifier, info: dict, side_examples: Iterable[dict] = ()) -> str:
        """Save `model` as the next version (status "candidate"); returns its name."""
        self.root.mkdir(parents=True, exist_ok=True)
        existing = self.versions()
        n = int(existing[-1][1:]) + 1 if existing else 1
        while True:  # mkdir is the claim: two trainers never write into one version
            version = f"v{n:04d}"
            try:
                (self.root / version).mkdir()
                break
            except FileExistsError:
                n += 1
        model.meta["registry"] = {"version": version, "status": "candidate", **info}
        model.save(self.root / version)
        side = list(side_examples)
        if side:
            (self.root / version / RELEVANCE_FILE).write_text(
                "".join(json.dumps(e, ensure_ascii=False) + "\n" for e in side), encoding="utf-8")
        return version

    def update_info(self, version: str, **fields) -> None:
        meta = self.meta(version)
        meta.setdefault("registry", {}).update(fields)
        _write_atomically(self.root / version / META_FILE, json.dumps(meta, ensure_ascii=False, indent=2) + "\n")


def current_version(registry: Registry | Path | str) -> str | None:
    """The promoted category model's version (e.g. "v0003"), or None: stamp decisions with it."""
    reg = registry if isinstance(registry, Registry) else Registry(registry)
    return reg.current()


def desk_examples(desk_labels: Sequence) -> tuple[list[tuple[str, str, str]], list[dict]]:
    """(category examples [(text, category, lead_id)], side examples [relevance and routing dicts]) from
    `TriageLabel`s; the latest label per lead wins for the category examples."""
    latest: dict[str, object] = {}
    side: list[dict] = []
    for label in sorted(desk_labels, key=lambda l: (l.at, l.id or 0)):
        decision = label.decision or {}
        if not (label.text or "").strip():
            continue
        base = {"lead_id": label.lead_id, "action": label.action, "text": label.text,
                "at": label.at.isoformat(), "actor": label.actor}
        if label.action in ("verify", "reject"):
            side.append({**base, "kind": "relevance", "relevant": bool(decision.get("relevant", True)),
                         **({"reason": decision["reason"]} if decision.get("reason") else {})})
        if label.action in ROUTING_ACTIONS:
            side.append({**base, "kind": "routing", "unit": decision.get("unit"),
                         "model_unit": (label.model or {}).get("unit"), "district": decision.get("district")})
        if label.action in CATEGORY_ACTIONS:
            latest[label.lead_id] = label
        elif label.action == "reject":
            latest.pop(label.lead_id, None)  # a lead rejected later is no category example
    examples = []
    for l in latest.values():
        if l.decision.get("relevant", True) and l.decision.get("category"):
            examples += [(line, l.decision["category"], l.lead_id) for line in _lines(l.text)]
    return examples, side


def _lines(text: str) -> list[str]:
    """A label's text is the lead's title and its posts, one a line: each is one example (the
    model classifies one post at a time), duplicates once."""
    return list(dict.fromkeys(line.strip() for line in text.splitlines() if line.strip()))


def train_candidate(base_texts: Sequence[str], base_labels: Sequence[str], desk_labels: Sequence = (), *,
                    desk_weight: int = DESK_WEIGHT, calibrate: bool = True, sources: dict | None = None,
                    extra: Extra | None = None) -> Candidate:
    """A category model from the base rows plus the desk's verify/recategorize decisions, each
    repeated `desk_weight` times; rejects and routing decisions are returned aside. `extra`
    (e.g. `enrichment.reply_labels.reply_extra`) adds weighted examples, see `TextClassifier.train`."""
    examples, side = desk_examples(desk_labels)
    leads = len({lead for _, _, lead in examples})
    examples = [(t, c) for t, c, _ in examples]
    texts = list(base_texts) + [t for t, _ in examples for _ in range(desk_weight)]
    labels = list(base_labels) + [c for _, c in examples for _ in range(desk_weight)]
    model = TextClassifier.train(texts, labels, calibrate=calibrate, extra=extra)
    info = {"base_rows": len(base_texts), "extra_rows": len(extra.texts) if extra else 0,
            "desk_labels": len(desk_labels),
            "desk_category_leads": leads,
            "desk_category_examples": len(examples),
            "desk_weight": desk_weight, "desk_relevance_examples": sum(e["kind"] == "relevance" for e in side),
            "desk_routing_examples": sum(e["kind"] == "routing" for e in side), **(sources or {})}
    return Candidate(model, info, side)


def evaluate(model: TextClassifier, eval_texts: Sequence[str], eval_labels: Sequence[str]) -> Scores:
    """Accuracy and macro-F1 (over the labels of the eval set and the predictions)."""
    if not eval_texts:
        raise ValueError("empty evaluation set")
    predicted = [label for label, _ in model.predict(list(eval_texts))]
    return Scores(round(float(accuracy_score(eval_labels, predicted)), 4),
                  round(float(f1_score(eval_labels, predicted, average="macro", zero_division=0)), 4),
                  len(eval_texts))


def eval_fingerprint(eval_texts: Sequence[str], eval_labels: Sequence[str]) -> str:
    h = hashlib.sha1()
    for t, l in zip(eval_texts, eval_labels):
        h.update(t.encode("utf-8") + b"\x00" + l.encode("utf-8") + b"\x01")
    return h.hexdigest()[:12]


def _better(new: Scores, old: Scores, min_gain: float) -> tuple[bool, str]:
    gain = new.accuracy - old.accuracy
    if gain > min_gain + _TIE:
        return True, f"accuracy {new.accuracy} > current {old.accuracy} + min_gain {min_gain}"
    if abs(gain - min_gain) <= _TIE and new.macro_f1 >= old.macro_f1:
        return True, (f"accuracy {new.accuracy} = current {old.accuracy} + min_gain {min_gain} "
                      f"and macro-F1 {new.macro_f1} >= {old.macro_f1}")
    if abs(gain - min_gain) <= _TIE:
        return False, (f"accuracy {new.accuracy} ties current {old.accuracy} + min_gain {min_gain} "
                       f"but macro-F1 {new.macro_f1} < {old.macro_f1}")
    return False, f"accuracy {new.accuracy} < current {old.accuracy} + min_gain {min_gain}"


def promote_if_better(registry: Registry, candidate: Candidate, eval_texts: Sequence[str],
                      eval_labels: Sequence[str], min_gain: float = 0.0) -> Decision:
    """Register the candidate, score it and the current model on the fixed eval set, and make it
    current only if it is better (see the module docstring); the reason goes into its meta."""
    previous = registry.current()
    scores = evaluate(candidate.model, eval_texts, eval_labels)
    current_scores = evaluate(registry.load(previous), eval_texts, eval_labels) if previous else None
    if current_scores is None:
        promoted, reason = True, "no current model"
    else:
        promoted, reason = _better(scores, current_scores, min_gain)
    info = {**candidate.sources, "parent": previous,
            "eval": {"rows": scores.rows, "fingerprint": eval_fingerprint(eval_texts, eval_labels),
                     "accuracy": scores.accuracy, "macro_f1": scores.macro_f1,
                     "current_accuracy": current_scores.accuracy if current_scores else None,
                     "current_macro_f1": current_scores.macro_f1 if current_scores else None},
            "min_gain": min_gain}
    version = registry.add(candidate.model, info, candidate.side_examples)
    registry.update_info(version, status="promoted" if promoted else "refused", reason=reason,
                         decided_at=datetime.now(timezone.utc).isoformat())
    if promoted:
        registry.set_current(version)
    return Decision(version, promoted, version if promoted else previous, previous, scores, current_scores, reason)


def listing(registry: Registry) -> list[dict]:
    """One row per version: status, scores, parent, desk examples, and whether it is current."""
    current = registry.current()
    rows = []
    for version in registry.versions():
        try:
            info = registry.info(version)
        except (OSError, ValueError):
            rows.append({"version": version, "status": "unreadable", "current": version == current})
            continue
        ev = info.get("eval", {})
        rows.append({"version": version, "current": version == current, "status": info.get("status"),
                     "accuracy": ev.get("accuracy"), "macro_f1": ev.get("macro_f1"),
                     "parent": info.get("parent"), "desk_category_examples": info.get("desk_category_examples"),
                     "reason": info.get("reason")})
    return rows


__all__ = ["Candidate", "Decision", "Registry", "Scores", "current_version", "default_registry", "desk_examples",
           "evaluate", "listing", "promote_if_better", "train_candidate"]
