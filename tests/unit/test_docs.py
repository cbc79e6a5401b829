"""The settings page (docs/settings.md) stays true to the settings object."""

from pathlib import Path

from ferryman.settings import Settings

README = Path(__file__).resolve().parents[2] / "docs" / "settings.md"


def test_every_setting_is_documented_and_nothing_else():
    text = README.read_text(encoding="utf-8")
    documented = {line.split("`")[1] for line in text.splitlines() if line.startswith("| `FERRYMAN_")}
    assert documented == {f"FERRYMAN_{name.upper()}" for name in Settings.model_fields}
