"""The live pipeline: four threads ("capture" -> "prepare" -> "process" -> "send") joined by one-slot
hand-offs; decoded poses pass the pose stages, then every pose listener (the OSC targets first)."""
