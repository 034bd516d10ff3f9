"""Where the bundled data lives: the repository root in a checkout, inside the package in a wheel."""

from pathlib import Path

_HERE = Path(__file__).resolve().parent


def bundled(name: str) -> Path:
    """`lexicons` or `models`: detector/<name> in an installed wheel, else <repo>/<name>."""
    inside = _HERE / name
    return inside if inside.is_dir() else _HERE.parent / name
