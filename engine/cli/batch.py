"""``lowlight batch``: enhance many videos through a job queue.

    lowlight batch clips/ -o out/ -m gamma --jobs 2
    lowlight batch a.mp4 b.mov -o out/ --segment-seconds 30      (resumable items)
    lowlight batch clips/ -o out/ --ray                          (local Ray, 2 CPUs)
    lowlight batch clips/ -o out/ --ray ray://head:10001         (a Ray cluster)

Folders are expanded to the video files directly inside them (sorted). Each clip goes to
``OUT_DIR/<name>_enhanced.mp4``; clips that share a name (``x/clip.mp4 y/clip.mp4
x/clip.mov``) get ``<name>_enhanced-2.mp4``, ``-3``... in input order, with a note. A
failing clip is reported and the others go on; the exit status is 1 when any failed.
While it runs, ``kill -USR1 PID`` toggles pause (all running exports stop reading;
nothing is lost), and on a terminal the key ``p`` does the same. Ctrl-C, SIGTERM and SIGHUP cancel: the running clips' temporary files are removed
and the workers joined before the exit (130, 143, 129; finished segments of
``--segment-seconds`` items are kept; rerun the same command to resume them). A clip whose
input is truncated says so in its done line and in the summary.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
import time

from engine.cli.enhance import add_encode_options
from engine.cli.options import add_method_options, params_from_args
from engine.video.codecs import CODECS

COMMAND = "batch"
HELP = "enhance many videos through a queue (parallel jobs, pause, resume, Ray)"
ORDER = 15


def register(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("inputs", metavar="IN", nargs="+", help="video files or folders of videos")
    parser.add_argument("-o", "--output", required=True, metavar="OUT_DIR", help="output folder")
    add_method_options(parser, default_method="gamma")
    parser.add_argument("--codec", choices=list(CODECS), default="h264",
                        help="video codec (hardware ones fall back to software when they cannot open)")
    parser.add_argument("--pix-fmt", default=None, metavar="FMT", help="encoder pixel format (e.g. yuv420p10le)")
    add_encode_options(parser, live=False)
    parser.add_argument("--audio", choices=["copy", "aac", "none"], default="copy")
    parser.add_argument("--overwrite", action="store_true", help="replace existing outputs")
    parser.add_argument("--jobs", "-j", type=int, default=1, help="clips processed at once (default 1)")
    parser.add_argument("--segment-seconds", type=float, default=None, metavar="SEC",
                        help="journaled segments of SEC seconds: rerunning resumes interrupted clips")
    parser.add_argument("--ray", nargs="?", const="local", default=None, metavar="ADDRESS",
                        help="run the clips as Ray tasks: a local Ray (2 CPUs) or the cluster at "
                             "ADDRESS (needs the 'cluster' extra: pip install lowlight-studio[cluster])")
    parser.add_argument("--quiet", "-q", action="store_true", help="only the summary")
    parser.set_defaults(run=run)


def expand_inputs(inputs: list[str]) -> list[str]:
    """Files as given, folders expanded to their video files (sorted, not recursive)."""
    from engine.video.sources import is_video_path

    out: list[str] = []
    for s in inputs:
        if os.path.isdir(s):
            out.extend(os.path.join(s, n) for n in sorted(os.listdir(s))
                       if is_video_path(n) and os.path.isfile(os.path.join(s, n)))
        else:
            out.append(s)
    return out


def _truncation(problems, frames: int) -> str:
    """The one-line warning for a clip decoded only in part (as ``enhance`` words it)."""
    return (f"{'; '.join(problems)}; the input is damaged or truncated; {frames} frames could be "
            "decoded and were written")


def _fmt_eta(s: float | None) -> str:
    if s is None:
        return "--:--"
    s = int(round(s))
    return f"{s // 60}:{s % 60:02d}"


def _key_watcher(queue, stop: threading.Event) -> None:
    """'p' on a terminal toggles pause (stdin in cbreak mode while it runs)."""
    import select
    import termios
    import tty

    fd = sys.stdin.fileno()
    old = termios.tcgetattr(fd)
    try:
        tty.setcbreak(fd)
        while not stop.is_set():
            r, _, _ = select.select([fd], [], [], 0.2)
            if r and os.read(fd, 1).lower() == b"p":
                paused = queue.toggle_pause()
                print("paused (p to resume)" if paused else "resumed", file=sys.stderr)
    finally:
        termios.tcsetattr(fd, termios.TCSADRAIN, old)


def run(args: argparse.Namespace) -> int:
    from engine import registry
    from engine.jobs.queue import JobQueue, JobSettings, output_for
    from engine.video.export import ExportOptions

    try:
        params = params_from_args(args.method, args)
        registry.get(args.method)
    except Exception as exc:
        print(f"lowlight batch: error: {exc}", file=sys.stderr)
        return 2
    files = expand_inputs(args.inputs)
    if not files:
        print("lowlight batch: error: no video files found in the inputs", file=sys.stderr)
        return 2
    from engine.video.sources import is_video_path

    if is_video_path(args.output) and not os.path.isdir(args.output):
        print(f"lowlight batch: error: {args.output}: -o is the output folder, not a video file "
              "(give a folder, e.g. out/)", file=sys.stderr)
        return 2
    from engine.files.paths import distinct_outputs

    outputs = distinct_outputs([output_for(f, args.output, args.codec) for f in files])
    for f, o in zip(files, outputs):
        if o != output_for(f, args.output, args.codec):
            print(f"lowlight batch: note: {f} -> {o} (another input has the same name)", file=sys.stderr)
    try:
        os.makedirs(args.output, exist_ok=True)
    except OSError as exc:
        print(f"lowlight batch: error: {args.output}: cannot create ({exc.strerror or exc})", file=sys.stderr)
        return 1
    settings = JobSettings(method=args.method, params=params.as_dict(),
                           options=ExportOptions(codec=args.codec, crf=args.crf, audio=args.audio,
                                                 overwrite=args.overwrite, preset=args.preset,
                                                 pix_fmt=args.pix_fmt, encode=args.encode),
                           backend=args.backend, device=args.device, weights=args.weights,
                           segment_seconds=args.segment_seconds)
    t0 = time.perf_counter()
    if args.ray:
        from engine.jobs.ray_cluster import ClusterError, run_on_ray

        try:
            results = run_on_ray(list(zip(files, outputs)), settings,
                                 address=None if args.ray == "local" else args.ray,
                                 log=None if args.quiet else (lambda m: print(m, file=sys.stderr)))
        except ClusterError as exc:
            print(f"lowlight batch: error: {exc}", file=sys.stderr)
            return 2
        failed = sum(1 for r in results if r["status"] != "done")
        el = time.perf_counter() - t0
        print(f"{len(files) - failed}/{len(files)} clips done in {el:.1f} s "
              f"({len(files) / el * 60:.1f} clips/min) on Ray")
        for f, r in zip(files, results):
            if r.get("problems"):
                print(f"lowlight batch: warning: {f}: {_truncation(r['problems'], r.get('frames', 0))}",
                      file=sys.stderr)
        return 1 if failed else 0

    last_line = [0.0]

    def on_change(it) -> None:
        if args.quiet:
            return
        if it.status in ("done", "failed", "cancelled"):
            extra = f" ({it.frames_done} frames, {it.seconds:.1f} s)" if it.status == "done" else f": {it.error}"
            if it.status == "done" and it.problems:
                extra += f"; warning: {_truncation(it.problems, it.frames_done)}"
            print(f"[{it.status}] {it.input} -> {it.output}{extra}", file=sys.stderr)
            return
        now = time.monotonic()
        if now - last_line[0] >= 2.0:
            last_line[0] = now
            p = queue.progress()
            print(f"queue {p.fraction * 100:5.1f}%  running {p.counts['running']}  done {p.counts['done']}"
                  f"/{len(files)}  ETA {_fmt_eta(p.eta_s)}", file=sys.stderr)

    queue = JobQueue(on_change=on_change)
    for f, o in zip(files, outputs):
        queue.add(f, o, settings)
    old_usr1 = None
    if hasattr(signal, "SIGUSR1") and threading.current_thread() is threading.main_thread():
        def on_usr1(signum, frame) -> None:
            paused = queue.toggle_pause()
            print("paused (SIGUSR1 again to resume)" if paused else "resumed", file=sys.stderr)
        old_usr1 = signal.signal(signal.SIGUSR1, on_usr1)
    stop_keys = threading.Event()
    if sys.stdin is not None and sys.stdin.isatty() and os.name == "posix":
        threading.Thread(target=_key_watcher, args=(queue, stop_keys), daemon=True).start()
    try:
        items = queue.run(jobs=max(1, args.jobs))
    except KeyboardInterrupt as exc:  # Ctrl-C, SIGTERM, SIGHUP: the queue joined its workers
        from engine.cli import _signals

        print(f"lowlight batch: {_signals.reason(exc)}; running clips were cancelled and their "
              "partial outputs removed", file=sys.stderr)
        return _signals.exit_status(exc)
    finally:
        stop_keys.set()
        if old_usr1 is not None:
            signal.signal(signal.SIGUSR1, old_usr1)
    done = sum(1 for it in items if it.status == "done")
    el = time.perf_counter() - t0
    print(f"{done}/{len(items)} clips done in {el:.1f} s ({len(items) / el * 60:.1f} clips/min)")
    for it in items:
        if it.status != "done":
            print(f"lowlight batch: {it.status}: {it.input}: {it.error}", file=sys.stderr)
        elif it.problems:
            print(f"lowlight batch: warning: {it.input}: {_truncation(it.problems, it.frames_done)}",
                  file=sys.stderr)
        if it.status == "done":
            for line in it.notes:
                print(f"lowlight batch: note: {it.input}: {line}", file=sys.stderr)
    return 0 if done == len(items) else 1
