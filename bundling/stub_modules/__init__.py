"""Stub modules that replace TensorFlow extension modules in the bundle (see bundling.stubs).

Each file is copied verbatim under the name of the module it replaces; keep them dependency-free.
"""
