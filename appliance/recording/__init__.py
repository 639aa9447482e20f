"""Recordings of decoded poses: the file format, the recorder, and replay timing.

See ``fileformat`` for the format (JSON Lines, version 1), ``recorder`` for writing one from a
running pipeline without blocking it, ``schedule`` for replay times that do not drift.
"""
