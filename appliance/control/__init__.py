"""Control plane over OSC: the OSC control port (patches subscribe themselves) and the OSCQuery
server (the namespace for ossia, Chataigne, TouchDesigner...). Both see the application only
through ``appliance.core.facade.Control``."""
