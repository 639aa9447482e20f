"""Helpers shared by test modules: they import them from here, never from another test module or a
conftest (which pytest loads as plugins, and which hold fixtures only)."""
