"""d2s against spython, side by side in one run: start-up, throughput, scaling and `d2s check`.

Run it through ``bench/run`` (``--quick`` for a smoke run). Everything is measured here and printed as
one table with d2s, spython and d2s/spython columns; a full run also appends a dated section to
bench/RESULTS.md. Nothing here asserts a number: the benchmark reports, people judge.

How each tool is invoked:

* CLI latency: the installed console scripts ``d2s`` and ``spython`` from the scripts folder of the
  interpreter running the benchmark (``sysconfig.get_path("scripts")``, what PATH finds in a venv or
  a plain install), as ``d2s convert --offline Dockerfile OUT`` and ``spython recipe Dockerfile OUT``
  run in a folder holding only that Dockerfile. Both scripts start the same interpreter the same way,
  so the comparison is like with like; a pyenv shim on PATH (a bash script that runs ``pyenv exec``)
  is deliberately bypassed for both, as it adds tens of milliseconds that belong to neither tool.
* In process: ``dockerfile2def.convert`` on the decoded file text (reading and decoding the file
  included), against spython's ``DockerParser(path)`` + ``SingularityWriter(recipe).convert()``,
  which is what ``spython recipe`` does. spython's log output goes to /dev/null at the descriptor level.
"""

import argparse
import compileall
import contextlib
import datetime
import gc
import importlib.util
import math
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import sysconfig
import tempfile
import time
import tracemalloc

BENCH = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(BENCH)
RESULTS = os.path.join(BENCH, "RESULTS.md")
NA = "not available"


def corpus_dir():
    shared = os.environ.get("D2S_SHARED") or os.path.join(os.path.dirname(REPO), "shared")
    return os.path.join(shared, "corpus", "files")


# -- the tools, in process -------------------------------------------------------------------------


def d2s_converter():
    """A function (path, context) -> definition text, as `d2s convert` does it minus the CLI."""
    import dockerfile2def
    from dockerfile2def.conversion import decode_source

    convert = dockerfile2def.convert

    def run(path, context):
        with open(path, "rb") as handle:
            raw = handle.read()
        return convert(decode_source(raw, path), context=context, path=path).definition

    return run


def spython_converter():
    """A function (path, context) -> definition text, as `spython recipe` does it minus the CLI."""
    from spython.main.parse.parsers import DockerParser
    from spython.main.parse.writers import SingularityWriter

    def run(path, context):
        return SingularityWriter(DockerParser(path).recipe).convert(runscript="/bin/bash", force=False)

    return run


@contextlib.contextmanager
def quiet():
    """Send what the tools print (spython logs to the streams it saw at import) to /dev/null."""
    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    null = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(null, 1)
        os.dup2(null, 2)
        yield
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
        for fd in (null,) + saved:
            os.close(fd)


def survey(run, paths, context):
    """The paths ``run`` converts without raising (SystemExit included: spython exits on errors)."""
    ok, failed = [], []
    with quiet():
        for path in paths:
            try:
                run(path, context)
            except (Exception, SystemExit) as err:  # noqa: B902 - a crash is what we count
                failed.append((path, "%s: %s" % (type(err).__name__, str(err).splitlines()[0] if str(err) else "")))
            else:
                ok.append(path)
    return ok, failed


def time_pass(run, paths, context):
    """CPU seconds (this process, user + system) to run over ``paths``: the work is single-threaded and
    CPU-bound, and CPU time holds steady when other jobs share the machine, where wall time does not."""
    with quiet():
        start = time.process_time()
        for path in paths:
            run(path, context)
        return time.process_time() - start


def rounds_of(rounds, runs, paths, context):
    """CPU seconds of each of ``runs`` over ``paths`` in each round, the runs taking turns round by round:
    a slow spell of the machine (its speed moves by a third within minutes here) then falls on both."""
    times = [[] for _ in runs]
    for _ in range(rounds):
        for i, run in enumerate(runs):
            gc.collect()
            times[i].append(time_pass(run, paths, context))
    return times


