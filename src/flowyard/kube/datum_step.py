"""In-image entry point of a rendered DataPipeline Workflow (list, process, commit).

Not implemented yet: the cluster side needs the platform's data store settings
(FLOWYARD_DATABASE_URL, FLOWYARD_OBJECT_STORE_URL) wired into the step pods. Until then it
fails loudly instead of pretending to run.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    action = args[0] if args else "?"
    print(f"flowyard: datum_step {action}: running DataPipelines on Kubernetes is not "
          "implemented yet (issue 7); run them locally with `flowyard data`", file=sys.stderr)
    return 3


if __name__ == "__main__":
    sys.exit(main())
