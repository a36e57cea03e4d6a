"""Synthetic population of a municipality: generate it (columnar, seeded) and bulk-load it."""

from jukinet.services.population.generate import PopulationFrame, generate_population
from jukinet.services.population.load import load_population

__all__ = ["PopulationFrame", "generate_population", "load_population"]
