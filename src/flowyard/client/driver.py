"""Drive one run to the end in its own process: `python -m flowyard.client.driver MODE RUN_ID`.

Started by `Client.run(..., wait=False)` (`flowyard run --detach`) and by `retry`/`resume`
without waiting. Settings come from the FLOWYARD_* environment the parent passed on.
"""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 2 or args[0] not in ("execute", "retry", "resume"):
        print("usage: python -m flowyard.client.driver execute|retry|resume RUN_ID",
              file=sys.stderr)
        return 2
    mode, run_id = args
    from flowyard.client.client import Client, settings_from_env
    from flowyard.client.embedded import EmbeddedTransport

    # Always in-process: a `flowyard login` kept in this FLOWYARD_HOME (or FLOWYARD_SERVER)
    # would make Client() ask the platform to drive the run, which is this driver's job, and
    # both would wait for each other forever.
    with Client(transport=EmbeddedTransport(settings_from_env())) as client:
        transport = client.transport
        call = {"execute": transport.execute, "retry": transport.retry,
                "resume": transport.resume}[mode]
        record = call(run_id, on_event=None)
    print(f"run {run_id} {record.state}", flush=True)
    return 0 if record.state == "Succeeded" else 1


if __name__ == "__main__":
    sys.exit(main())
