"""The differential harness: a Dockerfile built by buildah (the ground truth) against the same Dockerfile
converted and built by d2s (or by spython), compared on what a user of the image sees.

A fixture is a folder ``fixtures/build/<name>/`` with a Dockerfile, its build context and ``probes.json``::

    {
      "description": "what the fixture covers",
      "probes":  ["cat /etc/app.conf", "printenv GREETING"],   # shell commands, run as root in /
      "paths":   ["/opt/app", "/etc/app.conf"],                # file trees to compare
      "runs":    [[], ["--flag", "two words"]],                # `run` argument lists (default [[]])
      "build_args": {"K": "V"}, "target": "stage",             # optional, given to buildah and d2s alike
      "offline": true,                                         # optional: d2s builds with --offline (the
                                                               #   base image's config unknown to it)
      "bases":   {"ssd": "base"},                              # optional: base images built first from
                                                               #   <fixture>/base/Dockerfile as
                                                               #   <registry>/d2s-test/base-ssd:latest
      "ground_truth": "expected",                              # optional: hand-checked expectations in
                                                               #   expected/observation.json, no buildah
      "d2s_gap": "reason",                                     # optional: a known converter gap (xfail)
      "definition": "known-good.def"                           # optional: build this .def instead of
                                                               #   converting (harness self-test)
    }

How each side is observed, and why (Docker is the reference; Apptainer is where the image runs):

* **Ground truth image**: ``buildah bud --format docker`` (buildah 1.28; the OCI format would drop SHELL and
  HEALTHCHECK), pushed to the registry, then ``apptainer build gt.sif docker://...``: the ground-truth
  image seen through Apptainer. File listings come from it, so both sides go through the same squashfs
  and ``apptainer exec``.
* **Probes** run in a ``buildah run`` container of the ground truth (as root, in ``/``): the exact Docker
  environment. Through the docker:// SIF, Apptainer <= 1.4 would mangle ENV values holding ``$ \\ " ```
  (spec-digest B.3), which is an Apptainer bug, not Docker's behaviour. On the d2s side probes run with
  ``apptainer exec --cleanenv --no-mount home,tmp,cwd --pwd /`` (as root), so that the image's own /tmp,
  /var/tmp and /root are seen, not the host's. Probes see the file system and environment; the runtime
  user and working directory are what ``run`` checks. File listings are taken the same way.
* **Environment**: the image config's ``Env`` (what ``docker run`` starts with) against
  ``apptainer exec --cleanenv d2s.sif`` minus Apptainer's own variables. Those are found, not listed:
  the variables a docker:// SIF of the busybox base shows beyond its config (HOME, LANG, PS1,
  LD_LIBRARY_PATH, TERM, ...), APPTAINER_*/SINGULARITY_*, and the shell's own PWD/OLDPWD/SHLVL/_.
* **Labels**: the config's ``Labels`` against ``apptainer inspect --labels``, minus the labels Apptainer
  adds to every build (``org.label-schema.*`` and those a docker:// SIF of the base adds) and d2s's own
  records of metadata Apptainer has no place for (``org.d2s.*``).
* **run**: a docker:// SIF's ``run`` ignores WORKDIR and USER (it runs in the host's working directory),
  so it is no ground truth. The truth is ``buildah run --workingdir <WorkingDir> --user <User>`` of the
  config's ``Entrypoint + (arguments or Cmd)``, as ``docker run IMAGE [ARGS]`` does. The d2s side is
  ``apptainer run --cleanenv --no-mount home,tmp d2s.sif [ARGS]`` from an empty folder (so that no host
  file or variable leaks in; the working directory stays bound, as users run it, so a runscript that
  does not change to WORKDIR, or to / without one, shows).
  stdout and the exit status must match; stderr too, minus the tools' own log lines.
"""

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import time
import urllib.request
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

