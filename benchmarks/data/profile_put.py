"""Profile one first put of a folder in-process: `python profile_put.py FOLDER [--profile]`.

Prints the wall time (and, with --profile, the top functions by cumulative time); the home
is a fresh temporary FLOWYARD_HOME each time.
"""

from __future__ import annotations

import cProfile
import pstats
import sys
import tempfile
import time
from pathlib import Path

from flowyard.data import DataStore
from flowyard.settings import Settings


def main() -> None:
    folder = sys.argv[1]
    with tempfile.TemporaryDirectory(prefix="fy-prof-") as home:
        settings = Settings(home=Path(home))
        with DataStore.from_settings(settings) as ds:
            ds.create_repo("bench")
            prof = cProfile.Profile() if "--profile" in sys.argv else None
            start = time.perf_counter()
            if prof is not None:
                prof.enable()
            result = ds.put("bench@master", [folder])
            if prof is not None:
                prof.disable()
            took = time.perf_counter() - start
            print(f"first put: {took:.2f} s, {result.files} files")
            again = time.perf_counter()
            ds.put("bench@master", [folder])
            print(f"re-put: {time.perf_counter() - again:.2f} s")
            if prof is not None:
                pstats.Stats(prof).sort_stats("cumulative").print_stats(35)


if __name__ == "__main__":
    main()
