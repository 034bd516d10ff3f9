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