# -- the tools, as commands ------------------------------------------------------------------------


def console_scripts(via):
    """The argv prefixes for d2s and spython, and a sentence saying how they were chosen."""
    scripts = sysconfig.get_path("scripts")
    d2s, spython = os.path.join(scripts, "d2s"), os.path.join(scripts, "spython")
    if via == "scripts" and os.access(d2s, os.X_OK) and os.access(spython, os.X_OK):
        how = "console scripts %s and %s (shebang: %s)" % (d2s, spython, _shebang(d2s))
        return [d2s], [spython], how
    # spython has no __main__ module: its console script's entry point, run with -c, is the equivalent.
    how = "%s -m dockerfile2def, and -c running spython.client:main" % sys.executable
    return (
        [sys.executable, "-m", "dockerfile2def"],
        [sys.executable, "-c", "import sys; from spython.client import main; sys.exit(main())"],
        how,
    )


def _shebang(path):
    try:
        with open(path, "rb") as handle:
            first = handle.readline().decode("utf-8", "replace").strip()
        return first[2:] if first.startswith("#!") else "?"
    except OSError:
        return "?"


def run_command(argv, cwd, cpu=None):
    """Run ``argv``; its wall time, exit status and stderr. ``cpu`` (a list) gets the child's CPU seconds."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run(argv, cwd=cwd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    elapsed = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if cpu is not None:
        cpu.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
    return elapsed, done.returncode, done.stderr


def compile_packages():
    """Write the byte-code caches of both packages, as a pip install does.

    An editable install (or PYTHONDONTWRITEBYTECODE=1 in the environment) can leave d2s without
    them while spython, installed from a wheel, has them: every d2s start would then compile its
    sources, a cost no installed user pays.
    """
    done = []
    for name in ("dockerfile2def", "dockerfile2def.grammar", "spython", "lark"):
        spec = importlib.util.find_spec(name)
        for folder in (spec.submodule_search_locations or []) if spec else []:
            if compileall.compile_dir(folder, quiet=1):
                done.append(name)
    return done


# -- measurements ----------------------------------------------------------------------------------


class Table:
    def __init__(self):
        self.rows = []  # (label, d2s, spython, ratio, target)
        self.notes = []

    def add(self, label, d2s="", spython="", ratio="", target=""):
        self.rows.append((label, d2s, spython, ratio, target))

    def note(self, text):
        self.notes.append(text)

    def text(self):
        head = ("measurement", "d2s", "spython", "d2s/spython", "target")
        widths = [max(len(str(r[i])) for r in self.rows + [head]) for i in range(5)]
        line = lambda r: "  ".join(  # noqa: E731
            str(c).ljust(w) if i == 0 else str(c).rjust(w) for i, (c, w) in enumerate(zip(r, widths))
        )
        out = [line(head), "  ".join("-" * w for w in widths)] + [line(r) for r in self.rows]
        return "\n".join(out + [""] + ["* " + n for n in self.notes])

    def markdown(self):
        out = ["| measurement | d2s | spython | d2s/spython | target |", "|---|--:|--:|--:|---|"]
        out += ["| %s |" % " | ".join(str(c) for c in r) for r in self.rows]
        return "\n".join(out + [""] + ["- " + n for n in self.notes])


def ratio(a, b):
    if not a or not b:
        return ""
    return "%.2f" % (a / b)


def pick(paths, count):
    """``count`` paths spread evenly over the sorted list (the same ones on every run)."""
    if len(paths) <= count:
        return list(paths)
    step = len(paths) / count
    return [paths[int(i * step)] for i in range(count)]


def cli_latency(table, opts, files, work, d2s_cmd, spython_cmd):
    """1. Whole-process latency of one conversion, each tool on the same files, runs interleaved."""
    chosen = pick(files, opts.cli_files)
    cases = []
    for index, path in enumerate(chosen):
        folder = os.path.join(work, "cli", "%02d" % index)
        os.makedirs(folder)
        shutil.copyfile(path, os.path.join(folder, "Dockerfile"))
        cases.append(folder)
    outputs = os.path.join(work, "cli-out")
    os.makedirs(outputs)

    def once(tool, folder, index, cpu=None):
        out = os.path.join(outputs, "%02d.%s.def" % (index, tool))
        if os.path.exists(out):
            os.unlink(out)
        if tool == "d2s":
            return run_command(d2s_cmd + ["convert", "--offline", "Dockerfile", out], folder, cpu)
        return run_command(spython_cmd + ["recipe", "Dockerfile", out], folder, cpu)

    for index, folder in enumerate(cases):  # warm-up: byte-code caches, page cache
        once("d2s", folder, index)
        once("spython", folder, index)
    times = {"d2s": [], "spython": []}
    cpu = {"d2s": [], "spython": []}
    failures = {"d2s": set(), "spython": set()}
    for turn in range(opts.cli_runs):
        order = ("d2s", "spython") if turn % 2 == 0 else ("spython", "d2s")
        for index, folder in enumerate(cases):
            for tool in order:
                elapsed, status, err = once(tool, folder, index, cpu[tool])
                times[tool].append(elapsed)
                if status != 0:
                    failures[tool].add((os.path.basename(chosen[index]), status, err.decode("utf-8", "replace")))
    floor, floor_cpu = [], []
    for _ in range(max(5, opts.cli_runs)):
        floor.append(run_command([sys.executable, "-c", "pass"], work, floor_cpu)[0])
    for label, values in (("wall", times), ("CPU (user+sys)", cpu)):
        d2s_ms = statistics.median(values["d2s"]) * 1000
        spy_ms = statistics.median(values["spython"]) * 1000
        table.add(
            "1. CLI latency, %s, median ms (%d files x %d runs)" % (label, len(cases), opts.cli_runs),
            "%.1f" % d2s_ms,
            "%.1f" % spy_ms,
            ratio(d2s_ms, spy_ms),
            "< 1.00",
        )
    table.note(
        "CLI latency includes the interpreter's own start-up: `python -c pass` takes %.1f ms wall, %.1f ms CPU "
        "here (medians)." % (statistics.median(floor) * 1000, statistics.median(floor_cpu) * 1000)
    )
    for tool in ("d2s", "spython"):
        if failures[tool]:
            name, status, err = sorted(failures[tool])[0]
            table.note(
                "%s exited non-zero on %d of the CLI files (e.g. %s: status %d, %s)"
                % (tool, len(failures[tool]), name, status, err.strip().splitlines()[-1][:160] if err.strip() else "")
            )


def throughput(table, opts, files, work, d2s_run, spython_run, context):
    """2. In-process conversions per second over the corpus and over a copy inflated to 10 MB."""
    d2s_ok, d2s_failed = survey(d2s_run, files, context)
    spy_ok, spy_failed = survey(spython_run, files, context)
    common = [p for p in spy_ok if p in set(d2s_ok)]
    table.note(
        "Throughput runs on the %d of %d corpus files that both convert: spython crashes on %d, d2s fails on %d."
        % (len(common), len(files), len(spy_failed), len(d2s_failed))
    )
    for path, err in d2s_failed[:3]:
        table.note("d2s failed on %s: %s" % (os.path.basename(path), err[:200]))
    if not common:
        table.add("2. throughput", NA, NA)
        return common

    def measure(label, paths, rounds):
        size = sum(os.path.getsize(p) for p in paths) / 1e6
        d2s_times, spy_times = rounds_of(rounds, (d2s_run, spython_run), paths, context)
        d2s_s, spy_s = min(d2s_times), min(spy_times)
        d2s_fps, spy_fps = len(paths) / d2s_s, len(paths) / spy_s
        # Each round's pair was timed seconds apart: the median of their ratios shrugs off a slow spell.
        pairs = sorted(spy / d2s for d2s, spy in zip(d2s_times, spy_times))
        table.note("Row 2, %s: d2s/spython files/s round by round %s; median %.2f." % (
            label.split(" (")[0], ", ".join("%.2f" % r for r in pairs), statistics.median(pairs)))
        table.add("2. %s, files/s" % label, "%.0f" % d2s_fps, "%.0f" % spy_fps, ratio(d2s_fps, spy_fps), ">= 1.00")
        table.add("2. %s, MB/s" % label, "%.2f" % (size / d2s_s), "%.2f" % (size / spy_s), ratio(spy_s, d2s_s), ">= 1.00")

    measure("corpus (%d files, %.2f MB)" % (len(common), sum(os.path.getsize(p) for p in common) / 1e6), common, opts.rounds)

    # The corpus copied over and over to the target size, each copy a file of its own.
    folder = os.path.join(work, "inflated")
    os.makedirs(folder)
    inflated, total, index = [], 0, 0
    while total < opts.inflate_bytes:
        source = common[index % len(common)]
        target = os.path.join(folder, "%05d-%s" % (index, os.path.basename(source)))
        shutil.copyfile(source, target)
        inflated.append(target)
        total += os.path.getsize(target)
        index += 1
    measure("inflated corpus (%d files, %.1f MB)" % (len(inflated), total / 1e6), inflated, opts.inflate_rounds)
    return common


SCALE_BLOCK = (
    "ARG V{i}=1.{i}",
    "ENV TOOL{i}_HOME=/opt/tool{i} TOOL{i}_BIN=$TOOL{i}_HOME/bin",
    'RUN mkdir -p /opt/tool{i} && echo "step {i} ${{V{i}}}" > /opt/tool{i}/version',
    "WORKDIR /opt/tool{i}",
    "COPY file{i}.txt ./",
    'LABEL org.example.step{i}="tool {i}"',
    "RUN --mount=type=cache,target=/root/.cache pip install 'tool{i}==${{V{i}}}'",
    "EXPOSE {port}",
    "USER {user}",
    "HEALTHCHECK CMD test -f /opt/tool{i}/version",
)


def scaled_dockerfile(instructions):
    """A Dockerfile of exactly ``instructions`` instructions: FROM, then a varied block over and over.

    No value grows with the file (no PATH=...:$PATH chain, whose expansions alone would be quadratic in
    any faithful converter), so a linear converter takes linear time on it.
    """
    lines = ["# syntax=docker/dockerfile:1", "FROM ubuntu:22.04 AS base"]
    i = 0
    while len(lines) - 1 < instructions - 1:
        template = SCALE_BLOCK[i % len(SCALE_BLOCK)]
        n = i // len(SCALE_BLOCK)
        lines.append(template.format(i=n, port=8000 + n % 1000, user="root" if n % 2 else "1000"))
        i += 1
    lines.append('CMD ["bash"]')
    return "\n".join(lines) + "\n"


def scaling(table, opts, work, d2s_run, spython_run, context):
    """3. Time per file as the instruction count grows tenfold, its slope, and the largest file's memory peak."""
    folder = os.path.join(work, "scaling")
    os.makedirs(folder)
    results = {"d2s": {}, "spython": {}}
    paths = {}
    for n in opts.sizes:
        path = os.path.join(folder, "Dockerfile.%d" % n)
        with open(path, "w") as handle:
            handle.write(scaled_dockerfile(n))
        paths[n] = path
        for tool, run in (("d2s", d2s_run), ("spython", spython_run)):
            try:
                first = time_pass(run, [path], context)
            except (Exception, SystemExit) as err:
                results[tool][n] = None
                table.note("%s failed on the %d-instruction file: %s" % (tool, n, str(err).splitlines()[0][:160]))
                continue
            repeats = max(3, min(50, int(opts.scale_budget / max(first, 1e-6))))
            times = [time_pass(run, [path], context) for _ in range(repeats)]
            results[tool][n] = statistics.median(times)
    for n in opts.sizes:
        d, s = results["d2s"].get(n), results["spython"].get(n)
        table.add(
            "3. %d instructions, ms per file" % n,
            "%.2f" % (d * 1000) if d else NA,
            "%.2f" % (s * 1000) if s else NA,
            ratio(d, s),
            "linear",
        )
    slopes = {}
    for tool in ("d2s", "spython"):
        points = [(n, t) for n, t in results[tool].items() if t]
        slopes[tool] = _slopes(points)
    table.add(
        "3. slope, us per instruction (least squares)",
        "%.1f" % slopes["d2s"][0] if slopes["d2s"] else NA,
        "%.1f" % slopes["spython"][0] if slopes["spython"] else NA,
        ratio(slopes["d2s"] and slopes["d2s"][0], slopes["spython"] and slopes["spython"][0]),
    )
    low, high = opts.sizes[-2], opts.sizes[-1]
    table.add(
        "3. growth exponent %d -> %d (1.00 = linear)" % (low, high),
        "%.2f" % slopes["d2s"][1] if slopes["d2s"] else NA,
        "%.2f" % slopes["spython"][1] if slopes["spython"] else NA,
        "",
        "~1.00",
    )
    peaks = {}
    for tool, run in (("d2s", d2s_run), ("spython", spython_run)):
        if not results[tool].get(high):
            continue
        gc.collect()
        tracemalloc.start()
        try:
            time_pass(run, [paths[high]], context)
            peaks[tool] = tracemalloc.get_traced_memory()[1] / 1e6
        finally:
            tracemalloc.stop()
    table.add(
        "3. memory peak, %d instructions, MB (tracemalloc)" % high,
        "%.1f" % peaks["d2s"] if "d2s" in peaks else NA,
        "%.1f" % peaks["spython"] if "spython" in peaks else NA,
        ratio(peaks.get("d2s"), peaks.get("spython")),
    )


