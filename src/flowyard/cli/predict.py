"""`flowyard predict URL MODEL --data JSON` (or `--graph GRAPH.yaml`, no server needed)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any, Literal

import typer

from flowyard.cli.output import OutputFormat


def predict_command(
    target: Annotated[str | None, typer.Argument(
        help="Server URL (http://127.0.0.1:8080); leave out with --graph.",
        show_default=False, metavar="URL")] = None,
    model: Annotated[str | None, typer.Argument(
        help="V2 model name: the graph, a predictor or a node (default with --graph: the "
             "graph's name). Not used by --protocol seldon.",
        show_default=False, metavar="MODEL")] = None,
    data: Annotated[str, typer.Option(
        "--data", "-d", metavar="JSON|@FILE",
        help="Rows as JSON ([[5.1, 3.5, 1.4, 0.2]]), a full V2 or Seldon request body, or "
             "@file.json (@- reads stdin).", show_default=False)] = "",
    graph: Annotated[Path | None, typer.Option(
        "--graph", "-g", metavar="GRAPH.yaml",
        help="Load this InferenceGraph in-process and predict without a server.",
        show_default=False)] = None,
    protocol: Annotated[str, typer.Option(
        "--protocol", help="v2 (Open Inference Protocol) or seldon (v1).")] = "v2",
    predictor: Annotated[str | None, typer.Option(
        "--predictor", help="Send to this predictor (X-Flowyard-Predictor header).",
        show_default=False)] = None,
    reward: Annotated[float | None, typer.Option(
        "--feedback", metavar="REWARD",
        help="Then send Seldon feedback with this reward (0..1) for the routed branch.",
        show_default=False)] = None,
    timeout: Annotated[float, typer.Option("--timeout", help="Seconds per request.")] = 30.0,
    output: Annotated[OutputFormat, typer.Option(
        "--output", "-o", help="table (readable), json or yaml.")] = OutputFormat.table,
) -> None:
    """Send one prediction to a served graph and print the answer."""
    from flowyard.errors import InvalidInput
    from flowyard.serving.client import LocalGraph, feedback, predict

    if protocol not in ("v2", "seldon"):
        raise InvalidInput(f"--protocol {protocol!r} is not v2 or seldon")
    if not data:
        raise InvalidInput("--data is required", hint="--data '[[5.1, 3.5, 1.4, 0.2]]' or "
                                                      "--data @request.json")
    if graph is not None:
        if model is None and target is not None:  # `predict --graph g.yaml MODEL`
            target, model = None, target
        if target is not None:
            raise InvalidInput(f"give either a URL ({target!r}) or --graph, not both")
    elif target is None:
        raise InvalidInput("no server URL given",
                           hint="flowyard predict http://127.0.0.1:8080 MODEL --data ..., or "
                                "--graph GRAPH.yaml to predict without a server")
    elif "://" not in target:
        raise InvalidInput(f"URL {target!r} has no scheme",
                           hint=f"http://{target}")
    payload = read_data(data)
    proto: Literal["v2", "seldon"] = "seldon" if protocol == "seldon" else "v2"
    if graph is not None:
        with LocalGraph(graph) as local:
            answer = predict(local, model or local.engine.name, payload, protocol=proto,
                             predictor=predictor, timeout=timeout)
            if reward is not None:
                feedback(local, payload, answer, reward, timeout=timeout)
    else:
        assert target is not None
        answer = predict(target, model, payload, protocol=proto, predictor=predictor,
                         timeout=timeout)
        if reward is not None:
            feedback(target, payload, answer, reward, timeout=timeout)
    if output is OutputFormat.table:
        print_answer(answer)
    else:
        from flowyard.cli.output import print_data

        print_data(answer, output)
    if reward is not None:
        typer.echo(f"feedback sent: reward {reward}", err=True)


def read_data(spec: str) -> Any:
    """--data: JSON text, @file or @- (stdin); errors name the file and the JSON position."""
    from flowyard.errors import InvalidInput, NotFound

    where = "--data"
    text = spec
    if spec.startswith("@"):
        name = spec[1:]
        if name == "-":
            where, text = "--data @- (stdin)", sys.stdin.read()
        else:
            where = f"--data file {name}"
            try:
                text = Path(name).read_text(encoding="utf-8")
            except FileNotFoundError as exc:
                raise NotFound(f"--data file {name!r} does not exist") from exc
            except OSError as exc:
                raise InvalidInput(f"--data file {name!r} cannot be read: "
                                   f"{exc.strerror or exc}") from exc
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidInput(f"{where}: not valid JSON at line {exc.lineno}, column "
                           f"{exc.colno}: {exc.msg} (in {text[:80]!r})",
                           hint="rows as a JSON list, e.g. '[[5.1, 3.5, 1.4, 0.2]]', or a "
                                "V2 body {\"inputs\": [...]}") from exc


def _short(value: Any, width: int = 100) -> str:
    text = json.dumps(value)
    return text if len(text) <= width else text[: width - 1] + "…"


def print_answer(answer: dict[str, Any]) -> None:
    """A V2 or Seldon answer as a few readable lines on stdout."""
    lines: list[str] = []
    if isinstance(answer.get("outputs"), list):  # V2
        lines.append(f"model {answer.get('model_name')}"
                     + (f"  id {answer['id']}" if answer.get("id") else ""))
        for out in answer["outputs"]:
            lines.append(f"  {out.get('name')}  {out.get('datatype')} {out.get('shape')}  "
                         f"{_short(out.get('data'))}")
        meta = answer.get("parameters") or {}
    else:  # Seldon
        for key in ("data", "strData", "jsonData", "binData"):
            if key in answer:
                lines.append(f"{key}  {_short(answer[key])}")
        meta = answer.get("meta") or {}
    for key in ("predictor", "routing", "requestPath", "puid", "tags"):
        if meta.get(key) not in (None, {}, []):
            lines.append(f"{key:<12}{_short(meta[key])}")
    sys.stdout.write("\n".join(lines) + "\n")
    sys.stdout.flush()
