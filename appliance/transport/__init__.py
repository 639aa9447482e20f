"""Moving OSC datagrams (the data plane's output): UDP targets that never block and never raise on
network errors, and the TargetSet pose listener that fans each frame out to them."""