REPO = Path(__file__).resolve().parents[2]
FIXTURES = REPO / "fixtures" / "build"
DEFAULT_REGISTRY = "127.0.0.1:5000"
REGISTRY = os.environ.get("D2S_TEST_REGISTRY") or DEFAULT_REGISTRY
MARK = "@@d2s-harness@@"
TIMEOUT = 1200
SHELL_OWN = {"PWD", "OLDPWD", "SHLVL", "_"}
# Ground-truth images are tagged per session, so that two test runs on one machine do not race on a tag.
SESSION_TAG = os.environ.get("D2S_TEST_TAG") or "s%d-%s" % (os.getpid(), uuid.uuid4().hex[:6])
CATEGORIES = ("build", "probes", "files", "env", "labels", "runs")


# ---------------------------------------------------------------------------------------------- registry


def registry_up(registry: str) -> bool:
    try:
        with urllib.request.urlopen("http://%s/v2/" % registry, timeout=5) as response:
            return response.status == 200
    except Exception:
        return False


def registry_has(registry: str, repository: str, tag: str) -> bool:
    request = urllib.request.Request(
        "http://%s/v2/%s/manifests/%s" % (registry, repository, tag),
        method="HEAD",
        headers={"Accept": "application/vnd.docker.distribution.manifest.v2+json, "
                           "application/vnd.oci.image.manifest.v1+json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status == 200
    except Exception:
        return False


# ---------------------------------------------------------------------------------------------- fixtures


@dataclass
class Fixture:
    name: str
    folder: Path
    spec: dict

    @property
    def probes(self) -> List[str]:
        return list(self.spec.get("probes", []))

    @property
    def paths(self) -> List[str]:
        return list(self.spec.get("paths", []))

    @property
    def runs(self) -> List[List[str]]:
        return [list(r) for r in self.spec.get("runs", [[]])]

    @property
    def build_args(self) -> Dict[str, str]:
        return {k: localise(v) for k, v in self.spec.get("build_args", {}).items()}

    @property
    def target(self) -> Optional[str]:
        return self.spec.get("target")

    @property
    def hand_checked(self) -> bool:
        return self.spec.get("ground_truth") == "expected"

    @property
    def image(self) -> str:
        return "%s/d2s-test/%s:%s" % (REGISTRY, self.name, SESSION_TAG)


def load_fixture(folder: Path) -> Fixture:
    for name in ("probes.json",):
        path = folder / name
        if path.exists():
            spec = json.loads(path.read_text())
            unknown = set(spec) - {"description", "probes", "paths", "runs", "build_args", "target", "bases",
                                   "ground_truth", "d2s_gap", "definition", "slow", "notes", "offline"}
            if unknown:
                raise ValueError("%s: unknown keys %s" % (path, sorted(unknown)))
            return Fixture(folder.name, folder, spec)
    raise FileNotFoundError("%s has no probes.json" % folder)


def all_fixtures(root: Path = FIXTURES) -> List[Fixture]:
    if not root.is_dir():
        return []
    return [load_fixture(p) for p in sorted(root.iterdir()) if p.is_dir() and (p / "probes.json").exists()]


def localise(text: str, registry: str = REGISTRY) -> str:
    """Fixtures say 127.0.0.1:5000; point them at $D2S_TEST_REGISTRY."""
    return text if registry == DEFAULT_REGISTRY else text.replace(DEFAULT_REGISTRY, registry)


def copy_context(fixture: Fixture, destination: Path) -> Path:
    """A private copy of the fixture folder (builds write beside the Dockerfile), registry-localised."""
    if destination.exists():
        shutil.rmtree(destination)
    shutil.copytree(str(fixture.folder), str(destination), symlinks=True,
                    ignore=shutil.ignore_patterns("expected", "probes.json", "__pycache__"))
    for path in destination.rglob("*"):
        if path.is_file() and not path.is_symlink() and (path.name == "Dockerfile" or path.suffix == ".def"):
            path.write_text(localise(path.read_text()))
    return destination


# ---------------------------------------------------------------------------------------------- processes


@dataclass
class Result:
    status: int
    stdout: str
    stderr: str


def run(command: Sequence[str], cwd=None, env=None, timeout: int = TIMEOUT, check: bool = False,
        raw: bool = False) -> Result:
    done = subprocess.run([str(c) for c in command], cwd=None if cwd is None else str(cwd), env=env,
                          stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=timeout)
    result = Result(done.returncode, done.stdout.decode("utf-8", "replace") if not raw else done.stdout,
                    done.stderr.decode("utf-8", "replace"))
    if check and done.returncode != 0:
        raise HarnessError("%s failed (%d):\n%s\n%s" % (" ".join(map(str, command)), done.returncode,
                                                        tail(result.stdout if not raw else ""), tail(result.stderr)))
    return result


class HarnessError(RuntimeError):
    """The harness itself could not do its job (a tool failed where it must not)."""


def tail(text: str, lines: int = 40) -> str:
    return "\n".join(text.splitlines()[-lines:])


# ---------------------------------------------------------------------------------------------- observing

LISTING = r"""
d2s_listing() {
    if [ ! -e "$1" ] && [ ! -L "$1" ]; then echo "$1 missing"; return; fi
    find "$1" | LC_ALL=C sort | while IFS= read -r f; do
        if [ -L "$f" ]; then printf '%s link %s -> %s\n' "$f" "$(stat -c '%u:%g' "$f")" "$(readlink "$f")"
        elif [ -d "$f" ]; then printf '%s dir %s\n' "$f" "$(stat -c '%a %u:%g' "$f")"
        elif [ -f "$f" ]; then printf '%s file %s %s\n' "$f" "$(stat -c '%a %u:%g %s' "$f")" "$(sha256sum < "$f" | cut -c1-16)"
        else printf '%s other %s\n' "$f" "$(stat -c '%F %a %u:%g' "$f")"; fi
    done
}
"""


def observation_script(probes: Sequence[str], paths: Sequence[str]) -> str:
    """One shell script printing the environment, the file listings and each probe's output and status."""
    parts = [LISTING, "printf '%s env\\n' '{0}'".format(MARK), "cat /proc/self/environ", "echo",
             "printf '%s files\\n' '{0}'".format(MARK)]
    parts += ["d2s_listing %s" % shlex.quote(p) for p in paths]
    for index, probe in enumerate(probes):
        parts.append("printf '%s probe {1}\\n' '{0}'".format(MARK, index))
        parts.append("/bin/sh -c %s 2>&1; d2s_status=$?" % shlex.quote(probe))
        parts.append("printf '\\n%s status {1} %s\\n' '{0}' \"$d2s_status\"".format(MARK, index))
    parts.append("printf '%s end\\n' '{0}'".format(MARK))
    return "\n".join(parts) + "\n"


def parse_observation(raw: bytes, probes: Sequence[str]) -> dict:
    """Split the output of :func:`observation_script` into env (dict), files (lines) and probes."""
    text = raw.decode("utf-8", "replace")
    if "%s end" % MARK not in text:
        raise HarnessError("the observation script did not finish:\n" + tail(text))
    sections: Dict[str, str] = {}
    pieces = re.split(r"(?m)^%s (\w+(?: \d+)?)\n" % re.escape(MARK), text)
    for key, body in zip(pieces[1::2], pieces[2::2]):
        sections[key] = body
    env = {}
    for item in sections.get("env", "").rstrip("\n").split("\0"):
        if "=" in item:
            key, value = item.split("=", 1)
            env[key] = value
    observed_probes = []
    for index, command in enumerate(probes):
        body = sections.get("probe %d" % index, "")
        found = re.search(r"\n%s status %d (\d+)\n?$" % (re.escape(MARK), index), body)
        status = int(found.group(1)) if found else -1
        output = body[: found.start()] if found else body
        observed_probes.append({"command": command, "output": output, "status": status})
    return {"env": env, "files": sections.get("files", "").splitlines(), "probes": observed_probes}


_ENGINE_LOG = re.compile(r"^(INFO|WARNING|VERBOSE|DEBUG):\s")
_RUNTIME_NOISE = re.compile(r"^Error: while running runtime: exit status \d+$")


def clean_stderr(text: str) -> str:
    return "\n".join(line for line in text.splitlines() if not _ENGINE_LOG.match(line)
                     and not _RUNTIME_NOISE.match(line))


# ---------------------------------------------------------------------------------------------- toolchain


class Toolchain:
    """Runs the tools for the harness; caches base images, Apptainer's own variables and ground truths."""

    def __init__(self, apptainer: str, buildah: str, registry: str, work: Path):
        self.apptainer = apptainer
        self.buildah = buildah
        self.registry = registry
        self.work = Path(work)
        self.work.mkdir(parents=True, exist_ok=True)
        self.bases_built = set()
        self.truths: Dict[str, dict] = {}
        self._own: Optional[Tuple[set, set]] = None
        self.containers: List[str] = []
        self.images = set()
        self.timings: Dict[str, float] = {}

    def close(self) -> None:
        for name in list(self.containers):
            self._rm(name)
        for image in sorted(self.images):  # the session's tags (the layers stay cached)
            run([self.buildah, "rmi", image])

    def _rm(self, name: str) -> None:
        run([self.buildah, "rm", name])
        if name in self.containers:
            self.containers.remove(name)

    def timed(self, key: str, started: float) -> None:
        self.timings[key] = self.timings.get(key, 0.0) + time.monotonic() - started

    # -- Apptainer's own variables and labels, from a docker:// SIF of the busybox base
    def own(self) -> Tuple[set, set]:
        if self._own is None:
            reference = self.work / "reference.sif"
            image = "%s/busybox:latest" % self.registry
            run([self.apptainer, "build", "--force", reference, "docker://" + image], cwd=self.work, check=True)
            config = self.image_config(image, pull=True)
            observed = self.exec_observe(reference, [], [])
            env_keys = set(observed["env"]) - set(env_dict(config.get("Env") or []))
            labels = set(self.sif_labels(reference)) - set(config.get("Labels") or {})
            self._own = (env_keys, labels)
        return self._own

    def image_config(self, image: str, pull: bool = False) -> dict:
        if pull:
            run([self.buildah, "pull", "--quiet", image], check=True)
        found = run([self.buildah, "inspect", "--type", "image", image], check=True)
        data = json.loads(found.stdout)
        docker = data.get("Docker") or {}
        config = dict(docker.get("config") or (data.get("OCIv1") or {}).get("config") or {})
        if docker.get("author"):  # MAINTAINER
            config["Author"] = docker["author"]
        return config

    def sif_labels(self, sif: Path) -> Dict[str, str]:
        found = run([self.apptainer, "inspect", "--labels", "--json", sif], check=True)
        data = json.loads(found.stdout)
        return ((data.get("data") or {}).get("attributes") or {}).get("labels") or {}

    def exec_observe(self, sif: Path, probes: Sequence[str], paths: Sequence[str]) -> dict:
        script = observation_script(probes, paths)
        done = run([self.apptainer, "exec", "--cleanenv", "--no-mount", "home,tmp,cwd", "--pwd", "/", sif,
                    "/bin/sh", "-c", script], cwd=self.work, raw=True)
        return parse_observation(done.stdout, probes)

    # -- building
    def build_bases(self, fixture: Fixture, context: Path) -> None:
        for name, folder in sorted((fixture.spec.get("bases") or {}).items()):
            image = "%s/d2s-test/base-%s:latest" % (self.registry, name)
            if image in self.bases_built:
                continue
            self.bud(context / folder, image, {}, None)
            self.bases_built.add(image)

    def bud(self, context: Path, image: str, build_args: Dict[str, str], target: Optional[str]) -> None:
        started = time.monotonic()
        command = [self.buildah, "bud", "--quiet", "--format", "docker", "--layers", "-t", image]
        for key, value in sorted(build_args.items()):
            command += ["--build-arg", "%s=%s" % (key, value)]
        if target:
            command += ["--target", target]
        run(command + ["."], cwd=context, check=True)
        run([self.buildah, "push", "--quiet", image, "docker://" + image], check=True)
        if image.endswith(":" + SESSION_TAG):
            self.images.add(image)
        self.timed("buildah", started)

    def ground_truth(self, fixture: Fixture) -> dict:
        """The Docker side of a fixture: buildah's image, or the hand-checked expectations."""
        if fixture.name in self.truths:
            return self.truths[fixture.name]
        if fixture.hand_checked:
            path = fixture.folder / "expected" / "observation.json"
            truth = json.loads(path.read_text())
            truth["source"] = "hand-checked %s" % path.relative_to(REPO)
            self.truths[fixture.name] = truth
            return truth
        work = self.work / fixture.name
        work.mkdir(parents=True, exist_ok=True)
        context = copy_context(fixture, work / "truth-context")
        self.build_bases(fixture, context)
        self.bud(context, fixture.image, fixture.build_args, fixture.target)
        config = self.image_config(fixture.image)
        started = time.monotonic()
        sif = work / "truth.sif"
        run([self.apptainer, "build", "--force", sif, "docker://" + fixture.image], cwd=work, check=True)
        self.timed("apptainer docker://", started)
        files = self.exec_observe(sif, [], fixture.paths)["files"]
        probes = self.buildah_probes(fixture)
        for probe in probes:
            if probe["status"] == 127:  # a probe that cannot run in the image checks nothing
                raise HarnessError("%s: probe %r: command not found in the image:\n%s" % (
                    fixture.name, probe["command"], probe["output"]))
        runs = [self.buildah_run(fixture.image, config, args) for args in fixture.runs]
        truth = {
            "source": "buildah bud --format docker (%s)" % fixture.image,
            "probes": probes,
            "files": files,
            "env": env_dict(config.get("Env") or []),
            "labels": docker_labels(config),
            "runs": runs,
        }
        (work / "truth.json").write_text(json.dumps(truth, indent=2, sort_keys=True))
        self.truths[fixture.name] = truth
        return truth

    def _container(self, image: str) -> str:
        name = "d2s-harness-%s" % uuid.uuid4().hex[:10]
        run([self.buildah, "from", "--quiet", "--pull=never", "--name", name, image], check=True)
        self.containers.append(name)
        return name

    def buildah_probes(self, fixture: Fixture) -> List[dict]:
        if not fixture.probes:
            return []
        container = self._container(fixture.image)
        try:
            script = observation_script(fixture.probes, [])
            done = run([self.buildah, "run", "--user", "0:0", "--workingdir", "/", container, "--",
                        "/bin/sh", "-c", script], raw=True)
            return parse_observation(done.stdout, fixture.probes)["probes"]
        finally:
            self._rm(container)

    def buildah_run(self, image: str, config: dict, args: Sequence[str]) -> dict:
        """``docker run IMAGE ARGS``: Entrypoint + (ARGS or Cmd), in WorkingDir, as User."""
        argv = list(config.get("Entrypoint") or []) + list(args or config.get("Cmd") or [])
        if not argv:
            return {"args": list(args), "stdout": "", "stderr": None, "status": "nonzero"}
        container = self._container(image)
        try:
            command = [self.buildah, "run", "--workingdir", config.get("WorkingDir") or "/"]
            if config.get("User"):
                command += ["--user", config["User"]]
            done = run(command + [container, "--"] + argv)
        finally:
            self._rm(container)
        stderr = clean_stderr(done.stderr)
        status: object = done.status
        if "runc create failed" in done.stderr and ("executable file not found" in done.stderr
                                                    or "no such file or directory" in done.stderr.lower()):
            status, stderr = 127, None  # Docker's status for a missing command; its wording is the runtime's
        return {"args": list(args), "stdout": done.stdout, "stderr": stderr, "status": status}

    # -- the side under test
    def build_with_d2s(self, fixture: Fixture, label: str = "d2s", definition: Optional[str] = None) -> "Built":
        """Convert and build the fixture with ``d2s build --fakeroot`` (or build ``definition``)."""
        work = self.work / fixture.name
        work.mkdir(parents=True, exist_ok=True)
        context = copy_context(fixture, work / ("%s-context" % label))
        self.build_bases(fixture, context)
        sif = work / ("%s.sif" % label)
        source = context / (definition or fixture.spec.get("definition") or "Dockerfile")
        command = [sys.executable, "-m", "dockerfile2def", "build", "--fakeroot", "--force", "-o", sif]
        if source.suffix != ".def":
            for key, value in sorted(fixture.build_args.items()):
                command += ["--build-arg", "%s=%s" % (key, value)]
            if fixture.target:
                command += ["--target", fixture.target]
            if fixture.spec.get("offline"):
                command.append("--offline")
        env = dict(os.environ, D2S_PROGRESS="plain")
        started = time.monotonic()
        done = run(command + [source], cwd=context, env=env)
        self.timed("d2s build", started)
        generated = sorted(context.glob("*.def"))
        return Built(label, sif if done.status == 0 and sif.exists() else None, done, context,
                     generated[0] if generated else None)

    def build_with_spython(self, fixture: Fixture) -> "Built":
        """``spython recipe Dockerfile`` then ``apptainer build --fakeroot`` in the build context, no hand edits.

        Not built (``note`` says why) when the converted From: is not in the local registry: spython has no
        --build-arg, and the build would pull from the internet."""
        work = self.work / fixture.name
        work.mkdir(parents=True, exist_ok=True)
        context = copy_context(fixture, work / "spython-context")
        self.build_bases(fixture, context)
        definition = context / "spython.def"
        sif = work / "spython.sif"
        if sif.exists():
            sif.unlink()
        spython = [sys.executable, "-c", "from spython.client import main; main()"]
        converted = run(spython + ["recipe", "Dockerfile", definition.name], cwd=context)
        if converted.status != 0 or not definition.exists():
            return Built("spython", None, converted, context, None, "spython recipe failed")
        for line in definition.read_text(errors="replace").splitlines():
            found = re.match(r"\s*From:\s*(\S+)", line, re.I)
            if found and not found.group(1).startswith(self.registry + "/"):
                return Built("spython", None, converted, context, definition,
                             "its From: %s is not an image of the local registry, and building it would pull "
                             "from the internet (spython resolves no build args or stage names)" % found.group(1))
        started = time.monotonic()
        done = run([self.apptainer, "build", "--fakeroot", "--force", sif, definition.name], cwd=context)
        self.timed("spython build", started)
        return Built("spython", sif if done.status == 0 and sif.exists() else None, done, context, definition)

    def observe(self, fixture: Fixture, sif: Path) -> dict:
        """What a user of the Apptainer image sees: probes, files, env, labels and run."""
        observed = self.exec_observe(sif, fixture.probes, fixture.paths)
        observed["labels"] = self.sif_labels(sif)
        cwd = self.work / fixture.name / "empty-cwd"
        if cwd.exists():
            shutil.rmtree(cwd)
        cwd.mkdir(parents=True)
        observed["runs"] = []
        for args in fixture.runs:
            done = run([self.apptainer, "run", "--cleanenv", "--no-mount", "home,tmp", sif] + list(args), cwd=cwd)
            observed["runs"].append({"args": list(args), "stdout": done.stdout, "stderr": clean_stderr(done.stderr),
                                     "status": done.status})
        return observed

    def compare(self, fixture: Fixture, truth: dict, observed: dict) -> List["Difference"]:
        own_env, own_labels = self.own()
        return compare(truth, observed, own_env, own_labels)


@dataclass
class Built:
    label: str
    sif: Optional[Path]
    result: Result
    context: Path
    definition: Optional[Path]
    note: str = ""  # why it was not built, when it was not

    def failure(self) -> str:
        text = "%s: the build failed (exit status %d)\n%s\n%s" % (
            self.label, self.result.status, tail(self.result.stdout, 20), tail(self.result.stderr, 40))
        if self.definition is not None and self.definition.exists():
            text += "\n--- %s ---\n%s" % (self.definition.name, self.definition.read_text())
        return text


def docker_labels(config: dict) -> Dict[str, str]:
    """The image's labels, plus MAINTAINER (the config's Author), which Apptainer can only keep as a label."""
    labels = dict(config.get("Labels") or {})
    if config.get("Author") and "org.opencontainers.image.authors" not in labels:
        labels["org.opencontainers.image.authors"] = config["Author"]
    return labels


def env_dict(items: Sequence[str]) -> Dict[str, str]:
    result = {}
    for item in items:
        key, _, value = item.partition("=")
        result[key] = value
    return result


# ---------------------------------------------------------------------------------------------- comparing


@dataclass
class Difference:
    category: str
    detail: str

    def __str__(self) -> str:
        return "[%s] %s" % (self.category, self.detail)


def _diff(expected: str, actual: str, what: str) -> str:
    import difflib

    lines = list(difflib.unified_diff(expected.splitlines(), actual.splitlines(), "docker", "apptainer", lineterm="",
                                      n=2))
    return "%s:\n%s" % (what, "\n".join(lines[2:]) if lines else "(differ in whitespace) %r != %r" % (expected, actual))


def own_env_names(name: str, own_env: set) -> bool:
    return name in own_env or name in SHELL_OWN or name.startswith(("APPTAINER_", "SINGULARITY_"))


def comparable_env(env: Dict[str, str], own_env: set, keep: set) -> Dict[str, str]:
    """Drop Apptainer's and the shell's own variables (unless the image defines them: ``keep``)."""
    result = {}
    for key, value in env.items():
        if own_env_names(key, own_env) and key not in keep:
            continue
        if key == "LD_LIBRARY_PATH":
            value = re.sub(r":?/\.singularity\.d/libs$", "", value)
            if not value and key not in keep:
                continue
        result[key] = value
    return result


def comparable_labels(labels: Dict[str, str], own_labels: set, keep: set) -> Dict[str, str]:
    return {k: v for k, v in labels.items()
            if k in keep or not (k in own_labels or k.startswith(("org.label-schema.", "org.d2s.")))}


def compare(truth: dict, observed: dict, own_env: set, own_labels: set) -> List[Difference]:
    """Every way the observed Apptainer image differs from the ground truth."""
    found: List[Difference] = []
    for want, got in zip(truth.get("probes", []), observed.get("probes", [])):
        if (want["output"], want["status"]) != (got["output"], got["status"]):
            detail = _diff(want["output"], got["output"], "probe %r" % want["command"])
            if want["status"] != got["status"]:
                detail += "\nexit status: docker %s, apptainer %s" % (want["status"], got["status"])
            found.append(Difference("probes", detail))
    if "files" in truth and truth["files"] != observed.get("files"):
        found.append(Difference("files", _diff("\n".join(truth["files"]), "\n".join(observed.get("files", [])),
                                               "file listings (path, type, mode, owner, size, sha256)")))
    if "env" in truth:
        want_env = dict(truth["env"])
        got_env = comparable_env(observed.get("env", {}), own_env, set(want_env))
        for key in sorted(set(want_env) | set(got_env)):
            if want_env.get(key) != got_env.get(key):
                found.append(Difference("env", "%s: docker %s, apptainer %s" % (
                    key, _show(want_env.get(key)), _show(got_env.get(key)))))
    if "labels" in truth:
        want_labels = dict(truth["labels"])
        got_labels = comparable_labels(observed.get("labels", {}), own_labels, set(want_labels))
        for key in sorted(set(want_labels) | set(got_labels)):
            if want_labels.get(key) != got_labels.get(key):
                found.append(Difference("labels", "%s: docker %s, apptainer %s" % (
                    key, _show(want_labels.get(key)), _show(got_labels.get(key)))))
    for want, got in zip(truth.get("runs", []), observed.get("runs", [])):
        what = "run %s" % (" ".join(shlex.quote(a) for a in want["args"]) or "(no arguments)")
        problems = []
        if want["status"] == "nonzero":
            if got["status"] == 0:
                problems.append("exit status: docker fails (no command), apptainer 0")
        elif want["status"] != got["status"]:
            problems.append("exit status: docker %s, apptainer %s" % (want["status"], got["status"]))
        if want["stdout"] != got["stdout"]:
            problems.append(_diff(want["stdout"], got["stdout"], "stdout"))
        if want.get("stderr") is not None and want["stderr"] != got["stderr"]:
            problems.append(_diff(want["stderr"], got["stderr"], "stderr"))
        if problems:
            found.append(Difference("runs", "%s:\n%s" % (what, "\n".join(problems))))
    return found


def _show(value: Optional[str]) -> str:
    return "(unset)" if value is None else repr(value)


def report(fixture: Fixture, truth: dict, differences: Sequence[Difference], built: Optional[Built] = None) -> str:
    lines = ["%s: %d difference(s) from %s" % (fixture.name, len(differences), truth.get("source", "the truth"))]
    lines += [str(d) for d in differences]
    if built is not None and built.definition is not None and built.definition.exists():
        lines.append("(the definition built: %s)" % built.definition)
    return "\n".join(lines)
