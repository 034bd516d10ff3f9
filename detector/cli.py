"""The `jiyu` command: check, scan, lexicon check."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from .lexicon import CATEGORY_NAMES_ZH, LexiconError
from .scorer import MODES
from .tone import ModelError

DECISION_ZH = {"pass": "通过", "review": "待复核", "violation": "违规"}


class _ScanFormats:
    """`jiyu scan --format` choices, read from detector.scan when argparse first looks at them:
    scan's imports (CSV, transcripts, score sheets, pydantic) would slow every `jiyu check`."""

    def __contains__(self, value: object) -> bool:
        from .scan import FORMATS

        return value in FORMATS

    def __iter__(self):  # noqa: ANN204
        from .scan import FORMATS

        return iter(FORMATS)


SCAN_FORMATS = _ScanFormats()


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

    from . import inputs, scan
    from .scoresheet import ScoreSheetError

    for path in args.input:
        if not Path(path).is_file():
            print(f"jiyu scan: {path}: {'is a directory, not a file' if Path(path).is_dir() else 'no such file'}", file=sys.stderr)
            return 2
    try:
        args.columns = dict(kv.split("=", 1) for kv in args.columns.split(",")) if args.columns else None
    except ValueError:
        print(f"jiyu scan: --columns: expected name=header pairs separated by commas, got {args.columns!r}", file=sys.stderr)
        return 2
    d = _detector(args, args.mode)

    class Progress:
        """tqdm over the lines of one file (rate and ETA on stderr)."""

        def __init__(self, path: Path, fmt: str):
            self.bar = tqdm(total=inputs.count_lines(path), unit="line", desc=path.name, file=sys.stderr,
                            disable=not args.progress, dynamic_ncols=True)

        def update(self, last_line: int) -> None:
            self.bar.update(max(self.bar.n, last_line) - self.bar.n)

        def close(self) -> None:
            self.bar.update(self.bar.total - self.bar.n)
            self.bar.close()

    try:
        summary = scan.run(d, args, Progress)
    except ScoreSheetError as e:
        print(f"jiyu scan: {e}", file=sys.stderr)
        return 2
    cats = ", ".join(f"{c} {n}" for c, n in summary.per_category.most_common()) or "none"
    resumed = f", {summary.resumed} already done" if args.resume else ""
    print(
        f"jiyu scan: {summary.scored} scored, {summary.flagged} flagged (first label: {cats}), {summary.skipped} skipped{resumed}"
        f" [mode {args.mode}, lexicon {d.lexicon_version}, model {d.model_version or 'off'}]",
        file=sys.stderr,
    )
    agents = summary.to_dict()["agents"]
    if list(agents) != ["(no agent id)"]:  # nothing to say per agent when no record names one
        for agent, a in agents.items():
            print(f"  agent {agent}: {a['calls']} calls, {a['flagged_calls']} flagged, {a['violations']} violations,"
                  f" {a['reviews']} reviews, mean score {a['mean_score']}, pass rate {a['pass_rate']:.0%}", file=sys.stderr)
    return 1 if args.strict and summary.skipped else 0


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

    try:
        import sklearn  # noqa: F401
        import skops  # noqa: F401
    except ImportError:
        print("jiyu train: needs scikit-learn and skops: pip install -e '.[train]'", file=sys.stderr)
        return 2

    from .context_train import train_context

    log = lambda msg: print(msg, file=sys.stderr)  # noqa: E731
    train(Path(args.model_dir), log=log)
    train_context(Path(args.model_dir) / "context.json", log=log)
    return 0


def cmd_false_alarms(args: argparse.Namespace) -> int:
    """`jiyu eval --false-alarms FILE...`: flag rates and the worst lines on text known to be clean."""
    from types import SimpleNamespace

    from . import false_alarms, scan
    from .detector import Detector
    from .inputs import BadRecord, RawLine, jsonl_record

    texts, bad = [], 0
    opts = SimpleNamespace(text_column=args.text_field, id_field="id")
    for name in args.false_alarms:
        path = Path(name)
        if not path.is_file():
            print(f"jiyu eval: {name}: no such file", file=sys.stderr)
            return 2
        fmt = scan.detect(path)
        if fmt not in ("jsonl", "csv", "text"):
            print(f"jiyu eval: {name}: --false-alarms reads utterances (JSONL, CSV or text lines), not {fmt}", file=sys.stderr)
            return 2
        for rec in scan.records(path, fmt, opts):
            if isinstance(rec, RawLine):
                rec = jsonl_record(rec, args.text_field)
            if isinstance(rec, BadRecord):
                bad += 1
                print(f"jiyu eval: skipped {rec}", file=sys.stderr)
            else:
                texts.append(rec.text)
    if not texts:
        print(f"jiyu eval: {', '.join(args.false_alarms)}: no usable lines", file=sys.stderr)
        return 2
    d = Detector(args.lexicon or (), classifier=args.classifier)
    reports = false_alarms.measure(d, texts, top=args.top)
    if args.json:
        print(json.dumps({"lines": len(texts), "skipped": bad, "lexicon_version": d.lexicon_version,
                          "model_version": d.model_version, "context_version": d.context_version,
                          "modes": [r.to_dict() for r in reports]}, ensure_ascii=False))
    else:
        print(false_alarms.render(reports))
        print(f"({len(texts)} lines, {bad} skipped; lexicon {d.lexicon_version}, model {d.model_version},"
              f" context model {d.context_version})")
    return 0