def _slopes(points):
    """(least-squares seconds per instruction in microseconds, log-log growth between the last two sizes)."""
    if len(points) < 2:
        return None
    points.sort()
    mean_n = sum(n for n, _ in points) / len(points)
    mean_t = sum(t for _, t in points) / len(points)
    num = sum((n - mean_n) * (t - mean_t) for n, t in points)
    den = sum((n - mean_n) ** 2 for n, _ in points)
    (n1, t1), (n2, t2) = points[-2], points[-1]
    return num / den * 1e6, math.log(t2 / t1) / math.log(n2 / n1)


def check_throughput(table, opts, common, work, d2s_run, d2s_cmd, context):
    """4. `d2s check` over definition files (d2s's own conversions of the corpus, copied up to the count), one process."""
    label = "4. d2s check, %d .def files in one process, files/s" % opts.check_files
    if importlib.util.find_spec("dockerfile2def.check") is None:
        table.add(label, NA, "", "", "")
        table.note("d2s check: dockerfile2def.check is not there yet, so row 4 is not measured.")
        return
    folder = os.path.join(work, "defs")
    os.makedirs(folder)
    texts = []
    with quiet():
        for path in common:
            try:
                texts.append((os.path.basename(path), d2s_run(path, context)))
            except Exception:
                continue
    if not texts:
        table.add(label, NA)
        return
    defs = []
    for index in range(opts.check_files):
        name, text = texts[index % len(texts)]
        target = os.path.join(folder, "%03d-%s.def" % (index, name))
        with open(target, "w", encoding="utf-8") as handle:
            handle.write(text)
        defs.append(target)
    argv = d2s_cmd + ["check", "--format", "json"] + [os.path.basename(p) for p in defs]
    run_command(argv, folder)  # warm-up
    elapsed, status, err = run_command(argv, folder)
    if status not in (0, 1):
        table.add(label, NA)
        table.note("d2s check exited %d: %s" % (status, err.decode("utf-8", "replace").strip()[-300:]))
        return
    # The peer: spython has no checker; reading each .def with its SingularityParser, in one process, is the
    # closest it does.
    peer = (
        "import sys\nfrom spython.main.parse.parsers import SingularityParser\ncrashed = 0\n"
        "for path in sys.argv[1:]:\n"
        "    try:\n        SingularityParser(path)\n"
        "    except (Exception, SystemExit):\n        crashed += 1\n"
        "sys.stderr.write('crashed=%d\\n' % crashed)\n"
    )
    spy_elapsed, spy_status, spy_err = run_command([sys.executable, "-c", peer] + [os.path.basename(p) for p in defs], folder)
    crashed = spy_err.decode("utf-8", "replace").rsplit("crashed=", 1)[-1].strip() if b"crashed=" in spy_err else "?"
    d2s_fps = len(defs) / elapsed
    spy_fps = len(defs) / spy_elapsed if spy_status == 0 else None
    table.add(label, "%.0f" % d2s_fps, "%.0f" % spy_fps if spy_fps else NA, ratio(d2s_fps, spy_fps), "")
    table.note(
        "Row 4: whole process, start-up included; spython's column reads the same files with its SingularityParser "
        "(it has no checker; it raised on %s of them). d2s check exited %d (0: clean, 1: findings)." % (crashed, status)
    )


