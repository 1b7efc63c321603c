"""Test helpers for the paired methods: small randomly initialised networks, written as
checkpoints in the project's format (with their arch) into a tmp weights folder.

The nets are shrunk (NAFNet width 8 with two levels, MIRNetv2 with 8 channels) so the
tests run in seconds; their residual paths are switched on (NAFNet's β, γ start at zero,
which would make every block the identity) and the output is lifted by +0.25, so an
untrained net brightens and changes colours a little, like a trained one."""

from __future__ import annotations

from pathlib import Path

import torch

from engine.runtime.weights import update_manifest_entry

PAIRED = ("nafnet", "mirnetv2", "jin2023")
FILES = {"nafnet": "nafnet.pt", "mirnetv2": "mirnetv2.pt", "jin2023": "jin2023.pt"}
ARCHS = {
    "nafnet": {"width": 8, "enc_blocks": [1, 1], "middle_blocks": 1, "dec_blocks": [1, 1]},
    "mirnetv2": {"channels": 8, "chan_factor": 1.5, "groups": 1, "rrgs": 1, "mrbs": 1, "width": 1},
    "jin2023": {"channels": 8, "dilations": [1, 2, 3, 4]},
}


def make_paired_net(method: str, seed: int = 0) -> torch.nn.Module:
    """The raw network (as H×W → H×W image module) of ``method``, seeded."""
    from engine.models import jin2023, mirnetv2, nafnet

    torch.manual_seed(seed)
    if method == "nafnet":
        net = nafnet.build(**ARCHS[method])
        with torch.no_grad():
            for name, p in net.named_parameters():
                if name.endswith(("beta", "gamma")):
                    p.normal_(0.0, 0.3)
            net.ending.bias.fill_(0.25)
    elif method == "mirnetv2":
        net = mirnetv2.build(**ARCHS[method])
        with torch.no_grad():
            net.tail.bias.fill_(0.25)
    else:
        net = jin2023.build(**ARCHS[method])
        with torch.no_grad():
            net.stage.out_conv.bias.fill_(-1.4)  # residual ≈ 0.2: brightens
    return net.eval()


def write_paired_checkpoint(folder: Path, method: str, seed: int = 0) -> Path:
    """Write ``folder/<method>.pt`` (and its manifest entry) for a fresh test net."""
    folder.mkdir(parents=True, exist_ok=True)
    net = make_paired_net(method, seed)
    path = folder / FILES[method]
    torch.save({"format": 1, "method": method, "state_dict": net.state_dict(),
                "arch": ARCHS[method]}, path)
    update_manifest_entry({"file": path.name, "kind": "checkpoint", "method": method}, folder)
    return path
