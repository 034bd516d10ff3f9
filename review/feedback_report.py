"""What the review feedback would change, before anyone deploys it (`jiyu review export`'s report.md).

The figures of `jiyu eval` (detector/evaluate.py, fused verdicts) on two sets: the tone corpus's
test split (never trained on) and the reviewed items themselves (confirmed → the confirmed
category; rejected → none, a hard negative). Each with the detector in force now, with the
proposed pack layered on, and — given a model retrained with `jiyu train --extra` — with that
model, alone and with the pack.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from detector.evaluate import Item, metrics, report, verdicts

from .export import Reviewed

ROWS = (("macro_f1", "macro F1"), ("violations_found_rate", "violations found"), ("first_label_right", "first label right"),
        ("none_flagged_rate", "none lines flagged"), ("hard_negative_flagged_rate", "hard negatives flagged"))


def test_split() -> list[Item]:
    from detector import corpus

    splits = corpus.read_splits()
    return [Item(r.text, r.labels, None, r.hard_negative) for r in corpus.load() if splits.get(r.id) == "test"]


def reviewed_set(items: list[Reviewed]) -> list[Item]:
    return [Item(r.text, (r.category,) if r.outcome == "confirmed" else (), None, r.outcome == "rejected") for r in items]


def _cell(v: float | None) -> str:
    return "-" if v is None else f"{v:.3f}"


def before_after(items: list[Reviewed], pack: Path, out: Path, *, model_dir: Path | None = None,
                 lexicons: tuple[Path, ...] = (), proposal=None, mode: str = "qa",  # noqa: ANN001
                 log: Callable[[str], None] = print) -> Path:
    """Evaluate every configuration on both sets; print the summary and write `out` (Markdown)."""
    from detector import Detector

    configs = {"now": Detector(list(lexicons), mode=mode), "with the pack": Detector([*lexicons, pack], mode=mode)}
    trained_on_review = False
    if model_dir is not None:
        retrained = Detector(list(lexicons), mode=mode, model_dir=model_dir)
        configs["retrained"] = retrained
        configs["retrained with the pack"] = Detector([*lexicons, pack], mode=mode, tone=retrained.tone, model_dir=model_dir)
        trained_on_review = bool(retrained.tone.manifest.get("extra"))
    sets = {"test split": test_split(), "reviewed items": reviewed_set(items)}
    results: dict[str, dict[str, tuple[dict, list]]] = {}
    for set_name, data in sets.items():
        results[set_name] = {}
        for name, d in configs.items():
            if not data:
                continue
            vs = verdicts(d, data, mode)["fused"]
            results[set_name][name] = (metrics(data, vs), vs)
    lines = ["# Review feedback: before and after", "",
             f"Fused verdicts (lexicon + classifier), mode {mode}, as `jiyu eval` computes them. Nothing has been applied:"
             " the pack is in pack/, the training lines in review-corpus.jsonl.", ""]
    for name, d in configs.items():
        lines.append(f"- **{name}**: lexicon {d.lexicon_version}, model {d.model_version}, context model {d.context_version}")
    if trained_on_review:
        lines += ["", "The retrained model was trained with extra lines (its manifest names them). If they are this export's"
                      " review-corpus.jsonl, its figures on the reviewed items are on its own training lines: they show the"
                      " lines were learnt, not how it does on new text. The test split is never trained on."]
    for set_name, data in sets.items():
        lines += ["", f"## {set_name} ({len(data)} lines)", ""]
        if not data:
            lines.append("(no lines)")
            continue
        names = list(results[set_name])
        lines += ["| figure | " + " | ".join(names) + " |", "|---" * (len(names) + 1) + "|"]
        for key, label in ROWS:
            lines.append(f"| {label} | " + " | ".join(_cell(results[set_name][n][0][key]) for n in names) + " |")
        if set_name == "reviewed items":
            lines += _reviewed_rows(items, {n: results[set_name][n][1] for n in names})
    lines += ["", "## Changed verdicts on the reviewed items", ""] + _changes(items, results.get("reviewed items", {}))
    lines += ["", "## `jiyu eval` on the test split, per configuration", ""]
    for name in results["test split"]:
        lines += [f"### {name}", "", "```", report({"fused": results["test split"][name][0]}, len(sets["test split"])), "```", ""]
    if proposal is not None:
        lines += ["## The pack proposal", "", "```", json.dumps(proposal.summary(), ensure_ascii=False), "```",
                  "", "Each entry and the decisions behind it: pack/README.md."]
    out.write_text("\n".join(lines) + "\n", encoding="utf-8")
    summary = [f"{set_name}: " + "; ".join(
        f"{n} macro F1 {_cell(m['macro_f1'])}, found {_cell(m['violations_found_rate'])}, none flagged {_cell(m['none_flagged_rate'])},"
        f" hard negatives flagged {_cell(m['hard_negative_flagged_rate'])}" for n, (m, _) in per.items()) for set_name, per in results.items()]
    for line in summary:
        log(line)
    log(f"report written to {out}")
    return out


def _reviewed_rows(items: list[Reviewed], vs: dict[str, list]) -> list[str]:
    rejected = [i for i, r in enumerate(items) if r.outcome == "rejected"]
    confirmed = [i for i, r in enumerate(items) if r.outcome == "confirmed"]
    rows = [("rejected items still flagged", lambda v: sum(v[i].flagged for i in rejected), len(rejected)),
            ("confirmed items flagged", lambda v: sum(v[i].flagged for i in confirmed), len(confirmed)),
            ("… with the confirmed category first", lambda v: sum(bool(v[i].labels) and v[i].labels[0] == items[i].category
                                                                  for i in confirmed), len(confirmed))]
    return [f"| {label} | " + " | ".join(f"{count(v)} / {n}" for v in vs.values()) + " |" for label, count, n in rows]


def _changes(items: list[Reviewed], per: dict[str, tuple[dict, list]]) -> list[str]:
    if len(per) < 2:
        return ["(nothing to compare)"]
    names = list(per)
    out = ["| item | text | decided | " + " | ".join(names) + " |", "|---" * (len(names) + 3) + "|"]
    for i, r in enumerate(items):
        cells = [f"{per[n][1][i].decision} {','.join(per[n][1][i].labels) or '-'}" for n in names]
        if len(set(cells)) > 1:
            decided = r.category if r.outcome == "confirmed" else "false alarm"
            out.append(f"| {r.item_id} | {r.text} | {decided} | " + " | ".join(cells) + " |")
    return out if len(out) > 2 else ["(no verdict changes)"]
