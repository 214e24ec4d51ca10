"""A task: one use of a component in a traced pipeline, with its options (kfp's PipelineTask)."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from flowyard.errors import InvalidInput
from flowyard.pipelines.sdk_placeholders import TaskOutput, user_site
from flowyard.pipelines.sdk_scopes import Loop, Scope
from flowyard.pipelines.sdk_types import Port

if TYPE_CHECKING:
    from flowyard.pipelines.sdk_trace import Trace

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$")


class ComponentLike(Protocol):
    name: str
    func_name: str
    inputs: list[Port]
    outputs: list[Port]
    cache: bool


@dataclass(eq=False)
class Options:
    retry: dict[str, Any] | None = None
    timeout: float | str | None = None
    cache: bool | None = None
    resources: dict[str, Any] = field(default_factory=dict)
    display_name: str | None = None
    outputs_to: dict[str, str] = field(default_factory=dict)
    volumes: list[dict[str, Any]] = field(default_factory=list)


class TaskOutputs(Mapping[str, TaskOutput]):
    """`task.outputs["name"]`: an unknown name is an error listing the valid ones."""

    def __init__(self, task: Task) -> None:
        self._task = task
        self._items = {p.name: TaskOutput(task, p.name, p.kind == "artifact", p.type)
                       for p in task.component.outputs}

    def __getitem__(self, name: str) -> TaskOutput:
        if name not in self._items:
            valid = ", ".join(self._items) or "none"
            raise InvalidInput(f"{user_site()}: task {self._task.name!r} (component "
                               f"{self._task.component.name!r}) has no output {name!r}; "
                               f"its outputs: {valid}")
        return self._items[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)


class Task:
    """One use of a component in a pipeline: a step of the compiled Pipeline."""

    def __init__(self, trace: Trace, component: ComponentLike, name: str,
                 arguments: dict[str, Any], scopes: tuple[Scope, ...], site: str) -> None:
        self.trace = trace
        self.component = component
        self.name = name
        self.arguments = arguments
        self.scopes = scopes
        self.site = site
        self.depends_on: list[Task] = []
        self.after_sites: list[str] = []  # file:line of the .after() call of each depends_on
        self.options = Options()
        self.outputs = TaskOutputs(self)

    def __repr__(self) -> str:
        return f"<task {self.name!r} of component {self.component.name!r}>"

    @property
    def output(self) -> TaskOutput:
        """The only output; a component with several outputs needs `.outputs["name"]`."""
        if len(self.outputs) != 1:
            names = ", ".join(self.outputs) or "none"
            raise InvalidInput(
                f"{user_site()}: task {self.name!r} (component {self.component.name!r}) has "
                f"{len(self.outputs)} outputs ({names}), so `.output` is ambiguous",
                hint="use task.outputs['<name>']" if self.outputs else
                     "the component returns nothing; add a return annotation or an Output[...]",
            )
        return next(iter(self.outputs.values()))

    @property
    def loop(self) -> Loop | None:
        return next((s for s in self.scopes if isinstance(s, Loop)), None)

    def after(self, *tasks: Task) -> Task:
        """Run after these tasks even without a data dependency (kfp's `.after`)."""
        for other in tasks:
            if not isinstance(other, Task):
                raise InvalidInput(f"{user_site()}: {self.name}.after() takes tasks (the value "
                                   f"a component call returns), got {other!r}")
            if other is self:
                raise InvalidInput(f"{user_site()}: task {self.name!r} cannot run after itself")
            if all(other is not t for t in self.depends_on):
                self.depends_on.append(other)
                self.after_sites.append(user_site())
        return self

    def set_retry(self, num_retries: int, backoff_duration: float | str | None = None,
                  backoff_factor: float | None = None,
                  backoff_max_duration: float | str | None = None) -> Task:
        if not isinstance(num_retries, int) or isinstance(num_retries, bool) or num_retries < 0:
            raise InvalidInput(f"{user_site()}: {self.name}.set_retry(num_retries=...) must be "
                               f"an int >= 0, got {num_retries!r}")
        for label, value in (("backoff_duration", backoff_duration),
                             ("backoff_max_duration", backoff_max_duration)):
            if value is not None:
                self._check_duration(f"set_retry({label}=...)", value)
        retry: dict[str, Any] = {"limit": num_retries}
        backoff = {k: v for k, v in (("duration", backoff_duration), ("factor", backoff_factor),
                                     ("maxDuration", backoff_max_duration)) if v is not None}
        if backoff:
            retry["backoff"] = backoff
        self.options.retry = retry
        return self

    def set_timeout(self, seconds: float | str) -> Task:
        """Seconds, or a duration string like '30s', '5m'."""
        self._check_duration("set_timeout(...)", seconds)
        self.options.timeout = seconds
        return self

    def _check_duration(self, call: str, value: object) -> None:
        # The same rule as resources.pipeline.Duration, checked here to name the user's line.
        number = isinstance(value, int | float) and not isinstance(value, bool) and value > 0
        if number or (isinstance(value, str) and _DURATION.match(value)):
            return
        raise InvalidInput(f"{user_site()}: {self.name}.{call} takes seconds (> 0) or a "
                           f"duration like '500ms', '30s', '5m', '2h', got {value!r}")

    def set_caching_options(self, enable_caching: bool) -> Task:
        self.options.cache = bool(enable_caching)
        return self

    def set_cpu_request(self, cpu: str | int | float) -> Task:
        self.options.resources["cpu"] = str(cpu)
        return self

    set_cpu_limit = set_cpu_request

    def set_memory_request(self, memory: str) -> Task:
        self.options.resources["memory"] = str(memory)
        return self

    set_memory_limit = set_memory_request

    def set_accelerator_limit(self, limit: int) -> Task:
        self.options.resources["gpu"] = int(limit)
        return self

    set_gpu_limit = set_accelerator_limit

    def set_output_to(self, output: str, target: str) -> Task:
        """Commit output artifact `output` to `repo@branch:/path` when the step succeeds."""
        from flowyard.data.refs import parse_target

        arts = [p.name for p in self.component.outputs if p.kind == "artifact"]
        if output not in arts:
            raise InvalidInput(f"{user_site()}: {self.name}.set_output_to({output!r}, ...): "
                               f"{output!r} is not an output artifact of component "
                               f"{self.component.name!r}; its output artifacts: "
                               f"{', '.join(arts) or 'none'}")
        try:
            tgt = parse_target(target)
        except InvalidInput as exc:
            raise InvalidInput(f"{user_site()}: {self.name}.set_output_to({output!r}, "
                               f"{target!r}): {exc.message}", hint=exc.hint) from None
        if not tgt.path or tgt.generations:
            raise InvalidInput(f"{user_site()}: {self.name}.set_output_to({output!r}, "
                               f"{target!r}) needs a branch and a path",
                               hint="write repo@branch:/path, e.g. models@master:/iris")
        self.options.outputs_to[output] = target
        return self

    def add_volume(self, name: str, mount_path: str | None = None, *,
                   read_only: bool = False) -> Task:
        """Work in the Volume `name` of the run's profile: its folder is in the environment
        variable FLOWYARD_VOLUME_<NAME> ('-' as '_'); on Kubernetes it is mounted at
        `mount_path`. The step is not cached (its effects on the volume are no output)."""
        from flowyard.volumes.steps import check_step_volume

        try:
            entry = check_step_volume(name, mount_path, read_only)
        except InvalidInput as exc:
            raise InvalidInput(f"{user_site()}: {self.name}.add_volume({name!r}): "
                               f"{exc.message}", hint=exc.hint) from None
        if any(v["name"] == name for v in self.options.volumes):
            raise InvalidInput(f"{user_site()}: {self.name}.add_volume({name!r}): the volume "
                               "is attached to this task already")
        self.options.volumes.append(entry)
        return self

    def set_display_name(self, name: str) -> Task:
        self.options.display_name = name
        return self

    def set_env_variable(self, name: str, value: str) -> Task:
        """kfp's per-task environment has no place in a Pipeline step: say so clearly."""
        raise InvalidInput(f"{user_site()}: {self.name}.set_env_variable({name!r}, ...) is not "
                           "supported: a step's environment is not part of the Pipeline",
                           hint="pass the value as a component parameter, or set `env` in a "
                                "container component's ContainerSpec")
