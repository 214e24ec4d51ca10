"""Notebooks: Jupyter servers for Notebook resources, idle culling, the environment catalog."""
