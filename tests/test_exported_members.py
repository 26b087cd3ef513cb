"""Keep the public API deliberate: haven.__all__ is exactly what the package exports."""

import haven


def test_all_is_exactly_the_public_names() -> None:
    public = {name for name in dir(haven) if not name.startswith("_")}
    modules = {name for name in public if type(getattr(haven, name)).__name__ == "module"}
    assert set(haven.__all__) - {"__version__"} == public - modules
