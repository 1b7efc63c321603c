"""Run batch jobs as Ray tasks (``lowlight batch --ray [ADDRESS]``).

Ray is an optional extra (``pip install lowlight-studio[cluster]``) imported only here,
lazily; without it :class:`ClusterError` says how to get it. Each clip is one task
running :func:`engine.jobs.queue.run_job` (the same job the local queue runs). Tasks are
retried when their worker dies (``max_retries``); with ``segment_seconds`` set in the
settings, a retried clip resumes from its journal instead of starting over (the work
folder lives beside the output, so it must be on storage the workers share).
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any, Callable, Sequence

from engine.jobs.queue import JobSettings

__all__ = ["ClusterError", "run_on_ray"]


class ClusterError(RuntimeError):
    """Ray is missing or the cluster cannot be reached."""


def _import_ray() -> Any:
    try:
        import ray  # noqa: PLC0415 (optional dependency)
    except ImportError as exc:
        raise ClusterError("--ray needs Ray, which is not installed: "
                           "pip install 'lowlight-studio[cluster]' (ray>=2.9)") from exc
    return ray


def _ray_job(input_path: str, output_path: str, settings: JobSettings) -> dict[str, Any]:
    """The task body: never raises for a bad clip (the error is the result)."""
    from engine.jobs.queue import run_job

    t0 = time.perf_counter()
    try:
        res = run_job(input_path, output_path, settings)
        return {"input": input_path, "output": output_path, "status": "done", "error": "", **res}
    except Exception as exc:
        return {"input": input_path, "output": output_path, "status": "failed",
                "error": str(exc).strip("'\"") or type(exc).__name__,
                "seconds": time.perf_counter() - t0}


def run_on_ray(jobs: Sequence[tuple[str, str]], settings: JobSettings, *, address: str | None = None,
               num_cpus: int = 2, max_retries: int = 2,
               log: Callable[[str], None] | None = None) -> list[dict[str, Any]]:
    """Run ``(input, output)`` jobs as Ray tasks (one CPU each) and wait for all.

    Args:
        jobs: input and output paths (absolute paths are safest on a cluster).
        settings: the :class:`JobSettings` every job uses.
        address: a Ray cluster (``"ray://host:10001"``, ``"auto"``); None starts a local
            Ray with ``num_cpus`` CPUs (and stops it afterwards).
        max_retries: re-runs of a task whose worker died.
        log: receives one line per finished clip.

    Returns:
        one dict per job, in the order given: input, output, status (``done``/``failed``),
        error, and on success frames, seconds, fps, audio, resumed_frames, problems (decode
        problems of a truncated input, one line each).
    """
    ray = _import_ray()
    started = False
    if not ray.is_initialized():
        kw: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False}
        if address is None:
            root = str(Path(__file__).resolve().parents[2])
            pp = os.pathsep.join(p for p in (root, os.environ.get("PYTHONPATH", "")) if p)
            kw.update(num_cpus=num_cpus, runtime_env={"env_vars": {"PYTHONPATH": pp}})
        else:
            kw["address"] = address
        try:
            ray.init(**kw)
        except Exception as exc:
            raise ClusterError(f"cannot start or reach Ray{' at ' + address if address else ''}: {exc}") from exc
        started = True
    try:
        task = ray.remote(num_cpus=1, max_retries=max_retries)(_ray_job)
        refs = [task.remote(os.path.abspath(i), os.path.abspath(o), settings) for i, o in jobs]
        index = {r: k for k, r in enumerate(refs)}
        results: list[dict[str, Any] | None] = [None] * len(refs)
        pending = list(refs)
        while pending:
            ready, pending = ray.wait(pending, num_returns=1)
            for r in ready:
                k = index[r]
                try:
                    res = ray.get(r)
                except Exception as exc:  # the worker died more often than max_retries
                    res = {"input": jobs[k][0], "output": jobs[k][1], "status": "failed",
                           "error": f"Ray task failed: {exc}"}
                results[k] = res
                if log is not None:
                    log(f"[{res['status']}] {res['input']} -> {res['output']}"
                        + (f": {res['error']}" if res["status"] != "done" else f" ({res['frames']} frames)")
                        + (f"; warning: the input is damaged or truncated ({'; '.join(res['problems'])})"
                           if res.get("problems") else ""))
        return [r for r in results if r is not None]
    finally:
        if started:
            ray.shutdown()
