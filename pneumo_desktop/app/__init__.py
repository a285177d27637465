"""The application layer beneath the GUI: what the user is looking at (:mod:`.session`) and the plain
events it emits (:mod:`.events`). Qt-free: the GUI, the CLI and the report observe it."""
