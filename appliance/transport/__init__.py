"""Moving OSC datagrams: UDP targets that never block and never raise on network errors."""
