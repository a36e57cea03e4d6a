"""Municipal node services: the register (origin of every change) and its flows."""
