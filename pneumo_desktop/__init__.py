"""Pneumo Desktop: offline pneumonia screening of chest X-rays (decision support only).

Importing this package is cheap: it never imports TensorFlow/Keras or Qt, and never loads a model.
"""

__version__ = "0.1.0"
