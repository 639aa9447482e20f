"""The application core: the running configuration, the data plane it builds, and its status.

The control plane (``appliance.web``, ``appliance.control``, ``appliance.discovery``) sees it only
through the protocols of ``facade`` (``Reading``, ``Commanding``, ``Subscribing`` and their unions)
and the typed values of ``status``.
"""