# -- the report ------------------------------------------------------------------------------------


def versions():
    from importlib import metadata

    found = {}
    for name, dist in (("d2s", "dockerfile2def"), ("lark", "lark"), ("spython", "spython"), ("typer", "typer")):
        try:
            found[name] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            found[name] = "not installed"
    return found


def load():
    try:
        return "load average %.2f %.2f %.2f" % os.getloadavg()
    except OSError:
        return "load average unknown"


def machine():
    model, memory = platform.processor() or platform.machine(), ""
    try:
        with open("/proc/cpuinfo") as handle:
            for line in handle:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
        with open("/proc/meminfo") as handle:
            for line in handle:
                if line.startswith("MemTotal:"):
                    memory = "%.1f GiB" % (int(line.split()[1]) / 1024 / 1024)
                    break
    except OSError:
        pass
    return "%s, %d cores, %s memory, %s %s" % (model, os.cpu_count() or 0, memory or "?", platform.system(), platform.release())


def git_revision():
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=REPO, capture_output=True, text=True).stdout.strip()
        return head + (" + uncommitted changes" if dirty else "") if head else "unknown"
    except OSError:
        return "unknown"


def record(table, header):
    fresh = not os.path.exists(RESULTS)
    with open(RESULTS, "a", encoding="utf-8") as handle:
        if fresh:
            handle.write(
                "# Benchmark results\n\nEach section is one run of `bench/run` (newest last), as it printed it. "
                "Ratios are d2s/spython; see bench/bench.py for what each row measures.\n"
            )
        handle.write("\n" + header + "\n\n" + table.markdown() + "\n")


