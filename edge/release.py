"""The release of hallops this process runs: the installed distribution's version, as pyproject.toml gives it.

One place for it — `/api/health`, the API document and the backup manifest say the same — so a package built from
a tagged tree never reports an older number written into the code by hand. A tree run without being installed
(no distribution metadata) says so instead of guessing.
"""

from __future__ import annotations

from importlib import metadata


def _version() -> str:
    try:
        return metadata.version("hallops")
    except metadata.PackageNotFoundError:
        return "0+unknown"


VERSION = _version()
