"""PoseNet OSC appliance: camera frames in, multi-person poses out as OSC over UDP."""

__version__ = "0.1.0"
