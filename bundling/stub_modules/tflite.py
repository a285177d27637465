"""Stub (Pneumo Desktop build): TensorFlow Lite's native code is not bundled."""


class _Unavailable:
    def __init__(self, name):
        self._name = name

    def __getattr__(self, attr):
        if attr.startswith("__"):
            raise AttributeError(attr)
        return _Unavailable(self._name + "." + attr)

    def __call__(self, *args, **kwargs):
        raise RuntimeError(f"TensorFlow Lite is not included in this build ({self._name}).")


def __getattr__(name):
    if name.startswith("__"):
        raise AttributeError(name)
    return _Unavailable(__name__ + "." + name)
