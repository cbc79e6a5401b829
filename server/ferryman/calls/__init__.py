"""Calls: the one place a call is opened (server, replay and tests alike), the live calls of this
node with their admission control and reconnect grace, and the registry of the floor's nodes."""
