"""Where d2s spends its time: the profiles behind bench/run's numbers.

    python bench/hotspots.py startup       # -X importtime of one `d2s convert`, by module, slowest first
    python bench/hotspots.py convert       # cProfile of in-process conversions over the corpus
    python bench/hotspots.py convert --sort cumulative --top 40

Run it with the interpreter d2s is installed in (bench/run resolves it the same way).
"""

import argparse
import cProfile
import os
import pstats
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # for bench.py; this file is not named profile.py, which would hide the stdlib module

import bench  # noqa: E402  (bench.py beside this file)


def startup(opts):
    files = sorted(os.listdir(bench.corpus_dir()))
    source = os.path.join(bench.corpus_dir(), files[0])
    with tempfile.TemporaryDirectory() as work:
        out = os.path.join(work, "out.def")
        d2s_cmd = bench.console_scripts("scripts")[0]
        command = d2s_cmd if len(d2s_cmd) == 1 else ["-m", "dockerfile2def"]  # the script, run as bench/run runs it
        argv = [sys.executable, "-X", "importtime"] + command + ["convert", "--offline", source, out]
        subprocess.run(argv, capture_output=True)  # byte-code caches
        done = subprocess.run(argv, capture_output=True, text=True)
    rows = []
    for line in done.stderr.splitlines():
        if not line.startswith("import time:") or "|" not in line:
            continue
        try:
            own, cumulative, name = line[len("import time:"):].split("|")
            rows.append((int(own), int(cumulative), name.rstrip()))
        except ValueError:
            continue
    top = [r for r in rows if not r[2].startswith("  ")]  # imported directly by the program or site
    print("top-level imports, cumulative us (what `d2s convert` pays after the interpreter's own start-up):")
    for own, cumulative, name in sorted(top, key=lambda r: -r[1])[: opts.top]:
        print("%8d  %s" % (cumulative, name.strip()))
    print("\nslowest modules by their own time, us:")
    for own, cumulative, name in sorted(rows, key=lambda r: -r[0])[: opts.top]:
        print("%8d  %s" % (own, name.strip()))


def convert(opts):
    corpus = bench.corpus_dir()
    paths = sorted(os.path.join(corpus, name) for name in os.listdir(corpus))
    run = bench.d2s_converter()
    with tempfile.TemporaryDirectory() as context:
        ok, failed = bench.survey(run, paths, context)  # also warms up: imports, grammar load
        print("%d files convert, %d fail" % (len(ok), len(failed)))
        profile = cProfile.Profile()
        with bench.quiet():
            profile.enable()
            for _ in range(opts.rounds):
                for path in ok:
                    run(path, context)
            profile.disable()
    stats = pstats.Stats(profile)
    stats.strip_dirs().sort_stats(opts.sort).print_stats(opts.top)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("what", choices=("startup", "convert"))
    parser.add_argument("--top", type=int, default=30)
    parser.add_argument("--sort", default="tottime", help="pstats sort key (tottime, cumulative, ncalls)")
    parser.add_argument("--rounds", type=int, default=1, help="passes over the corpus (convert)")
    opts = parser.parse_args()
    {"startup": startup, "convert": convert}[opts.what](opts)


if __name__ == "__main__":
    main()
