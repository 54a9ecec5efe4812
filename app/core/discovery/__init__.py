"""Discovery: node agents and other machines on the network (zeroconf), machines on local serial ports."""
