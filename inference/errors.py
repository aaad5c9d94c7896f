"""Errors raised by the inference package."""


class ModelError(Exception):
    """A model file that cannot be used: not ONNX, or not the tensor layout the detectors expect."""


class BackendUnavailable(Exception):
    """A detector back end whose libraries or hardware are missing on this machine."""
