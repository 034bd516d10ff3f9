"""`jiyu review ...`: the review workbench's commands. detector/cli.py mounts them with
add_parser(); nothing heavy is imported until a review command runs."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path


def _examples(*lines: str) -> str:
    return "examples:\n" + "\n".join(f"  {line}" for line in lines)


def _add_db(p: argparse.ArgumentParser) -> None:
    p.add_argument("--db", metavar="URL", help="the review database: sqlite:///FILE or postgresql+psycopg://USER:PASSWORD@HOST/DB"
                                              " (default: $JIYU_REVIEW_DB, else sqlite:///jiyu-review.db)")


def add_parser(command: Callable[..., argparse.ArgumentParser]) -> argparse.ArgumentParser:
    """Add `review` through the main CLI's `command(name, help, *examples)`."""
    p = command("review", "the review workbench: import flagged records from jiyu scan into a queue for reviewers",
                "jiyu scan calls.jsonl -o scanned.jsonl && jiyu review import scanned.jsonl --conversations calls.jsonl",
                "jiyu review stats", "JIYU_REVIEW_DB=postgresql+psycopg://qa@dbhost/review jiyu review db upgrade")
    fmt = p.formatter_class
    sub = p.add_subparsers(dest="review_command", required=True, help="what to do (jiyu review COMMAND --help)")

    def cmd(parent, name: str, help: str, *examples: str) -> argparse.ArgumentParser:  # noqa: A002, ANN001
        return parent.add_parser(name, help=help, description=help, formatter_class=fmt, epilog=_examples(*examples))

    q = cmd(sub, "db", "the database schema", "jiyu review db upgrade --db sqlite:///review.db", "jiyu review db current")
    dsub = q.add_subparsers(dest="db_command", required=True, help="what to do with the schema")
    r = cmd(dsub, "upgrade", "create the tables, or migrate them to this version of jiyu (a no-op when current)",
            "jiyu review db upgrade", "jiyu review db upgrade --db postgresql+psycopg://qa:secret@localhost/review")
    _add_db(r)
    r.set_defaults(func=cmd_db_upgrade)
    r = cmd(dsub, "current", "print the schema revision of the database and the one this jiyu needs",
            "jiyu review db current --db sqlite:///review.db")
    _add_db(r)
    r.set_defaults(func=cmd_db_current)

    q = cmd(sub, "import", "queue the flagged records of jiyu scan output (utterance verdicts and call reports) for review;"
                           " importing a file again adds nothing twice",
            "jiyu review import scanned.jsonl",
            "jiyu review import day1.jsonl day2.jsonl --conversations calls1.jsonl calls2.jsonl --team 华东一组",
            "jiyu review import out.jsonl --db sqlite:///review.db --strict   # exit 1 if a line was skipped")
    q.add_argument("files", nargs="+", metavar="FILE", help="JSONL written by `jiyu scan` (-o or stdout)")
    q.add_argument("--conversations", nargs="+", default=[], metavar="FILE",
                   help="the conversations JSONL that jiyu scan read: each call's turns (speakers, times) kept as context")
    q.add_argument("--team", help="queue every imported item for this team (created if new; default: the agent's team, if known)")
    q.add_argument("--mode", choices=("qa", "realtime"), default="qa",
                   help="the scan's mode, for records that do not say (call reports); jiyu scan defaults to qa")
    q.add_argument("--strict", action="store_true", help="exit 1 if any line was skipped")
    q.add_argument("-q", "--quiet", action="store_true", help="no per-line messages on stderr, only the summary")
    _add_db(q)
    q.set_defaults(func=cmd_import)

    q = cmd(sub, "export", "write what reviewers decided as files for the detector: tone-corpus lines (jiyu train --extra),"
                           " a lexicon pack proposal, and a before/after report; nothing is applied",
            "jiyu review export feedback/", "jiyu train --extra feedback/review-corpus.jsonl --model-dir m2",
            "jiyu review export feedback/ --since 2026-05-01 --min-reviewers 2 --model-dir m2")
    q.add_argument("out_dir", metavar="OUT_DIR", help="where to write review-corpus.jsonl, pack/ and report.md")
    q.add_argument("--since", metavar="DATE", help="only items decided on or after DATE (YYYY-MM-DD or an ISO time, UTC)")
    q.add_argument("--min-reviewers", type=int, default=1, metavar="N", help="only items decided by at least N people")
    q.add_argument("--min-repeats", type=int, default=3, metavar="N",
                   help="a confirmed classifier-only phrase becomes a candidate lexicon phrase once N items say it")
    q.add_argument("--model-dir", metavar="DIR", help="a model retrained with jiyu train --extra: the report compares it too")
    q.add_argument("--lexicon", action="append", default=[], metavar="DIR", help="packs already deployed over the default"
                                                                             " (the proposal layers over them; repeatable)")
    _add_db(q)
    q.set_defaults(func=cmd_export)

    q = cmd(sub, "serve", "the review web UI: queue, item pages with keyboard decisions, second review, appeals, coaching,"
                          " audit (the first run on a new database asks for an admin user)",
            "jiyu review serve", "jiyu review serve --db sqlite:///review.db --port 8100 --mask --second-share 0.1",
            "JIYU_REVIEW_SECRET=... jiyu review serve --host 0.0.0.0 --secure-cookies   # behind an HTTPS proxy")
    q.add_argument("--host", default="127.0.0.1", help="address to listen on (default: loopback only)")
    q.add_argument("--port", type=int, default=8100, help="port to listen on (default 8100)")
    q.add_argument("--mask", action="store_true", help="show phone, ID and card numbers masked (138****5678) in the UI and exports")
    q.add_argument("--second-share", type=_share, default=0.1, metavar="0..1",
                   help="share of first reviews sampled for a blind second review (default 0.1)")
    q.add_argument("--secure-cookies", action="store_true", help="mark the session cookie Secure (serve behind HTTPS)")
    _add_db(q)
    q.set_defaults(func=cmd_serve)

    q = cmd(sub, "users", "the workbench's accounts (reviewer, lead, admin)",
            "jiyu review users add wang --role reviewer --team 华东一组", "jiyu review users list")
    usub = q.add_subparsers(dest="users_command", required=True, help="what to do")
    r = cmd(usub, "add", "add a user (the password is asked for twice, or read from stdin)",
            "jiyu review users add li --role lead", "printf '%s\\n' \"$PW\" | jiyu review users add bot --role reviewer --team T --password-stdin")
    r.add_argument("name", help="the user name they sign in with")
    r.add_argument("--role", choices=("reviewer", "lead", "admin"), required=True,
                   help="reviewer: reviews their teams' items; lead: all items, disputes, appeals, audit; admin: as lead")
    r.add_argument("--team", action="append", default=[], metavar="T", help="a team the user belongs to (repeatable; created if new)")
    r.add_argument("--display-name", help="the name the UI shows (default: the user name)")
    r.add_argument("--password-stdin", action="store_true", help="read the password from the first line of stdin")
    _add_db(r)
    r.set_defaults(func=cmd_users_add)
    r = cmd(usub, "list", "list the users, their roles and teams", "jiyu review users list")
    _add_db(r)
    r.set_defaults(func=cmd_users_list)
    r = cmd(usub, "passwd", "set a user's password (their browsers sign in again)", "jiyu review users passwd wang")
    r.add_argument("name", help="the user whose password changes")
    r.add_argument("--password-stdin", action="store_true", help="read the password from the first line of stdin")
    _add_db(r)
    r.set_defaults(func=cmd_users_passwd)

    q = cmd(sub, "stats", "count the items per review state, outcome, category and scored decision",
            "jiyu review stats", "jiyu review stats --json --db sqlite:///review.db")
    q.add_argument("--json", action="store_true", help="one JSON object instead of the table")
    _add_db(q)
    q.set_defaults(func=cmd_stats)
    return p


