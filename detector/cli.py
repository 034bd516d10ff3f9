"""The `jiyu` command: check, scan, lexicon check."""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from itertools import islice
from pathlib import Path

from .lexicon import CATEGORY_NAMES_ZH, LexiconError
from .scorer import MODES
from .tone import ModelError

BATCH = 512
DECISION_ZH = {"pass": "通过", "review": "待复核", "violation": "违规"}


def _detector(args: argparse.Namespace, mode: str):  # noqa: ANN202
    from .detector import Detector

    return Detector(args.lexicon or (), mode=mode, classifier=args.classifier)


def _versions(d) -> dict:  # noqa: ANN001
    return {"lexicon_version": d.lexicon_version, "model_version": d.model_version}


def _add_common(p: argparse.ArgumentParser, default_mode: str) -> None:
    p.add_argument("--lexicon", action="append", metavar="DIR", help="extra lexicon pack layered over the default (repeatable)")
    p.add_argument("--mode", choices=sorted(MODES), default=default_mode, help=f"decision thresholds (default: {default_mode})")
    p.add_argument("--no-classifier", dest="classifier", action="store_false", help="lexicon path only (no tone classifier)")


# -- jiyu check ------------------------------------------------------------------------------


def cmd_check(args: argparse.Namespace) -> int:
    texts = args.text if args.text != ["-"] else [line.rstrip("\n") for line in sys.stdin]
    d = _detector(args, args.mode)
    for text in texts:
        v = d.check(text)
        if args.json:
            print(json.dumps({"text": text, **v.to_dict(), **_versions(d)}, ensure_ascii=False))
            continue
        print(f"{DECISION_ZH[v.decision]} {v.decision}  score {v.score:.2f}  {text}")
        for e in v.evidence:
            name = CATEGORY_NAMES_ZH.get(e.category, e.category)
            print(f"  [{e.start}:{e.end}] {e.text!r}  {e.category} ({name})  rule {e.rule_id}  severity {e.severity}  via {e.source}")
            if e.suggestion:
                print(f"      建议 suggestion: {e.suggestion}")
    if not args.json:
        print(f"(lexicon {d.lexicon_version}, model {d.model_version or 'off'}, mode {args.mode})")
    return 0


# -- jiyu scan -------------------------------------------------------------------------------


