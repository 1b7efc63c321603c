"""``lowlight export-onnx``: export the trained learned models to ONNX graphs."""

from __future__ import annotations

import argparse
import sys

COMMAND = "export-onnx"
HELP = "export the learned methods' trained checkpoints to ONNX (checked against PyTorch)"
ORDER = 80


def register(parser: argparse.ArgumentParser) -> None:
    from engine import registry

    # the learned methods, read from the catalogue: building the parser loads no network
    names = [d.name for d in registry.descriptors() if d.family == "learned"]
    parser.add_argument("--method", "-m", default="all", choices=names + ["all"],
                        help="which model to export (default: all, every method with a checkpoint)")
    parser.add_argument("--out-dir", default=None,
                        help="folder for the .onnx files and MANIFEST.json (default: the weights folder)")
    parser.add_argument("--weights", default=None,
                        help="checkpoint to export instead of the shipped one (single method only)")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from engine.runtime.onnx_export import ExportError, export_method
    from engine.runtime.selection import checkpoint_path, network_spec, network_specs
    from engine.runtime.weights import WeightsError

    specs = network_specs() if args.method == "all" else [network_spec(args.method)]
    if args.weights and len(specs) != 1:
        print("lowlight export-onnx: --weights needs a single --method", file=sys.stderr)
        return 2
    status, exported = 0, 0
    for spec in specs:
        cmd = f"lowlight export-onnx --method {spec.method}" + (f" --out-dir {args.out_dir}" if args.out_dir else "")
        if args.method == "all":
            # every method whose checkpoint exists; one not trained in this checkout is
            # named and passed over (asked for by name, it is an error)
            try:
                checkpoint_path(spec)
            except WeightsError as exc:
                print(f"lowlight export-onnx: skipped {exc}", file=sys.stderr)
                continue
        try:
            entry = export_method(spec, args.out_dir, args.weights, command=cmd)
        except (WeightsError, ExportError) as exc:
            print(f"lowlight export-onnx: {exc}", file=sys.stderr)
            status = 1
            continue
        exported += 1
        print(f"{spec.method}: wrote {entry['file']} (opset {entry['opset']}, from {entry['source']}, "
              f"max |torch - onnx| = {entry['parity_max_abs']:.1e})")
    if not exported and not status:
        print("lowlight export-onnx: no checkpoint found: nothing to export", file=sys.stderr)
        return 1
    return status
