"""The `jiyu` command: check, scan, serve, train, eval, lexicon check."""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
from pathlib import Path


DECISION_ZH = {"pass": "通过", "review": "待复核", "violation": "违规"}
FAIL_ON = {"review": ("review", "violation"), "violation": ("violation",)}
SHIPPED_MODELS = Path(__file__).resolve().parent.parent / "models"


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

    return Detector(args.lexicon or (), mode=mode, classifier=args.classifier, model_dir=args.model_dir)


def _versions(d) -> dict:  # noqa: ANN001
    return {"lexicon_version": d.lexicon_version, "model_version": d.model_version}


def _add_common(p: argparse.ArgumentParser, default_mode: str) -> None:
    from .scorer import MODES

    p.add_argument("--lexicon", action="append", metavar="DIR", help="extra lexicon pack layered over the default (repeatable)")
    p.add_argument("--mode", choices=sorted(MODES), default=default_mode,
                   help="decision thresholds: qa (recall first, review queues) or realtime (precision first, blocking)")
    p.add_argument("--no-classifier", dest="classifier", action="store_false", help="lexicon path only (no tone classifier)")
    p.add_argument("--model-dir", metavar="DIR", help="a model trained with `jiyu train` (default: the shipped models/)")


# -- jiyu check ------------------------------------------------------------------------------


def cmd_check(args: argparse.Namespace) -> int:
    from .lexicon import CATEGORY_NAMES_ZH

    texts = args.text if args.text != ["-"] else [line.rstrip("\n") for line in sys.stdin]
    d = _detector(args, args.mode)
    failed = False
    for text in texts:
        v = d.check(text)
        failed = failed or (args.fail_on is not None and v.decision in FAIL_ON[args.fail_on])
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
    return 1 if failed else 0


# -- jiyu scan -------------------------------------------------------------------------------


def _scan_usage_error(args: argparse.Namespace) -> str | None:
    """What is wrong with the options, before anything is read or loaded."""
    from .transcripts import CALL_COLUMNS, TURN_COLUMNS

    if args.workers < 1:
        return f"--workers {args.workers}: needs at least 1 (1 judges in this process)"
    if args.resume and not args.output:
        return "--resume continues the file given with -o; without -o there is nothing to resume"
    if args.input.count("-") > 1:
        return "standard input (-) can be read only once"
    for path in args.input:
        if path != "-" and not Path(path).is_file():
            return f"{path}: {'is a directory, not a file' if Path(path).is_dir() else 'no such file'}"
    if args.columns:
        try:
            pairs = [kv.split("=", 1) for kv in args.columns.split(",")]
            args.columns = {k.strip(): v.strip() for k, v in pairs}
        except ValueError:
            return f"--columns: expected name=header pairs separated by commas, got {args.columns!r}"
        unknown = set(args.columns) - set(TURN_COLUMNS + CALL_COLUMNS)
        if unknown:
            return f"--columns: unknown name(s) {', '.join(sorted(unknown))}; known: {', '.join(TURN_COLUMNS + CALL_COLUMNS)}"
    return None