def cmd_eval(args: argparse.Namespace) -> int:
    from .detector import Detector
    from .evaluate import SYSTEMS, Item, context_effect, context_report, metrics, read_data, report, verdicts

    if args.false_alarms:
        return cmd_false_alarms(args)
    if args.split:
        from . import corpus

        splits = corpus.read_splits()
        items = [Item(r.text, r.labels, None, r.hard_negative) for r in corpus.load() if splits.get(r.id) == args.split]
        errors = []
    elif args.data:
        if not Path(args.data).is_file():
            print(f"jiyu eval: {args.data}: no such file", file=sys.stderr)
            return 2
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
    if d.context is not None:
        plain = Detector(args.lexicon or (), mode=args.mode, tone=d.tone, context=False)
        print(context_report(context_effect(d, plain, items, args.mode)))
    print(f"(mode {args.mode}, lexicon {d.lexicon_version}, model {d.model_version}, context model {d.context_version})")
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
    p.add_argument("--format", choices=SCAN_FORMATS, default="auto", metavar="FORMAT",  # a metavar: argparse lists the choices only for help
                   help="%(choices)s; auto (default): by extension and content (see README)")
    p.add_argument("--text-field", default="text", help="JSONL field holding the text (default: text)")
    p.add_argument("--text-column", default="text", help="CSV column holding the text (default: text)")
    p.add_argument("--id-field", default="id", help="JSONL field / CSV column holding the id (default: id; else the line number)")
    p.add_argument("--roles", nargs="+", default=["agent"], help="conversation roles to judge (default: agent)")
    p.add_argument("--errors", metavar="FILE", help="also write skipped records here as JSONL")
    p.add_argument("--columns", help="turns-csv header names, e.g. conversation_id=call_id,speaker=role,text=content")
    p.add_argument("--encoding", default="auto", help="transcript files: auto (UTF-8, BOM, else GB18030), or a codec name")
    p.add_argument("--agent-speakers", nargs="+", default=[], metavar="NAME", help="extra speaker names that are agents (e.g. spk0, 工号1024)")
    p.add_argument("--agent-channel", metavar="N", help="dual-channel ASR JSON: channel N is the agent, every other channel the customer")
    p.add_argument("--agent-field", default="agent_id", help="conversation field naming the agent, for the per-agent summary")
    p.add_argument("--score-sheet", metavar="YAML", help="QA score sheet (default: detector/scoresheets/default.yaml)")
    p.add_argument("--violations-csv", metavar="FILE", help="one row per violation (UTF-8 with BOM, opens in Excel)")
    p.add_argument("--summary", metavar="FILE", help="write the per-agent and per-category summary as JSON")
    p.add_argument("--html", metavar="FILE", help="self-contained HTML report of flagged calls for trainers")
    p.add_argument("--resume", action="store_true", help="skip records already in -o (after a crash or Ctrl-C)")
    p.add_argument("--strict", action="store_true", help="exit 1 if any record was skipped")
    p.add_argument("--workers", type=int, default=1, help="worker processes (each judges whole chunks; output stays in input order)")
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
    p.add_argument("--false-alarms", nargs="+", metavar="FILE",
                   help="text known to be clean (JSONL, CSV or text lines): share flagged per mode, source and rule, and the worst lines")
    p.add_argument("--text-field", default="text", help="with --false-alarms: the JSONL field / CSV column holding the text")
    p.add_argument("--top", type=int, default=30, help="with --false-alarms: how many of the highest-scoring lines to show")
    p.add_argument("--json", action="store_true", help="with --false-alarms: one JSON object instead of the table")
    p.add_argument("--no-classifier", dest="classifier", action="store_false", help="with --false-alarms: lexicon path only")
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