def cmd_scan(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from . import inputs
    from .conversation import ConversationError

    for path in args.input:
        if not Path(path).is_file():
            print(f"jiyu scan: {path}: no such file", file=sys.stderr)
            return 2
    d = _detector(args, args.mode)
    out = open(args.output, "w", encoding="utf-8") if args.output else sys.stdout
    errors = open(args.errors, "w", encoding="utf-8") if args.errors else None
    stats: Counter = Counter()
    per_category: Counter = Counter()

    def bad(rec: inputs.BadRecord) -> None:
        stats["skipped"] += 1
        print(f"jiyu scan: skipped {rec}", file=sys.stderr)
        if errors:
            errors.write(json.dumps(rec.to_dict(), ensure_ascii=False) + "\n")

    def emit(obj: dict, flagged: bool, labels) -> None:  # noqa: ANN001
        out.write(json.dumps(obj, ensure_ascii=False) + "\n")
        stats["scored"] += 1
        stats["flagged"] += flagged
        per_category.update(labels)

    try:
        for path in map(Path, args.input):
            fmt = inputs.detect_format(path) if args.format == "auto" else args.format
            if fmt == "conversations":
                records = inputs.read_conversations(path)
            elif fmt == "jsonl":
                records = inputs.read_jsonl(path, args.text_field, args.id_field)
            elif fmt == "csv":
                records = inputs.read_csv(path, args.text_column, args.id_field)
            else:
                records = inputs.read_text(path)
            bar = tqdm(
                total=inputs.count_lines(path), unit="line", desc=path.name, file=sys.stderr,
                disable=not args.progress, dynamic_ncols=True,
            )
            while chunk := list(islice(records, BATCH)):
                bar.update(max(r.line for r in chunk) - bar.n)
                good = [r for r in chunk if isinstance(r, inputs.Record)]
                if fmt == "conversations":
                    for r in chunk:
                        if isinstance(r, inputs.BadRecord):
                            bad(r)
                            continue
                        try:
                            report = d.check_conversation(r.data, roles=args.roles)
                        except ConversationError as e:
                            bad(inputs.BadRecord(r.file, r.line, str(e)))
                            continue
                        labels = {lab for v in report.violations for lab in v.verdict.labels}
                        emit({**report.to_dict(), **_versions(d)}, report.flagged, labels)
                    continue
                verdicts = iter(d.check_many([r.text for r in good]))
                for r in chunk:
                    if isinstance(r, inputs.BadRecord):
                        bad(r)
                        continue
                    v = next(verdicts)
                    extra = {k: val for k, val in r.data.items() if k != args.text_field and k != args.text_column}
                    emit({**extra, "id": r.id, **v.to_dict(), **_versions(d)}, v.flagged, v.labels)
            bar.close()
    finally:
        if out is not sys.stdout:
            out.close()
        if errors:
            errors.close()
    cats = ", ".join(f"{c} {n}" for c, n in per_category.most_common()) or "none"
    print(
        f"jiyu scan: {stats['scored']} scored, {stats['flagged']} flagged ({cats}), {stats['skipped']} skipped"
        f" [mode {args.mode}, lexicon {d.lexicon_version}, model {d.model_version or 'off'}]",
        file=sys.stderr,
    )
    return 0


# -- jiyu lexicon check ----------------------------------------------------------------------


def cmd_lexicon_check(args: argparse.Namespace) -> int:
    from .lexicon_check import check_lexicon

    lexicon, problems = check_lexicon(args.dirs, include_default=not args.no_default)
    for p in problems:
        print(p)
    if lexicon is not None:
        counts = ", ".join(f"{c} {n}" for c, n in lexicon.counts().items())
        print(
            f"lexicon {lexicon.version}: {len(lexicon.rules)} phrase rules, {len(lexicon.patterns)} patterns,"
            f" {len(lexicon.allow)} allowlist phrases ({counts}); {len(problems)} problem(s)",
            file=sys.stderr,
        )
    return 1 if problems else 0


# -- jiyu train / eval ------------------------------------------------------------------------


def cmd_train(args: argparse.Namespace) -> int:
    from .train import train

    train(Path(args.model_dir), log=lambda msg: print(msg, file=sys.stderr))
    return 0


def cmd_eval(args: argparse.Namespace) -> int:
    from .detector import Detector
    from .evaluate import SYSTEMS, Item, metrics, read_data, report, verdicts

    if args.split:
        from . import corpus

        splits = corpus.read_splits()
        items = [Item(r.text, r.labels, None, r.hard_negative) for r in corpus.load() if splits.get(r.id) == args.split]
        errors = []
    elif args.data:
        items, errors = read_data(Path(args.data), assume_none=args.assume_none)
    else:
        print("jiyu eval: give DATA.jsonl or --split dev|test", file=sys.stderr)
        return 2
    for e in errors:
        print(f"jiyu eval: skipped {e}", file=sys.stderr)
    if not items:
        print(f"jiyu eval: {args.data or args.split}: no usable lines", file=sys.stderr)
        return 2
    d = Detector(args.lexicon or (), mode=args.mode)
    vs = verdicts(d, items, args.mode)
    results = {s: metrics(items, vs[s]) for s in SYSTEMS}
    print(report(results, len(items)))
    print(f"(mode {args.mode}, lexicon {d.lexicon_version}, model {d.model_version})")
    return 0


# -- jiyu serve ------------------------------------------------------------------------------


def cmd_serve(args: argparse.Namespace) -> int:
    import ipaddress
    import os
    import tempfile

    import uvicorn

    from api.settings import Settings

    if args.lexicon:
        os.environ["JIYU_LEXICONS"] = os.pathsep.join(args.lexicon)
    settings = Settings.from_env()
    try:
        loopback = args.host == "localhost" or ipaddress.ip_address(args.host).is_loopback
    except ValueError:
        loopback = False
    if not settings.api_keys and not loopback and not args.insecure_no_auth:
        print(
            f"jiyu serve: refusing to listen on {args.host} without API keys: set JIYU_API_KEYS or JIYU_API_KEYS_FILE,"
            " or pass --insecure-no-auth",
            file=sys.stderr,
        )
        return 2
    os.environ["JIYU_LOG_LEVEL"] = args.log_level.upper()  # read by every worker's create_app
    if args.workers > 1 and not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="jiyu-metrics-")  # /metrics sums all workers
    uvicorn.run(
        "api.app:create_app", factory=True, host=args.host, port=args.port, workers=args.workers,
        loop="uvloop", http="httptools", access_log=False, log_level=args.log_level,
    )
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="jiyu", description="Find 忌语 (forbidden service language) in Chinese customer-service text.")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("check", help="check one or more texts and explain the verdict")
    p.add_argument("text", nargs="+", help="text to check ('-' reads one text per line from stdin)")
    p.add_argument("--json", action="store_true", help="one JSON verdict per text")
    _add_common(p, "qa")
    p.set_defaults(func=cmd_check)

    p = sub.add_parser("scan", help="score files: plain text, JSONL, CSV or conversations JSONL")
    p.add_argument("input", nargs="+", help="input file(s)")
    p.add_argument("-o", "--output", help="write JSONL results here (default: stdout)")
    p.add_argument("--format", choices=("auto", "text", "jsonl", "csv", "conversations"), default="auto")
    p.add_argument("--text-field", default="text", help="JSONL field holding the text (default: text)")
    p.add_argument("--text-column", default="text", help="CSV column holding the text (default: text)")
    p.add_argument("--id-field", default="id", help="JSONL field / CSV column holding the id (default: id; else the line number)")
    p.add_argument("--roles", nargs="+", default=["agent"], help="conversation roles to judge (default: agent)")
    p.add_argument("--errors", metavar="FILE", help="also write skipped records here as JSONL")
    p.add_argument("--progress", action=argparse.BooleanOptionalAction, default=sys.stderr.isatty(), help="progress bar on stderr (default: when stderr is a terminal)")
    _add_common(p, "qa")
    p.set_defaults(func=cmd_scan)

    p = sub.add_parser("serve", help="run the HTTP API (see api/ and README)")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8000)
    p.add_argument("--workers", type=int, default=1, help="worker processes, each with its own detector")
    p.add_argument("--lexicon", action="append", metavar="DIR", help="extra lexicon pack (repeatable)")
    p.add_argument("--insecure-no-auth", action="store_true", help="allow listening beyond loopback without API keys")
    p.add_argument("--log-level", default="info")
    p.set_defaults(func=cmd_serve)

    p = sub.add_parser("train", help="train the tone classifier on data/tone (deterministic)")
    p.add_argument("--model-dir", default=str(Path(__file__).resolve().parent.parent / "models"))
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("eval", help="per-category metrics of lexicon, classifier and fused verdicts on labelled JSONL")
    p.add_argument("data", nargs="?", help="JSONL with text and labels (list) or label (0/1)")
    p.add_argument("--split", choices=("dev", "test"), help="evaluate on a split of the bundled corpus (data/tone) instead")
    p.add_argument("--assume-none", action="store_true", help="lines without labels are polite text (label none)")
    p.add_argument("--lexicon", action="append", metavar="DIR")
    p.add_argument("--mode", choices=sorted(MODES), default="qa")
    p.set_defaults(func=cmd_eval)

    p = sub.add_parser("lexicon", help="lexicon tools")
    lsub = p.add_subparsers(dest="lexicon_command", required=True)
    q = lsub.add_parser("check", help="validate lexicon packs (default pack plus DIRs); exit 1 on any problem")
    q.add_argument("dirs", nargs="*", metavar="DIR")
    q.add_argument("--no-default", action="store_true", help="check DIRs without layering them over the default pack")
    q.set_defaults(func=cmd_lexicon_check)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (LexiconError, ModelError) as e:
        print(f"jiyu: {e}", file=sys.stderr)
        return 2
    except BrokenPipeError:
        return 0


if __name__ == "__main__":
    sys.exit(main())