def cmd_scan(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from . import inputs, scan
    from .scan_report import summary_lines
    from .scoresheet import ScoreSheetError

    problem = _scan_usage_error(args)
    if problem:
        print(f"jiyu scan: {problem}", file=sys.stderr)
        return 2
    d = _detector(args, args.mode)

    class Progress:
        """tqdm over the lines of one file (rate and ETA on stderr)."""

        def __init__(self, path: Path, fmt: str):
            self.bar = tqdm(total=inputs.count_lines(path), unit="line", desc=path.name or "stdin", file=sys.stderr,
                            disable=not args.progress, dynamic_ncols=True)

        def update(self, last_line: int) -> None:
            self.bar.update(max(self.bar.n, last_line) - self.bar.n)

        def close(self) -> None:
            if self.bar.total is not None:
                self.bar.update(self.bar.total - self.bar.n)
            self.bar.close()

    try:
        summary = scan.run(d, args, Progress)
    except (ScoreSheetError, inputs.InputError) as e:
        print(f"jiyu scan: {e}", file=sys.stderr)
        return 2
    except BrokenPipeError:
        raise  # the reader stopped reading (`jiyu scan ... | head`): not an error, see main
    except OSError as e:  # an output that cannot be written, an input that vanished
        print(f"jiyu scan: {e.filename or ''}: {e.strerror or e}", file=sys.stderr)
        return 2
    where = f"{d.lexicon_version}, model {d.model_version or 'off'}"
    if summary.interrupted is not None:
        name = signal.Signals(summary.interrupted).name
        print(f"jiyu scan: stopped by {name}: {summary.scored} record(s) in {args.output or 'the output'}"
              + (f" ({summary.resumed} from an earlier run)" if summary.resumed else "")
              + ("; run the same command with --resume to continue" if args.output else ""), file=sys.stderr)
        if summary.abandoned_workers:  # outputs are closed; the pool's threads may never finish: end here
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(128 + summary.interrupted)
        return 128 + summary.interrupted
    if not args.quiet:
        for line in summary_lines(summary, "jiyu scan", args.mode, where, resumed=args.resume):
            print(line, file=sys.stderr)
    for failed in summary.failed_files:
        print(f"jiyu scan: {failed}", file=sys.stderr)
    if summary.failed_files:
        return 2
    if args.fail_on and (summary.flagged if args.fail_on == "review" else summary.violations):
        return 1
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
    from .corpus import CorpusError

    import time

    target = Path(args.model_dir or Path("jiyu-models") / time.strftime("%Y%m%d-%H%M%S", time.gmtime()))
    if target.resolve() == SHIPPED_MODELS.resolve() and not args.replace_shipped:
        print(f"jiyu train: {target} holds the shipped models; train into another directory, or pass --replace-shipped"
              " to release a new shipped model", file=sys.stderr)
        return 2
    if (target / "manifest.json").exists() and not (args.force or args.replace_shipped):
        print(f"jiyu train: {target} already holds a model; choose a new directory or pass --force", file=sys.stderr)
        return 2
    target.mkdir(parents=True, exist_ok=True)
    log = lambda msg: print(msg, file=sys.stderr)  # noqa: E731
    try:
        train(target, log=log, extra=tuple(Path(f) for f in args.extra))
    except CorpusError as e:
        print(f"jiyu train: {e}", file=sys.stderr)
        return 2
    train_context(target / "context.json", log=log)
    print(f"jiyu train: the model is in {target}. Use it with\n"
          f"  jiyu check --model-dir {target} \"...\"\n  jiyu scan --model-dir {target} FILE\n"
          f"  jiyu eval --model-dir {target} --split dev\n  JIYU_MODEL_DIR={target} jiyu serve", file=sys.stderr)
    return 0


def cmd_false_alarms(args: argparse.Namespace) -> int:
    """`jiyu eval --false-alarms FILE...`: flag rates and the worst lines on text known to be clean."""
    from types import SimpleNamespace

    from . import false_alarms, scan
    from .detector import Detector
    from .inputs import BadRecord, RawLine, jsonl_record

    texts, bad = [], 0
    opts = SimpleNamespace(text_column=args.text_field, id_field="id", encoding=args.encoding)
    for name in args.false_alarms:
        path = Path(name)
        if not path.is_file():
            print(f"jiyu eval: {name}: no such file", file=sys.stderr)
            return 2
        fmt = scan.detect(path, encoding=args.encoding)
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
    d = Detector(args.lexicon or (), classifier=args.classifier, model_dir=args.model_dir)
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
    d = Detector(args.lexicon or (), mode=args.mode, model_dir=args.model_dir)
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
    import shutil
    import tempfile

    import uvicorn

    from api.settings import Settings, keys_configured_but_empty

    if args.lexicon:
        os.environ["JIYU_LEXICONS"] = os.pathsep.join(args.lexicon)
    settings = Settings.from_env()
    try:
        loopback = args.host == "localhost" or ipaddress.ip_address(args.host).is_loopback
    except ValueError:
        loopback = False
    for var in ("JIYU_API_KEYS", "JIYU_ADMIN_KEYS"):
        if keys_configured_but_empty(var):  # meant to lock the API, and did not
            if not loopback and not args.insecure_no_auth:
                print(f"jiyu serve: {var} is set but holds no key: refusing to listen on {args.host} unprotected", file=sys.stderr)
                return 2
            print(f"jiyu serve: warning: {var} is set but holds no key", file=sys.stderr)
    if not settings.api_keys and not loopback and not args.insecure_no_auth:
        print(
            f"jiyu serve: refusing to listen on {args.host} without API keys: set JIYU_API_KEYS or JIYU_API_KEYS_FILE,"
            " or pass --insecure-no-auth",
            file=sys.stderr,
        )
        return 2
    os.environ["JIYU_LOG_LEVEL"] = args.log_level.upper()  # read by every worker's create_app
    made = []
    if args.workers > 1 and not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        made.append(tempfile.mkdtemp(prefix="jiyu-metrics-"))  # /metrics sums all workers
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = made[-1]
    if not os.environ.get("JIYU_STATE_DIR"):  # where a reload reaches every worker (api/reload.py)
        made.append(tempfile.mkdtemp(prefix="jiyu-state-"))
        os.environ["JIYU_STATE_DIR"] = made[-1]
    try:
        uvicorn.run(
            "api.app:create_app", factory=True, host=args.host, port=args.port, workers=args.workers,
            loop="uvloop", http="httptools", access_log=False, log_level=args.log_level,
        )
    finally:
        for directory in made:  # nothing of ours left behind in the temp directory
            shutil.rmtree(directory, ignore_errors=True)
    return 0


class _Help(argparse.RawDescriptionHelpFormatter):
    """Each option's default after its help (where it has one worth saying); examples kept as written."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        if "default" in text or action.default in (None, False, True, argparse.SUPPRESS, []) or not action.option_strings:
            return text
        return f"{text} (default: {action.default})"


def _examples(*lines: str) -> str:
    return "examples:\n" + "\n".join(f"  {line}" for line in lines)


def _versions_text() -> str:
    """`jiyu --version`: the package, and the lexicon and models it ships."""
    from . import __version__
    from .context import ContextModel, ContextModelError
    from .lexicon import Lexicon
    from .tone import ModelError, ToneModel

    try:
        model = ToneModel.load(SHIPPED_MODELS).version
    except ModelError as e:
        model = f"unavailable ({e})"
    try:
        context = ContextModel.load().version
    except ContextModelError as e:
        context = f"unavailable ({e})"
    return f"jiyu {__version__} (lexicon {Lexicon.load([]).version}, model {model}, context model {context})"


class _Version(argparse.Action):
    """Loads the lexicon and models only when asked."""

    def __init__(self, option_strings: list[str], dest: str = argparse.SUPPRESS, **kw) -> None:  # noqa: ANN003
        super().__init__(option_strings, dest, nargs=0, default=argparse.SUPPRESS, help="print the package, lexicon and model versions")

    def __call__(self, parser, namespace, values, option_string=None) -> None:  # noqa: ANN001
        print(_versions_text())
        parser.exit()


def build_parser() -> argparse.ArgumentParser:
    from .scorer import MODES

    parser = argparse.ArgumentParser(prog="jiyu", description="Find 忌语 (forbidden service language) in Chinese customer-service text.",
                                     formatter_class=_Help)
    parser.add_argument("--version", action=_Version)
    sub = parser.add_subparsers(dest="command", required=True, help="the command (jiyu COMMAND --help for its options)")

    def command(name: str, help: str, *examples: str) -> argparse.ArgumentParser:  # noqa: A002
        return sub.add_parser(name, help=help, description=help, formatter_class=_Help, epilog=_examples(*examples))

    p = command("check", "check one or more texts and explain the verdict",
                'jiyu check "有完没完啊你"', 'jiyu check --json "喂，您好" "问别人去"',
                'jiyu check --mode realtime --fail-on violation "$REPLY"   # exit 1 blocks the reply')
    p.add_argument("text", nargs="+", help="text to check ('-' reads one text per line from stdin)")
    p.add_argument("--json", action="store_true", help="one JSON verdict per text")
    p.add_argument("--fail-on", choices=sorted(FAIL_ON), help="exit 1 when a text reaches this decision (default: always exit 0)")
    _add_common(p, "qa")
    p.set_defaults(func=cmd_check)

    p = command("scan", "score files of replies or calls: text, JSONL, CSV, conversations, transcripts, subtitles, ASR JSON",
                "jiyu scan replies.jsonl -o out.jsonl --errors bad.jsonl",
                "jiyu scan calls/*.srt -o calls.jsonl --violations-csv v.csv --summary s.json --html report.html",
                "jiyu scan turns.csv --columns conversation_id=call_id,speaker=role,text=content,agent_id=staff",
                "cat replies.jsonl | jiyu scan - --fail-on violation --quiet",
                "jiyu scan day.jsonl -o out.jsonl --resume --workers 2   # continue after Ctrl-C or a crash")
    p.add_argument("input", nargs="+", help="input file(s); - reads standard input")
    p.add_argument("-o", "--output", help="write JSONL results here (default: stdout)")
    p.add_argument("--format", choices=SCAN_FORMATS, default="auto", metavar="FORMAT",  # a metavar: argparse lists the choices only for help
                   help="%(choices)s; auto: by extension and content (see README)")
    p.add_argument("--encoding", default="auto", help="every format: auto (UTF-8, UTF-16 with BOM, else GB18030/GBK), or a codec name")
    p.add_argument("--text-field", default="text", help="JSONL field holding the text")
    p.add_argument("--text-column", default="text", help="CSV column holding the text")
    p.add_argument("--id-field", default="id", help="JSONL field / CSV column holding the id (missing: the line number)")
    p.add_argument("--keep", action="append", default=[], metavar="FIELD",
                   help="calls: a turn field to copy into each of its violations, e.g. an ASR confidence (repeatable;"
                        " utterance records keep all their fields)")
    p.add_argument("--roles", nargs="+", default=["agent"], help="conversation roles to judge")
    p.add_argument("--agent-speakers", nargs="+", default=[], metavar="NAME", help="speaker names that are agents (e.g. spk0, 工号1024)")
    p.add_argument("--no-infer-agent", dest="infer_agent", action="store_false",
                   help="never infer the agent from what speakers say: a call with no speaker named as agent is skipped")
    p.add_argument("--agent-channel", metavar="N", help="dual-channel ASR JSON: channel N is the agent, every other channel the customer")
    p.add_argument("--agent-field", default="agent_id", help="conversation field naming the agent, for the per-agent summary")
    p.add_argument("--columns", help="turns-csv header names for conversation_id, order, speaker, start, end, text, agent_id,"
                                     " channel, e.g. conversation_id=call_id,speaker=role")
    p.add_argument("--score-sheet", metavar="YAML", help="QA score sheet (default: detector/scoresheets/default.yaml)")
    p.add_argument("--errors", metavar="FILE", help="also write skipped records here as JSONL")
    p.add_argument("--violations-csv", metavar="FILE", help="one row per evidence span (UTF-8 with BOM, opens in Excel)")
    p.add_argument("--summary", metavar="FILE", help="write totals per category and per agent as JSON (the whole output, with --resume)")
    p.add_argument("--html", metavar="FILE", help="self-contained HTML report of flagged calls for trainers")
    p.add_argument("--resume", action="store_true", help="skip records already in -o (after a crash or Ctrl-C)")
    p.add_argument("--fail-on", choices=sorted(FAIL_ON), help="exit 1 when any record reaches this decision")
    p.add_argument("--strict", action="store_true", help="exit 1 if any record was skipped")
    p.add_argument("--workers", type=int, default=1, help="worker processes (each judges whole chunks; output stays in input order)")
    p.add_argument("--progress", action=argparse.BooleanOptionalAction, default=sys.stderr.isatty(), help="progress bar on stderr (default: when stderr is a terminal)")
    p.add_argument("-q", "--quiet", action="store_true", help="no per-record messages or summary on stderr (--errors still gets them)")
    _add_common(p, "qa")
    p.set_defaults(func=cmd_scan)

    from .spark_cli import add_parser as add_spark_scan  # pyspark is imported only when spark-scan runs

    add_spark_scan(command, _add_common)

    p = command("serve", "run the HTTP API (see api/ and README)",
                "JIYU_API_KEYS=k1,k2 jiyu serve --host 0.0.0.0 --workers 2", "curl -s localhost:8000/v1/check -H 'content-type: application/json' -d '{\"text\":\"有完没完\"}'")
    p.epilog = ("environment:\n  JIYU_API_KEYS / JIYU_API_KEYS_FILE   client keys (comma-separated / one per line); none: loopback only\n"
                "  JIYU_ADMIN_KEYS / JIYU_ADMIN_KEYS_FILE   keys for POST /v1/admin/reload\n"
                "  JIYU_MODE (realtime)   JIYU_LEXICONS (extra packs, os.pathsep-separated)   JIYU_MODEL_DIR (a trained model)\n"
                "  JIYU_CLASSIFIER (1)   JIYU_MAX_TEXT_CHARS (10000)   JIYU_MAX_BATCH (256)   JIYU_MAX_TURNS (2000)\n"
                "  JIYU_CACHE_SIZE (10000)   JIYU_LOG_TEXT (0)   JIYU_PUBLIC_PATHS (/healthz,/readyz: need no key)\n"
                "  JIYU_MAX_IN_FLIGHT (128)   JIYU_REQUEST_TIMEOUT (5 s)   JIYU_MAX_BODY_BYTES (2 MiB)   JIYU_BODY_TIMEOUT (10 s)\n"
                "  JIYU_MAX_REQUEST_CHARS (200000)   JIYU_THREADS (2)   JIYU_STATE_DIR (reload state; made when unset)\n\n" + p.epilog)
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (beyond loopback needs API keys)")
    p.add_argument("--port", type=int, default=8000, help="TCP port")
    p.add_argument("--workers", type=int, default=1, help="worker processes, each with its own detector")
    p.add_argument("--lexicon", action="append", metavar="DIR", help="extra lexicon pack (repeatable; same as JIYU_LEXICONS)")
    p.add_argument("--insecure-no-auth", action="store_true", help="allow listening beyond loopback without API keys")
    p.add_argument("--log-level", default="info", help="uvicorn and jiyu log level")
    p.set_defaults(func=cmd_serve)

    p = command("train", "train the tone classifier and the context model (deterministic; about 40 s)",
                "jiyu train                                   # into jiyu-models/<time>/; prints how to use it",
                "jiyu train --model-dir my-model && jiyu eval --split test --model-dir my-model",
                "jiyu train --extra feedback/review-corpus.jsonl   # reviewed items beside data/tone/")
    p.add_argument("--model-dir", help="where to write the model (default: a new jiyu-models/<UTC time>/ directory)")
    p.add_argument("--force", action="store_true", help="overwrite a model already in --model-dir")
    p.add_argument("--replace-shipped", action="store_true", help="write into the shipped models/ (releasing a new model)")
    p.add_argument("--extra", action="append", default=[], metavar="FILE",
                   help="more training lines in the data/tone format, e.g. jiyu review export's review-corpus.jsonl"
                        " (repeatable; train split only: a copy of an evaluation line is refused)")
    p.set_defaults(func=cmd_train)

    p = command("eval", "per-category metrics of lexicon, classifier and fused verdicts on labelled JSONL",
                "jiyu eval --split test", "jiyu eval heldout.jsonl --mode realtime",
                "jiyu eval --false-alarms yesterday_clean_replies.csv --text-field reply")
    p.add_argument("data", nargs="?", help="JSONL with text and labels (list) or label (0/1)")
    p.add_argument("--split", choices=("dev", "test"), help="evaluate on a split of the bundled corpus (data/tone) instead")
    p.add_argument("--assume-none", action="store_true", help="lines without labels are polite text (label none)")
    p.add_argument("--lexicon", action="append", metavar="DIR", help="extra lexicon pack (repeatable)")
    p.add_argument("--mode", choices=sorted(MODES), default="qa", help="decision thresholds")
    p.add_argument("--model-dir", metavar="DIR", help="a model trained with `jiyu train` (default: the shipped models/)")
    p.add_argument("--false-alarms", nargs="+", metavar="FILE",
                   help="text known to be clean (JSONL, CSV or text lines): share flagged per mode, source and rule, and the worst lines")
    p.add_argument("--text-field", default="text", help="with --false-alarms: the JSONL field / CSV column holding the text")
    p.add_argument("--encoding", default="auto", help="with --false-alarms: auto (UTF-8, UTF-16, GB18030) or a codec name")
    p.add_argument("--top", type=int, default=30, help="with --false-alarms: how many of the highest-scoring lines to show")
    p.add_argument("--json", action="store_true", help="with --false-alarms: one JSON object instead of the table")
    p.add_argument("--no-classifier", dest="classifier", action="store_false", help="with --false-alarms: lexicon path only")
    p.set_defaults(func=cmd_eval)

    p = command("lexicon", "lexicon tools", "jiyu lexicon check my_pack/")
    lsub = p.add_subparsers(dest="lexicon_command", required=True, help="what to do with lexicon packs")
    q = lsub.add_parser("check", help="validate lexicon packs (default pack plus DIRs); exit 1 on any problem",
                        formatter_class=_Help, epilog=_examples("jiyu lexicon check", "jiyu lexicon check my_pack/ --no-default"))
    q.add_argument("dirs", nargs="*", metavar="DIR", help="lexicon pack directories")
    q.add_argument("--no-default", action="store_true", help="check DIRs without layering them over the default pack")
    q.set_defaults(func=cmd_lexicon_check)

    from review.cli import add_parser as add_review  # the review workbench: its own package (review/)

    add_review(command)
    return parser


def main(argv: list[str] | None = None) -> int:
    # First of all, SIGINT and SIGTERM end the command quietly (jiyu scan takes them over to stop
    # between records); the imports below take a moment and a Ctrl-C then must not print a traceback.
    previous = {s: signal.signal(s, _stop) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        from .context import ContextModelError
        from .inputs import InputError
        from .lexicon import LexiconError
        from .tone import ModelError

        try:
            args = build_parser().parse_args(argv)
            return args.func(args)
        except (LexiconError, ModelError, ContextModelError, InputError) as e:
            print(f"jiyu: {e}", file=sys.stderr)
            return 2
        except BrokenPipeError:
            return 0
    except _Stopped as e:
        print(f"jiyu: stopped by {signal.Signals(e.signum).name}", file=sys.stderr)
        return 128 + e.signum
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)


class _Stopped(BaseException):  # like KeyboardInterrupt: nothing may swallow it
    def __init__(self, signum: int) -> None:
        self.signum = signum


def _stop(signum: int, frame) -> None:  # noqa: ANN001
    raise _Stopped(signum)


if __name__ == "__main__":
    sys.exit(main())
