"""Parameter specs shared by every method, so the CLI and the studio show one meaning
for one name: ``smoothing``, ``denoise`` and ``exposure`` are the same for all methods
that have them; ``strength``
and ``iterations`` get a per-method sentence through the helpers below."""

from __future__ import annotations

from engine.stages.temporal_denoise import DEFAULT_DENOISE
from engine.models.exposure import DEFAULT_EXPOSURE
from engine.params import ParamSpec
from engine.stages.map_smoothing import DEFAULT_SMOOTHING

__all__ = ["SMOOTHING", "DENOISE", "EXPOSURE", "strength_spec", "iterations_spec", "illumination_specs",
           "GENERAL_HELP"]

# smoothing 0.5: about a 10-frame average on static areas; denoise 0.5: about a 5-frame
# temporal average plus the spatial stage at k = 2 (figures in docs/steady-video.md and
# docs/noise.md).
SMOOTHING = ParamSpec(
    "smoothing", DEFAULT_SMOOTHING, 0.0, 1.0, 0.05,
    "temporal smoothing of the low-resolution parameter map against flicker: "
    "0 = off (per-frame), 1 = strongest (about a 20-frame average on static areas; "
    "moving objects, scene cuts and light changes are followed at once)",
)

DENOISE = ParamSpec(
    "denoise", DEFAULT_DENOISE, 0.0, 1.0, 0.05,
    "noise reduction, scaled to the noise measured in each frame (a clean frame is left "
    "alone): motion-adaptive temporal averaging of the dark input, or of the enhanced "
    "frame when a codec flattened the input's noise, that follows a moving camera (video; "
    "1 = about a 15-frame average on static pixels) and an edge-preserving spatial filter of the "
    "enhanced frame (luma guided filter + low-resolution chroma; stills and every frame); "
    "0 = off, 1 = strongest",
)


# 0.42: chosen on the LOL validation pairs for the learned methods' shadow statistic and on
# the held-out synthetic pairs for gamma's mean (docs/methods.md).
EXPOSURE = ParamSpec(
    "exposure", DEFAULT_EXPOSURE, 0.0, 0.8, 0.01,
    "target brightness of the output (0..1), reached per frame by the method's own control "
    "with highlight protection: learned methods aim a shadow-weighted brightness (half the "
    "mean, half the log-average of the darker half) at it and lift a nearly normal scene less, "
    "gamma the mean; 0 = off (fixed method gain)",
)


_STRENGTH_SCALE = "0 = original, 1 = method default, up to 2 = stronger"
_NEVER_DARKENS = "raising it never darkens a pixel"


def strength_spec(meaning: str) -> ParamSpec:
    """``strength`` in [0, 2], default 1: 0 = the original frame, 1 = the method's
    default, 2 = stronger; ``meaning`` says how the method scales (one clause)."""
    return ParamSpec("strength", 1.0, 0.0, 2.0, 0.05, f"{_STRENGTH_SCALE}; {meaning}; {_NEVER_DARKENS}")


#: What a parameter whose wording differs per method means for all of them (the CLI
#: describes each option once; the method's own sentence is in its ParamSpec).
GENERAL_HELP = {
    "strength": f"{_STRENGTH_SCALE}; {_NEVER_DARKENS}",
    "iterations": "how many times the method applies its step (stage or curve) to its own "
                  "output; more = brighter, fewer = gentler",
}


def iterations_spec(default: int, maximum: int, meaning: str) -> ParamSpec:
    """``iterations`` in [1, ``maximum``] with the method's ``default`` and meaning."""
    return ParamSpec("iterations", default, 1, maximum, 1, meaning)


def illumination_specs() -> tuple[ParamSpec, ParamSpec]:
    """``iterations`` and ``strength`` of the methods that divide by an estimated
    illumination (SCI and jin2023): stage repeats 1..4 (default 1), gain raised to ``strength``."""
    return (iterations_spec(1, 4, "repeats of the illumination stage on its own output "
                                  "(1 = the paper's single stage; more = brighter)"),
            strength_spec("the illumination gain is raised to this power (output = x / illumination**strength)"))
