"""Start-up cost of the 15-minute cron paths. Prints figures; asserts nothing.

Run: python bench/bench_cli_startup.py [RUNS]        (default 15 runs per command)

Wall time (median of RUNS) of `--twap-status` (with an active plan) and of an idle `--process-twap`,
as a ratio to `python -c pass`, both as real subprocesses in mock mode; then the modules each path
imports (`python -X importtime`): how many, the heaviest, and whether pandas / numpy / matplotlib
are among them. (tests/reliability/test_overlaps.py asserts pandas and matplotlib are not.) Last, the weekly
analysis: wall time, peak RSS and heavy imports, with the simulator in its own process and in-process.
"""
from __future__ import annotations

import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
NOW = "2026-11-23T00:00:00+00:00"
HEAVY = ("pandas", "numpy", "matplotlib")


def machine() -> str:
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor() or "?") if Path("/proc/cpuinfo").exists() else "?"
    return f"{os.cpu_count()} CPUs ({cpu}), Python {platform.python_version()}, {platform.system()} {platform.release()}"


def home_with(config: Path, *setup: list[str]) -> dict[str, str]:
    """A mock-mode home at config.parent, after running `setup` commands in it; its environment."""
    config.parent.mkdir(parents=True, exist_ok=True)
    env = {"PATH": os.environ.get("PATH", ""), "KAIROS_HOME": str(config.parent), "KAIROS_NOW": NOW,
           "PYTHONDONTWRITEBYTECODE": "1"}
    config.write_text("mode: mock\nlanguage: en\n", encoding="utf-8")
    config.chmod(0o600)
    for args in setup:
        subprocess.run([sys.executable, "kairos1_main.py", *args, "--config", str(config)], cwd=REPO, env=env,
                       check=True, capture_output=True)
    return env


def wall(argv: list[str], env: dict[str, str] | None, runs: int) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(argv, cwd=REPO, env=env, check=True, capture_output=True)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def wall_and_rss(argv: list[str], env: dict[str, str], runs: int) -> tuple[float, float]:
    """Median wall time (s) and median peak RSS (MB) of a subprocess, from os.wait4's rusage."""
    times, rss = [], []
    for _ in range(runs):
        start = time.perf_counter()
        proc = subprocess.Popen(argv, cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        _pid, status, usage = os.wait4(proc.pid, 0)
        times.append(time.perf_counter() - start)
        if os.waitstatus_to_exitcode(status) != 0:
            raise RuntimeError(f"{argv} exited {os.waitstatus_to_exitcode(status)}")
        rss.append(usage.ru_maxrss / 1024)
    return statistics.median(times), statistics.median(rss)


def weekly(tmp: Path, runs: int) -> None:
    """--weekly-analysis: with the simulator in another process (the live shape: this process imports only
    the product) and with the in-process simulator (whose market model uses numpy)."""
    sim = subprocess.Popen([sys.executable, "-m", "kairos.sim", "--port", "0", "--state", str(tmp / "sim.sqlite"),
                            "--quiet"], cwd=REPO, stdout=subprocess.PIPE, text=True)
    try:
        url = sim.stdout.readline().split()[-1]  # type: ignore[union-attr]
        import json
        import urllib.request
        request = urllib.request.Request(f"{url}/__sim__/clock", method="POST",
                                         data=json.dumps({"now_ms": 1795392000000}).encode(),
                                         headers={"X-SIM-ADMIN": "sim-access-token-0000"})
        urllib.request.urlopen(request).read()
        rows = []
        for label, extra in (("--weekly-analysis (simulator in its own process)", f"mock:\n  server_url: {url}\n"),
                             ("--weekly-analysis (in-process simulator)", "")):
            config = tmp / label.split("(")[1].split()[0] / "config.yaml"
            config.parent.mkdir(parents=True, exist_ok=True)
            config.write_text("mode: mock\nlanguage: en\n" + extra, encoding="utf-8")
            config.chmod(0o600)
            env = {"PATH": os.environ.get("PATH", ""), "KAIROS_HOME": str(config.parent), "KAIROS_NOW": NOW,
                   "PYTHONDONTWRITEBYTECODE": "1"}
            argv = [sys.executable, "kairos1_main.py", "--weekly-analysis", "--config", str(config)]
            t, rss = wall_and_rss(argv, env, runs)
            heavy = sorted({n.split(".")[0] for n, _ in imports(argv, env) if n.split(".")[0] in HEAVY})
            rows.append((label, t, rss, heavy))
        for label, t, rss, heavy in rows:
            print(f"{label:<50} {t * 1000:7.1f} ms  peak RSS {rss:5.1f} MB  heavy imports: {', '.join(heavy) or 'none'}")
    finally:
        sim.terminate()
        sim.wait(timeout=10)


def imports(argv: list[str], env: dict[str, str]) -> list[tuple[str, int]]:
    """(module, cumulative µs) from -X importtime, in import order."""
    done = subprocess.run([sys.executable, "-X", "importtime", *argv[1:]], cwd=REPO, env=env, capture_output=True, text=True)
    rows = []
    for line in done.stderr.splitlines():
        if line.startswith("import time:") and "|" in line and "cumulative" not in line:
            _, cumulative, name = (part.strip() for part in line[len("import time:"):].split("|"))
            rows.append((name, int(cumulative)))
    return rows


def main(runs: int) -> None:
    print(f"machine: {machine()}")
    print(f"median of {runs} runs each\n")
    with tempfile.TemporaryDirectory() as tmp:
        active = home_with(Path(tmp) / "active" / "config.yaml", ["--quarterly-rebalance-twap"])
        idle = home_with(Path(tmp) / "idle" / "config.yaml")
        base = wall([sys.executable, "-c", "pass"], None, runs)
        paths = {
            "--twap-status (active plan)": ([sys.executable, "kairos1_main.py", "--twap-status", "--config",
                                             str(Path(tmp) / "active" / "config.yaml")], active),
            "--process-twap (idle)": ([sys.executable, "kairos1_main.py", "--process-twap", "--config",
                                       str(Path(tmp) / "idle" / "config.yaml")], idle),
        }
        print(f"{'python -c pass':<34} {base * 1000:8.1f} ms   1.0×")
        for label, (argv, env) in paths.items():
            t = wall(argv, env, runs)
            print(f"{label:<34} {t * 1000:8.1f} ms  {t / base:4.1f}×")
        print()
        for label, (argv, env) in paths.items():
            rows = imports(argv, env)
            heavy = sorted({name.split(".")[0] for name, _ in rows if name.split(".")[0] in HEAVY})
            top = sorted((r for r in rows if "." not in r[0]), key=lambda r: -r[1])[:8]
            print(f"{label}: {len(rows)} modules imported, heavy: {', '.join(heavy) or 'none (no pandas, numpy, matplotlib)'}")
            print("  heaviest top-level imports (cumulative ms): "
                  + ", ".join(f"{name} {us / 1000:.0f}" for name, us in top))
        print()
        weekly(Path(tmp), runs)


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 15)