def options(argv):
    parser = argparse.ArgumentParser(prog="bench/run", description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="a small smoke run (seconds); records nothing")
    parser.add_argument("--no-record", action="store_true", help="do not append to bench/RESULTS.md")
    parser.add_argument(
        "--via",
        choices=("scripts", "module"),
        default="scripts",
        help="run the CLIs as console scripts (default) or as `python -m` / `python -c` with this interpreter",
    )
    opts = parser.parse_args(argv)
    if opts.quick:
        opts.cli_files, opts.cli_runs, opts.rounds = 3, 1, 1
        opts.inflate_bytes, opts.inflate_rounds = 500_000, 1
        opts.sizes, opts.scale_budget, opts.check_files = (10, 100, 1000), 0.05, 20
        opts.max_files = 20
        opts.no_record = True
    else:
        opts.cli_files, opts.cli_runs, opts.rounds = 20, 7, 5
        opts.inflate_bytes, opts.inflate_rounds = 10_000_000, 3
        opts.sizes, opts.scale_budget, opts.check_files = (10, 100, 1000, 10000), 1.0, 500
        opts.max_files = None
    return opts


def main(argv=None):
    opts = options(sys.argv[1:] if argv is None else argv)
    corpus = corpus_dir()
    if not os.path.isdir(corpus):
        sys.stderr.write("bench: no corpus at %s (set D2S_SHARED)\n" % corpus)
        return 2
    files = sorted(os.path.join(corpus, name) for name in os.listdir(corpus))
    if opts.max_files:
        files = pick(files, opts.max_files)
    d2s_cmd, spython_cmd, how = console_scripts(opts.via)
    compile_packages()
    if os.environ.get("PYTHONDONTWRITEBYTECODE"):
        how += "; PYTHONDONTWRITEBYTECODE is set, so the byte-code caches were written with compileall first"
    table = Table()
    started = time.time()
    stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    found = versions()
    header = "## %s%s, git %s\n\n- Machine: %s; %s at the start\n- Python %s (%s)\n- Versions: %s\n- CLIs: %s" % (
        stamp,
        " (quick)" if opts.quick else "",
        git_revision(),
        machine(),
        load(),
        platform.python_version(),
        sys.executable,
        ", ".join("%s %s" % item for item in found.items()),
        how,
    )
    print(header.replace("## ", "d2s benchmark, ", 1), flush=True)

    with tempfile.TemporaryDirectory(prefix="d2s-bench-") as work:
        context = os.path.join(work, "context")  # an empty build context: COPY sources are reported missing
        os.makedirs(context)
        spython_run = spython_converter()
        try:
            d2s_run = d2s_converter()
            started_import = time.perf_counter()
            with quiet():
                try:
                    d2s_run(files[0], context)
                except Exception:
                    started_import = None
            if started_import is not None:
                table.note(
                    "d2s in process: the first conversion (imports, grammar load) took %.0f ms."
                    % ((time.perf_counter() - started_import) * 1000)
                )
        except Exception as err:  # the package does not import: report, do not crash
            d2s_run = None
            table.note("d2s does not import: %s: %s" % (type(err).__name__, err))

        # Throughput first: it finds the files both tools convert, which the CLI and check rows then use.
        common = []
        print("- throughput ...", flush=True)
        if d2s_run is None:
            table.add("2. throughput", NA)
        else:
            common = _guard(table, "2. throughput", lambda: throughput(table, opts, files, work, d2s_run, spython_run, context))
            common = common or []
        print("- CLI latency ...", flush=True)
        _guard(table, "1. CLI latency", lambda: cli_latency(table, opts, common or files, work, d2s_cmd, spython_cmd))
        print("- scaling ...", flush=True)
        if d2s_run is None:
            table.add("3. scaling", NA)
        else:
            _guard(table, "3. scaling", lambda: scaling(table, opts, work, d2s_run, spython_run, context))
        print("- check ...", flush=True)
        if d2s_run is None:
            table.add("4. d2s check", NA)
        else:
            _guard(table, "4. d2s check", lambda: check_throughput(table, opts, common, work, d2s_run, d2s_cmd, context))
        table.rows.sort(key=lambda row: row[0][:2])  # in the order: 1. to 4.

    table.note("Run took %.0f s; %s at the end." % (time.time() - started, load()))
    table.note(
        "In-process rows (2, 3) time CPU seconds of the benchmark process (time.process_time, best of the rounds "
        "for row 2, the two tools taking turns round by round, median for row 3); CLI rows time each whole "
        "process, wall and CPU."
    )
    print()
    print(table.text())
    if not opts.no_record:
        record(table, header)
        print("\nrecorded in %s" % os.path.relpath(RESULTS))
    return 0


def _guard(table, name, step):
    try:
        return step()
    except Exception as err:  # one broken measurement must not hide the others
        table.add(name, "error", "", "", "")
        table.note("%s: %s: %s" % (name, type(err).__name__, str(err)[:300]))
        return None


if __name__ == "__main__":
    sys.exit(main())