def _run(body: Callable[[], int]) -> int:
    """Database problems are the user's to fix: a message and exit 2, no traceback."""
    try:
        from sqlalchemy.exc import OperationalError, ProgrammingError
    except ImportError:
        print("jiyu review: the review workbench needs its extra: pip install 'jiyu[review]'", file=sys.stderr)
        return 2

    from .db import StoreError

    try:
        return body()
    except StoreError as e:
        print(f"jiyu review: {e}", file=sys.stderr)
    except (OperationalError, ProgrammingError) as e:
        print(f"jiyu review: database error: {str(e.orig).strip().splitlines()[0]}", file=sys.stderr)
    return 2


def _engine(args: argparse.Namespace):  # noqa: ANN202
    from .db import engine_for

    return engine_for(args.db)


def cmd_db_upgrade(args: argparse.Namespace) -> int:
    def body() -> int:
        from .db import upgrade

        engine = _engine(args)
        before, after = upgrade(engine)
        where = engine.url.render_as_string(hide_password=True)
        print(f"{where}: schema {after}" + (" (already current)" if before == after else f" (was {before or 'empty'})"))
        return 0

    return _run(body)


def cmd_db_current(args: argparse.Namespace) -> int:
    def body() -> int:
        from .db import current_revision, head_revision

        engine = _engine(args)
        current, head = current_revision(engine), head_revision()
        print(f"{engine.url.render_as_string(hide_password=True)}: schema {current or 'none'}; this jiyu needs {head}")
        return 0 if current == head else 1

    return _run(body)


