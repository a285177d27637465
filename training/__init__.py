"""Regenerates the model that Pneumo Desktop ships (VGG19 transfer learning, Keras 3).

Imports :mod:`pneumo_desktop.core` for loading and preprocessing; the core never imports this.
Run ``python -m training --help``.
"""
