"""The build logic of the double-click bundle, as tested modules; ``build.spec`` calls them.

Not part of the app: ``pneumo_desktop`` never imports this package (an import-linter contract), and
the wheel does not ship it. Each module does one thing on PyInstaller's tables of contents
(``(dest, src, typecode)`` tuples) or on the built folder:

* :mod:`bundling.config`    where and what to build (platform, environment variables, version, icon)
* :mod:`bundling.model`     the model folder: the card's sha256 check, the runtime, what is bundled
* :mod:`bundling.collect`   what the Analysis collects and excludes (metadata, OpenVINO, Qt, ...)
* :mod:`bundling.launcher`  the two-line frozen entry point
* :mod:`bundling.stubs`     stub modules (``bundling/stub_modules/``) for TensorFlow parts never used
* :mod:`bundling.trim`      dropping collected files the app never loads
* :mod:`bundling.elf`       a minimal ELF64 reader (dynamic symbols, loadable segments)
* :mod:`bundling.icu`       Qt's ICU data rebuilt without what Qt never reads (Linux)
* :mod:`bundling.strip`     symbol tables stripped when the stripped copy loads the same bytes (Linux)
* :mod:`bundling.licences`  ``THIRD_PARTY_LICENSES`` from what was bundled
"""
