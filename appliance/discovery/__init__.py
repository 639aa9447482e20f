"""Zero-configuration discovery: DNS-SD over mDNS, and the OSCQuery namespace."""
