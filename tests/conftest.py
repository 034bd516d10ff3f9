import atexit
import os
import shutil
import tempfile

import pytest

# The start-up caches (detector.diskcache) of this test session, in a folder of its own: tests
# neither read nor fill the user's ~/.cache/jiyu (subprocesses inherit the variable).
os.environ["JIYU_CACHE_DIR"] = _CACHE = tempfile.mkdtemp(prefix="jiyu-test-cache-")
atexit.register(shutil.rmtree, _CACHE, ignore_errors=True)

from detector import Detector  # noqa: E402


@pytest.fixture(scope="session")
def lexicon_detector() -> Detector:
    """The lexicon path alone (what the lexicon tests judge)."""
    return Detector(classifier=False)


@pytest.fixture(scope="session")
def detector() -> Detector:
    """The default detector: lexicon and tone classifier fused."""
    return Detector()


@pytest.fixture(scope="session")
def tone():
    """The bundled tone model."""
    from detector.tone import ToneModel

    return ToneModel.load()


# -- the review store, on SQLite and on a real PostgreSQL server -----------------------------


@pytest.fixture(scope="session")
def postgres():
    """A PostgreSQL server of our own for the session (tests/pgserver.py); skipped only when no
    PostgreSQL is installed at all (.ci/run installs it)."""
    from pgserver import PostgresServer, find_bindir

    bindir = find_bindir()
    if bindir is None:
        pytest.skip("no PostgreSQL binaries (initdb, pg_ctl) found: apt-get install postgresql")
    server = PostgresServer(bindir)
    server.start()
    yield server
    server.stop()


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request, tmp_path) -> str:
    """An empty database URL of each backend."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'review.db'}"
    return request.getfixturevalue("postgres").new_database()


@pytest.fixture
def store(store_url):
    """An engine on a migrated, empty review store."""
    from review import db

    engine = db.engine_for(store_url)
    db.upgrade(engine)
    yield engine
    engine.dispose()
