import pytest

from detector import Detector


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
