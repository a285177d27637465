"""The device and precision a user can choose for the model (the one list of each).

A module of its own, importing nothing: the app's settings read these at start-up, before the
model's modules (numpy...) are loaded (``core.model`` re-exports them)."""

DEVICES = ("auto", "cpu", "gpu")
PRECISIONS = ("auto", "float32", "bfloat16")  # auto: core.precision.choose, checked at load
