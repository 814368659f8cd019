"""One module per workbench tab; each exposes a function returning a Panel object."""
