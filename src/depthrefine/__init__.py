"""depthrefine: learn to fix the depth errors of monocular markerless motion capture."""

__version__ = "0.1.0"