def cmd_import(args: argparse.Namespace) -> int:
    paths = [Path(f) for f in args.files]
    conversations = [Path(f) for f in args.conversations]
    for path in paths + conversations:
        if not path.is_file():
            print(f"jiyu review: {path}: {'is a directory, not a file' if path.is_dir() else 'no such file'}", file=sys.stderr)
            return 2

    def body() -> int:
        from .db import ready, sessions
        from .importer import import_files

        engine = _engine(args)
        ready(engine)
        with sessions(engine)() as session:
            r = import_files(session, paths, conversations=conversations, team=args.team, default_mode=args.mode,
                             report=(lambda m: None) if args.quiet else (lambda m: print(f"jiyu review: {m}", file=sys.stderr)))
        calls = f" ({r.conversations} new calls, {r.context} given their turns)" if r.conversations or r.context else ""
        print(f"imported {r.added} items{calls}; {r.duplicates} already in the store; {r.unflagged} records passed"
              f" (not queued); {r.bad} bad lines skipped -> {engine.url.render_as_string(hide_password=True)}")
        return 1 if args.strict and r.bad else 0

    return _run(body)


def cmd_stats(args: argparse.Namespace) -> int:
    def body() -> int:
        from .db import ready, sessions
        from .queue import counts

        engine = _engine(args)
        ready(engine, create=False)
        with sessions(engine)() as session:
            c = counts(session)
        if args.json:
            print(json.dumps(c, ensure_ascii=False))
            return 0
        print(f"{c['items']} items")
        for group in ("state", "outcome", "category", "decision"):
            print(f"  {group:9s} " + "  ".join(f"{k} {n}" for k, n in c[group].items()))
        return 0

    return _run(body)


