"""Sphinx configuration: the user guide (guide/*.rst) and an API reference generated
from the docstrings (Google style, read by napoleon)."""
import os
import sys

sys.path.insert(0, os.path.abspath(".."))

project = "minidl"
author = "minidl contributors"
extensions = ["sphinx.ext.autodoc", "sphinx.ext.napoleon"]
autodoc_default_options = {"members": True, "undoc-members": False,
                           "show-inheritance": True}
autodoc_member_order = "bysource"
autodoc_typehints = "signature"
napoleon_google_docstring = True
napoleon_numpy_docstring = False
# Docstrings describe parameters with ``shape`` and formula prose, not with type links.
nitpicky = False
suppress_warnings = ["ref.python"]
exclude_patterns = ["_build"]
html_theme = "alabaster"
