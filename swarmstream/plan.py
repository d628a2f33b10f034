"""A run's plan: what happens to the society at round boundaries, as a study schedules it.

``simulate --plan plan.yaml`` (YAML or JSON). Each step happens at round ``round``, ``before`` its acts (the
default) or ``after`` them, and does one thing: a ``broadcast`` (to everyone or a community, shown for
``rounds`` rounds whatever else is posted), a ``post`` injected as an agent, a post removed (``remove_post``:
out of every feed from then on), an agent ``mute``d (its posts hidden from every feed) or ``ban``ned (hidden,
and it acts no more), an agent's persona, community or activity changed (``update``), a ``survey`` or an
``interview``. The driver applies the steps of a round boundary in the file's order, then asks the questions,
so a survey after a broadcast of the same boundary sees it.

A file is checked whole before the run starts: an error names the line and the field.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError, model_validator

from swarmstream.events import AgentId, Chance, SurveyForm

Words = Annotated[str, StringConstraints(min_length=1, max_length=2_000)]
Name = Annotated[str, StringConstraints(min_length=1, max_length=256)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Audience(_Strict):
    """Who a question is put to: ``agents`` by id, or a ``community``'s members, or everyone; ``sample``: a
    seeded fraction of them (the same agents in every arm of one seed)."""

    agents: list[AgentId] | None = Field(None, min_length=1)
    community: Name | None = None
    sample: Annotated[float, Field(gt=0, le=1)] | None = None

    @model_validator(mode="after")
    def _one_group(self) -> Audience:
        if self.agents is not None and self.community is not None:
            raise ValueError("ask agents by id or a community's members: not both")
        return self


class Survey(Audience):
    question: Words
    scale: tuple[int, int] | None = None
    choices: list[Annotated[str, StringConstraints(min_length=1, max_length=200)]] | None = None
    id: Name | None = None  # what the survey_answers table calls it (default: survey-r{round}-{before|after})

    @model_validator(mode="after")
    def _form(self) -> Survey:
        try:  # checked here, so that the error names this step
            self.form  # noqa: B018
        except ValidationError as exc:
            raise ValueError(_message(exc.errors()[0])) from None
        return self

    @property
    def form(self) -> SurveyForm:
        return SurveyForm(scale=self.scale, choices=tuple(self.choices) if self.choices is not None else None)


class Interview(Audience):
    question: Words
    remember: bool = False
    id: Name | None = None


class BroadcastStep(_Strict):
    text: Words
    community: Name | None = None
    rounds: int = Field(1, ge=1, le=1_000)  # shown in this many rounds, from the step's
    author: AgentId | None = None


class PostStep(_Strict):
    agent: AgentId  # who it is posted as
    text: Annotated[str, StringConstraints(min_length=1, max_length=32_768)]


class PostOfStep(_Strict):
    """The post a ``post`` step of the same plan injected (its id names the run, so a plan cannot know it)."""

    step: int = Field(ge=1)  # counted from 1, as errors count them


class UpdateStep(_Strict):
    agent: AgentId
    persona: Annotated[str, StringConstraints(max_length=32_768)] | None = None
    community: Name | None = None
    activity: Chance | None = None
    interests: list[str] | None = None
    traits: list[str] | None = None

    @model_validator(mode="after")
    def _changes_something(self) -> UpdateStep:
        if not self.model_fields_set - {"agent"}:
            raise ValueError("an update changes persona, community, activity, interests or traits: none given")
        return self


Kind = Literal["broadcast", "post", "remove_post", "mute", "ban", "update", "survey", "interview"]
KINDS: tuple[Kind, ...] = ("broadcast", "post", "remove_post", "mute", "ban", "update", "survey", "interview")


class Step(_Strict):
    """One thing the plan does at a round boundary: exactly one of its kinds."""

    round: int = Field(ge=1)
    when: Literal["before", "after"] = "before"
    broadcast: BroadcastStep | None = None
    post: PostStep | None = None
    remove_post: Annotated[str, StringConstraints(min_length=1, max_length=128)] | PostOfStep | None = None
    mute: AgentId | None = None
    ban: AgentId | None = None
    update: UpdateStep | None = None
    survey: Survey | None = None
    interview: Interview | None = None

    @model_validator(mode="after")
    def _one_kind(self) -> Step:
        given = [kind for kind in KINDS if getattr(self, kind) is not None]
        if len(given) != 1:
            said = ", ".join(given) if given else "none"
            raise ValueError(f"a step does exactly one of {', '.join(KINDS)}: this one does {said}")
        return self

    @property
    def kind(self) -> Kind:
        return next(kind for kind in KINDS if getattr(self, kind) is not None)

    @property
    def asks(self) -> bool:
        return self.kind in ("survey", "interview")


class Plan(_Strict):
    """A run's steps, in the order they are applied at each round boundary."""

    steps: list[Step] = Field(default_factory=list, max_length=10_000)

    @model_validator(mode="after")
    def _posts_named(self) -> Plan:
        for index, step in enumerate(self.steps):
            if isinstance(step.remove_post, PostOfStep):
                named = step.remove_post.step
                if not (named <= len(self.steps) and self.steps[named - 1].post is not None):
                    raise ValueError(f"step {index + 1} removes the post of step {named}, which is not a post step")
                if _boundary(self.steps[named - 1]) > _boundary(step):
                    raise ValueError(f"step {index + 1} removes the post of step {named} before it is posted")
        return self

    def at(self, round_: int, when: Literal["before", "after"]) -> list[tuple[int, Step]]:
        """The steps of a round boundary, with their place in the plan (what their ids derive from)."""
        return [(index, step) for index, step in enumerate(self.steps) if step.round == round_ and step.when == when]

    def check_rounds(self, rounds: int) -> None:
        """Every step falls within a run of ``rounds`` rounds."""
        for index, step in enumerate(self.steps):
            if step.round > rounds:
                raise ValueError(f"plan step {index + 1} ({step.kind}) is at round {step.round}: the run has {rounds}")

    def question_id(self, index: int) -> str:
        step = self.steps[index]
        asked = step.survey or step.interview
        assert asked is not None
        return asked.id or f"{step.kind}-{index + 1}-r{step.round}-{step.when}"