def cmd_export(args: argparse.Namespace) -> int:
    import datetime as dt

    try:
        since = dt.datetime.fromisoformat(args.since) if args.since else None
    except ValueError:
        print(f"jiyu review: --since {args.since!r}: expected a date such as 2026-05-01", file=sys.stderr)
        return 2
    if since is not None and since.tzinfo is not None:  # the store keeps naive UTC
        since = since.astimezone(dt.UTC).replace(tzinfo=None)
    if args.min_reviewers < 1 or args.min_repeats < 1:
        print("jiyu review: --min-reviewers and --min-repeats need at least 1", file=sys.stderr)
        return 2
    for d in [args.model_dir, *args.lexicon]:
        if d and not Path(d).is_dir():
            print(f"jiyu review: {d}: no such directory", file=sys.stderr)
            return 2
    out = Path(args.out_dir)
    if out.exists() and not out.is_dir():
        print(f"jiyu review: {out}: not a directory", file=sys.stderr)
        return 2

    def body() -> int:
        from .db import ready, sessions
        from .export import export

        engine = _engine(args)
        ready(engine, create=False)
        with sessions(engine)() as session:
            r = export(session, out, since=since, min_reviewers=args.min_reviewers, min_repeats=args.min_repeats,
                       model_dir=Path(args.model_dir) if args.model_dir else None,
                       lexicons=tuple(Path(d) for d in args.lexicon), log=lambda m: print(m, file=sys.stderr))
        print(f"exported {r['items']} reviewed items ({r['confirmed']} confirmed) -> {r['corpus']}, {r['pack']}/ ({r['proposal']}),"
              f" {r['report']}. Nothing is applied: check the pack with `jiyu lexicon check {r['pack']}`,"
              f" retrain with `jiyu train --extra {r['corpus']}`.")
        return 0

    return _run(body)


def _share(value: str) -> float:
    try:
        x = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a number") from None
    if not 0 <= x <= 1:
        raise argparse.ArgumentTypeError("a share between 0 and 1")
    return x


def cmd_serve(args: argparse.Namespace) -> int:
    def body() -> int:
        from .db import ready
        from .users import count_users, first_admin

        engine = _engine(args)
        ready(engine)
        if not count_users(engine):
            if not sys.stdin.isatty():
                print("jiyu review: no users yet: add one first, e.g. jiyu review users add admin --role admin", file=sys.stderr)
                return 2
            print("No users yet: create the first admin.", file=sys.stderr)
            first_admin(engine)
        import uvicorn

        from .web import create_app

        app = create_app(engine, mask=args.mask, second_share=args.second_share, secure_cookies=args.secure_cookies)
        where = engine.url.render_as_string(hide_password=True)
        print(f"jiyu review: {where} on http://{args.host}:{args.port}/ (Ctrl-C stops)", file=sys.stderr)
        uvicorn.run(app, host=args.host, port=args.port, log_level="info")
        return 0

    return _run(body)


def cmd_users_add(args: argparse.Namespace) -> int:
    def body() -> int:
        from .db import ready
        from .users import UserError, add_user, read_password

        engine = _engine(args)
        ready(engine)
        try:
            add_user(engine, args.name, args.role, args.team, read_password(args.password_stdin), args.display_name)
        except UserError as e:
            print(f"jiyu review: {e}", file=sys.stderr)
            return 2
        teams = f" in {', '.join(args.team)}" if args.team else ""
        print(f"added {args.name} ({args.role}{teams})")
        if args.role == "reviewer" and not args.team:
            print("note: a reviewer sees only their teams' items; this one has no team yet (--team)", file=sys.stderr)
        return 0

    return _run(body)


def cmd_users_list(args: argparse.Namespace) -> int:
    def body() -> int:
        from .db import ready
        from .users import list_users

        engine = _engine(args)
        ready(engine, create=False)
        for u in list_users(engine):
            last = u["last_login_at"].isoformat(timespec="minutes") if u["last_login_at"] else "never"
            print(f"{u['username']:20s} {u['role']:8s} {'active' if u['active'] else 'disabled':8s} last login {last:16s}"
                  f" teams: {', '.join(u['teams']) or '-'}")
        return 0

    return _run(body)


def cmd_users_passwd(args: argparse.Namespace) -> int:
    def body() -> int:
        from .db import ready
        from .users import UserError, read_password, set_password

        engine = _engine(args)
        ready(engine, create=False)
        try:
            set_password(engine, args.name, read_password(args.password_stdin))
        except UserError as e:
            print(f"jiyu review: {e}", file=sys.stderr)
            return 2
        print(f"password of {args.name} changed; their sessions ended")
        return 0

    return _run(body)
