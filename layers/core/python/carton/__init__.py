"""Carton core: shared code shipped to every Lambda as the core layer."""