def _boundary(step: Step) -> tuple[int, int]:
    return (step.round, 0 if step.when == "before" else 1)


class PlanError(ValueError):
    """A plan file that is not a valid plan: where (file, line, field) and why."""


def load_plan(path: Path) -> Plan:
    """The plan in ``path`` (YAML, or JSON, which YAML reads too), checked whole.

    :raises PlanError: naming the file, the line and the field of each problem (the first ten).
    """
    try:
        text = path.read_text()
    except OSError as exc:
        raise PlanError(f"plan {path}: {exc.strerror or exc}") from None
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark is not None else str(path)
        raise PlanError(f"plan {where}: not YAML or JSON: {getattr(exc, 'problem', None) or exc}") from None
    listed = isinstance(data, list)  # a bare list of steps
    if listed:
        data = {"steps": data}
    if not isinstance(data, dict):
        raise PlanError(f"plan {path}:1: a plan is a mapping with 'steps:', a list of steps")
    try:
        return Plan.model_validate(data)
    except ValidationError as exc:
        lines = []
        for error in exc.errors()[:10]:
            loc, message = list(error["loc"]), _message(error)
            step = re.match(r"step (\d+) (.*)", message, re.DOTALL)
            if not loc and step is not None:  # a step the whole plan refuses (what it refers to): its line
                loc, message = ["steps", int(step.group(1)) - 1], step.group(2)
            line = _line_of(node, loc[1:] if listed else loc)
            lines.append(f"plan {path}:{line}: {_field(loc)}: {message}")
        more = f"\n(and {len(exc.errors()) - 10} more)" if len(exc.errors()) > 10 else ""
        raise PlanError("\n".join(lines) + more) from None


def _field(loc: list[Any]) -> str:
    """``step 2, survey.scale``: where in the plan a problem is (steps counted from 1)."""
    if len(loc) >= 2 and loc[0] == "steps" and isinstance(loc[1], int):
        rest = ".".join(str(part) for part in loc[2:])
        return f"step {loc[1] + 1}" + (f", {rest}" if rest else "")
    return ".".join(str(part) for part in loc) or "plan"


def _message(error: Any) -> str:
    message = str(error["msg"])
    return message.removeprefix("Value error, ")


def _line_of(node: Any, loc: list[Any]) -> int:
    """The line (1-based) of the deepest node of ``loc`` in the YAML tree (where a missing field would go)."""
    line = node.start_mark.line + 1 if node is not None else 1
    for part in loc:
        if isinstance(node, yaml.MappingNode):
            found = next(((key, value) for key, value in node.value if key.value == part), None)
            if found is None:
                break
            line, node = found[0].start_mark.line + 1, found[1]  # the key's line: "survey:", "scale: [5, 1]"
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
            node = node.value[part]
            line = node.start_mark.line + 1
        else:
            break
    return line
