"""setuptools entry point kept for tools that still call ``setup.py``: every fact about the
package (dependencies, extras, commands) is in pyproject.toml."""

from setuptools import setup

setup()
