"""Qt-free core shared by the GUI, the command-line scanner and the training package."""
