"""dldd: the evidence engine for desertification, land degradation and drought (DLDD) assessments."""

__version__ = "0.1.0"
