"""Playing recordings back: to OSC targets on schedule (``player``), or exported to the text and
CSV formats artists' tools read (``export``)."""
