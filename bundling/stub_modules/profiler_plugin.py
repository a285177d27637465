"""Stub (Pneumo Desktop build): the remote profiler client is not bundled."""


def _unavailable(*args, **kwargs):
    raise RuntimeError("The TensorFlow remote profiler is not included in this build.")


trace = monitor = _unavailable
