"""Bundle benchmark (prints numbers; not a test): size and start-up time of the frozen app.

1. Size: the folder ``build.spec`` makes (``dist/PneumoDesktop``) against a plain
   ``pyinstaller --onedir`` build of the same entry point, built into a temporary folder. The
   plain build gets the same model (``--add-data``) so that both folders hold a runnable app.
   ``pneumo_desktop/__main__.py`` itself cannot be PyInstaller's entry script (its relative imports
   fail when it runs as a top-level script), so both builds use the same two-line launcher that
   build.spec generates: ``from pneumo_desktop.__main__ import main; sys.exit(main())``.
2. Start-up: ``PneumoDesktop --self-test --startup-probe`` opens the real main window off screen
   (QT_QPA_PLATFORM=offscreen), waits for the window's ``model_ready`` signal and prints the
   wall-clock times; the benchmark subtracts the moment it started the process. So "window shown"
   and "model ready" include the bootloader, unpacking nothing (one-folder), Python, Qt and the
   model load, as a user would wait for them. The first run is reported apart (colder caches).
   Also timed: the whole ``--self-test``.

    python benchmarks/bundle_bench.py                  # build whatever is missing, then measure
    python benchmarks/bundle_bench.py --rebuild --runs 5 --json bench.json

Run with the project's virtual environment active; builds run with ``nice``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
APP = "PneumoDesktop"


def folder_size(path: Path, follow_symlinks: bool = False) -> int:
    """Bytes in a folder; a bundle's symbolic links count as links, a source folder's as their targets."""
    total = 0
    for root, _dirs, files in os.walk(path):
        for f in files:
            total += os.stat(os.path.join(root, f), follow_symlinks=follow_symlinks).st_size
    return total


def exe_in(folder: Path, name: str) -> Path:
    exe = folder / (name + (".exe" if sys.platform == "win32" else ""))
    if not exe.is_file():
        raise SystemExit(f"no executable {exe}")
    return exe


def nice(cmd: list[str]) -> list[str]:
    return ["nice", "-n", "15", *cmd] if sys.platform != "win32" else cmd


def build_spec(rebuild: bool) -> tuple[Path, float | None]:
    out = REPO / "dist" / APP
    if out.is_dir() and not rebuild:
        return out, None
    t0 = time.perf_counter()
    subprocess.run(
        nice([sys.executable, "-m", "PyInstaller", "--noconfirm", "--log-level", "WARN", "build.spec"]),
        cwd=REPO,
        check=True,
    )
    return out, time.perf_counter() - t0


def build_plain(work: Path, model_dir: Path, rebuild: bool) -> tuple[Path, float | None]:
    out = work / "dist" / f"{APP}Plain"
    if out.is_dir() and not rebuild:
        return out, None
    work.mkdir(parents=True, exist_ok=True)
    launcher = work / "pneumo_desktop_launcher.py"
    launcher.write_text("import sys\n\nfrom pneumo_desktop.__main__ import main\n\nsys.exit(main())\n")
    cmd = [
        sys.executable, "-m", "PyInstaller", "--noconfirm", "--log-level", "WARN", "--onedir",
        "--name", f"{APP}Plain", "--paths", str(REPO),
        "--add-data", f"{model_dir}{os.pathsep}resources/model",
        "--distpath", str(work / "dist"), "--workpath", str(work / "build"), "--specpath", str(work),
        str(launcher),
    ]  # fmt: skip
    t0 = time.perf_counter()
    subprocess.run(nice(cmd), cwd=work, check=True)
    return out, time.perf_counter() - t0


def probe_env(tmp: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.pop("PNEUMO_MODEL_DIR", None)  # the bundled model
    env.update(
        QT_QPA_PLATFORM="offscreen",
        PNEUMO_DATA_DIR=str(tmp / "userdata"),
        XDG_CONFIG_HOME=str(tmp / "config"),
    )
    return env


def startup(cmd: list[str], runs: int, env: dict[str, str]) -> list[dict[str, float]]:
    out = []
    for _ in range(runs):
        t0 = time.time()
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=900)
        t_end = time.time()
        line = next((ln for ln in reversed(proc.stdout.splitlines()) if ln.startswith("{")), None)
        if proc.returncode != 0 or line is None:
            raise SystemExit(
                f"start-up probe failed ({proc.returncode}):\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}"
            )
        stamps = json.loads(line)
        out.append({
            "window_shown_s": stamps["window_shown"] - t0,
            "model_ready_s": stamps["model_ready"] - t0,
            "process_total_s": t_end - t0,
        })  # fmt: skip
    return out


def self_test_time(exe: Path, env: dict[str, str]) -> float:
    t0 = time.perf_counter()
    proc = subprocess.run([str(exe), "--self-test"], env=env, capture_output=True, text=True, timeout=900)
    if proc.returncode != 0:
        raise SystemExit(f"self-test failed:\n{proc.stdout[-3000:]}")
    return time.perf_counter() - t0


def summarise(samples: list[dict[str, float]]) -> dict[str, object]:
    first, rest = samples[0], samples[1:] or samples
    return {
        "first": {k: round(v, 2) for k, v in first.items()},
        "median_of_rest": {k: round(statistics.median(s[k] for s in rest), 2) for k in first},
        "runs": len(samples),
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--plain-dir", type=Path, default=Path(tempfile.gettempdir()) / "pneumo-plain-build")
    p.add_argument("--rebuild", action="store_true", help="rebuild both bundles even if they exist")
    p.add_argument("--runs", type=int, default=3, help="start-up measurements per variant")
    p.add_argument("--no-plain-startup", action="store_true", help="time only build.spec's app")
    p.add_argument("--source", action="store_true", help="also time the app from source (python -m ...)")
    p.add_argument("--json", type=Path, help="write the numbers here too")
    args = p.parse_args(argv)

    model_dir = Path(os.environ.get("PNEUMO_BUNDLE_MODEL_DIR") or REPO / "resources" / "model").resolve()
    spec_dir, spec_build_s = build_spec(args.rebuild)
    plain_dir, plain_build_s = build_plain(args.plain_dir, model_dir, args.rebuild)
    spec_size, plain_size = folder_size(spec_dir), folder_size(plain_dir)
    model_size = folder_size(model_dir, follow_symlinks=True)  # the bundles hold copies of linked files
    result: dict[str, object] = {
        "platform": sys.platform,
        "model": str(model_dir),
        "model_mb": round(model_size / 2**20, 1),
        "spec_bundle_mb": round(spec_size / 2**20, 1),
        "plain_bundle_mb": round(plain_size / 2**20, 1),
        "smaller_by_pct": round(100 * (1 - spec_size / plain_size), 1),
        "smaller_by_pct_without_model": round(
            100 * (1 - (spec_size - model_size) / (plain_size - model_size)), 1
        ),
        "spec_build_s": round(spec_build_s, 1) if spec_build_s else None,
        "plain_build_s": round(plain_build_s, 1) if plain_build_s else None,
    }
    print(
        f"bundle size: build.spec {result['spec_bundle_mb']} MiB vs plain --onedir {result['plain_bundle_mb']} "
        f"MiB: {result['smaller_by_pct']}% smaller ({result['smaller_by_pct_without_model']}% without the "
        f"{result['model_mb']} MiB model)"
    )

    with tempfile.TemporaryDirectory(prefix="pneumo-bench-") as tmp:
        env = probe_env(Path(tmp))
        spec_exe = exe_in(spec_dir, APP)
        result["startup_spec"] = summarise(
            startup([str(spec_exe), "--self-test", "--startup-probe"], args.runs, env)
        )
        print(f"start-up, build.spec app: {json.dumps(result['startup_spec'])}")
        if not args.no_plain_startup:
            plain_exe = exe_in(plain_dir, f"{APP}Plain")
            cmd = [str(plain_exe), "--self-test", "--startup-probe"]
            result["startup_plain"] = summarise(startup(cmd, args.runs, env))
            print(f"start-up, plain app:      {json.dumps(result['startup_plain'])}")
        if args.source:
            src_env = dict(env, PNEUMO_MODEL_DIR=str(model_dir))
            cmd = [sys.executable, "-m", "pneumo_desktop", "--self-test", "--startup-probe"]
            result["startup_source"] = summarise(startup(cmd, args.runs, src_env))
            print(f"start-up, from source:    {json.dumps(result['startup_source'])}")
        result["self_test_s"] = round(self_test_time(spec_exe, env), 2)
        print(f"--self-test of the build.spec app: {result['self_test_s']} s")
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
