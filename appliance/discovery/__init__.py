"""Zero-configuration discovery: DNS-SD over mDNS (python-zeroconf)."""
