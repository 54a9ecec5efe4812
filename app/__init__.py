"""Imewe: a desktop control room for fleets of digital fabrication machines."""

__version__ = "0.1.0"
