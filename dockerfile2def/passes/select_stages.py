"""Keep only the stages the target needs, and flatten ``FROM <stage>`` into its parent's instructions.

BuildKit builds the target (default: the last stage) and the stages it depends on: its base stage,
``COPY --from`` and ``RUN --mount=from=`` sources. Apptainer builds every stage in the file and
cannot base a stage on another, so d2s emits only the needed ones, and a stage built ``FROM`` an
earlier stage replays that stage's instructions on the same base image (the result is the same
file system; the parent's RUNs run again).
"""

from typing import Callable, List, Optional, Tuple

from ..conversion import Context
from ..ir import Copy, Dockerfile, From, Instruction, Run, Stage
from ..records import deep_copy


def stage_finder(dockerfile: Dockerfile) -> Callable[[str], Optional[Stage]]:
    """``dockerfile.stage_named`` with its tables made once: this pass (and plan_copies) looks every
    reference up several times, and stage_named walks the stages (and their ``name`` property) each
    time."""
    by_name, by_index = {}, {}
    for stage in reversed(dockerfile.stages):  # the first stage of a name or index wins, as there
        if stage.name is not None:
            by_name[stage.name] = stage
        by_index[stage.index] = stage

    def named(ref: str) -> Optional[Stage]:
        stage = by_name.get(ref.lower())
        if stage is None and ref.isdigit():
            stage = by_index.get(int(ref))
        return stage

    return named


def _stage_ref(named, ref: str, before: int) -> Optional[Stage]:
    """The stage that ``ref`` (a name or an index) names among the first ``before`` stages, if any."""
    stage = named(ref)
    if stage is not None and stage.index < before:
        return stage
    return None


def mount_sources(instruction: Instruction) -> List[str]:
    """The ``from=`` values of RUN --mount flags."""
    found = []
    if isinstance(instruction, Run):
        for value in instruction.flag_values("mount"):
            for field in value.split(","):
                key, _, val = field.partition("=")
                if key.strip().lower() == "from" and val:
                    found.append(val.strip())
    return found


def _references(stage: Stage) -> List[Tuple[Instruction, str]]:
    """(instruction, reference) for every ``RUN --mount=from=`` and ``COPY --from`` of a stage."""
    found = []
    for instruction in stage.instructions:
        if not instruction.flags:  # most instructions: neither flag, nothing to look at
            continue
        if isinstance(instruction, Run):
            found.extend((instruction, ref) for ref in mount_sources(instruction))
        elif isinstance(instruction, Copy):
            source = instruction.flag("from")
            if source is not None and source.value:
                found.append((instruction, source.value))
    return found


def _dependencies(named, stage: Stage, parent: Optional[Stage], references, ctx: Context) -> List[Stage]:
    needed = []
    if parent is not None:
        needed.append(parent)
    for instruction, ref in references:
        found = named(ref)
        if found is not None and found.index >= stage.index:
            raise ctx.error(
                'cannot copy from stage "%s", it needs to be defined before current stage "%s"'
                % (ref, stage.name or stage.index),
                instruction.span.line,
                instruction.span.column,
            )
        if found is not None:
            needed.append(found)
    return needed


def _flatten(parents: dict, stage: Stage, done: dict, emitted: set, replays: dict) -> Stage:
    if stage.index in done:
        return done[stage.index]
    parent = parents[stage.index]
    if parent is not None:
        parent = _flatten(parents, parent, done, emitted, replays)
        # The passes rewrite nodes in place, so a replayed stage gets copies of its parent's nodes --
        # unless no one else needs them: the parent is emitted nowhere and this is the last stage to
        # replay it (``replays``: how many are left). Then they move (deepcopy was a tenth of convert).
        # records.deep_copy is copy.deepcopy without its dispatch and keep-alive list for the top list.
        replays[parent.index] -= 1
        shared = parent.index in emitted or replays[parent.index]
        replayed = deep_copy(parent.instructions) if shared else parent.instructions
        # The stage's own FROM line on its parent's image: a new node, cheaper than a deep copy of the
        # parent's FROM with most of its fields then overwritten
        own, inherited = stage.base, parent.base
        base = From(own.keyword, own.span, own.flags, own.original, inherited.workdir, inherited.user,
                    inherited.shell, image=inherited.image, stage_name=own.stage_name, platform=inherited.platform)
        stage.instructions = replayed + stage.instructions
        stage.parent = parent.name or str(parent.index)
        stage.ancestry = parent.ancestry + [parent.base.span.line]
        stage.base = base
    done[stage.index] = stage
    return stage


def select_stages(dockerfile: Dockerfile, ctx: Context) -> Dockerfile:
    stages = dockerfile.stages
    if len(stages) == 1 and not ctx.target and not any(i.flags for i in stages[0].instructions):
        return dockerfile  # one stage, no --from or --mount to follow: it is the target and needs no other
    named = stage_finder(dockerfile)
    if ctx.target:
        target = named(ctx.target)
        if target is None or not ctx.target.lower() == (target.name or ""):
            names = ", ".join(s.name for s in stages if s.name) or "none"
            raise ctx.error('target stage "%s" could not be found (stages: %s)' % (ctx.target, names), 1, 1)
    else:
        target = stages[-1]
    needed = {}
    references = {}  # stage index -> its references, read once for both uses below
    parents = {}  # stage index -> the stage it is built FROM (or None), looked up once for the three uses
    pending = [target]
    while pending:
        stage = pending.pop()
        if stage.index in needed:
            continue
        needed[stage.index] = stage
        references[stage.index] = _references(stage)
        parents[stage.index] = parent = _stage_ref(named, stage.base.image, stage.index)
        pending.extend(_dependencies(named, stage, parent, references[stage.index], ctx))
    # A stage that is only some other stage's base is replayed into it: no need to emit it.
    referenced = set()
    for index in needed:
        for _, ref in references[index]:
            found = named(ref)
            if found is not None:
                referenced.add(found.index)
    emitted = {i for i in needed if i == target.index or i in referenced}
    replays = {}  # stage index -> how many needed stages are built FROM it
    for parent in parents.values():
        if parent is not None:
            replays[parent.index] = replays.get(parent.index, 0) + 1
    done = {}
    for index in sorted(needed):
        _flatten(parents, needed[index], done, emitted, replays)
    dockerfile.stages = [
        done[i] for i in sorted(needed) if i in emitted
    ]
    return dockerfile
