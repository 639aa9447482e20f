"""Signed field updates with rollback: the update file (``bundle``), the versions on disk and the
atomic switch (``layout``, standard library only: also the boot check), the installer with its
health deadline (``install``), the running service's confirmation (``health``) and the command."""
