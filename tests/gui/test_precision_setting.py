"""The Preferences' precision reaches the model (a child process), and 'auto' is the default."""

from __future__ import annotations

from pneumo_desktop.core.precision import cpu_has_native_bf16
from pneumo_desktop.gui.dialogs import PreferencesDialog
from pneumo_desktop.gui.settings import Settings


def test_precision_setting_is_used_when_the_model_loads(qtbot, make_window) -> None:
    assert Settings().precision == "auto"
    window = make_window()
    expected = "CPU bf16" if cpu_has_native_bf16() else "CPU"
    assert window.model_info.device_name == expected
    Settings().precision = "float32"
    with qtbot.waitSignal(window.model_ready, timeout=120_000) as blocker:
        window.reload_model()
    assert blocker.args[0].device_name == "CPU"
    Settings().precision = "nonsense"
    assert Settings().precision == "auto"


def test_preferences_dialog_offers_the_precision(qtbot) -> None:
    dialog = PreferencesDialog(device="auto", threshold=0.5, default_threshold=0.5, precision="bfloat16")
    qtbot.addWidget(dialog)
    assert dialog.precision() == "bfloat16"
    dialog.precision_combo.setCurrentIndex(dialog.precision_combo.findData("float32"))
    assert dialog.precision() == "float32"
