"""Control plane over OSC: the OSC control port, where patches subscribe themselves. It sees the
application only through ``appliance.core.facade.Steering`` (reading and commanding)."""
