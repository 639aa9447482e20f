"""Running under systemd: sd_notify and the progress watchdog."""
