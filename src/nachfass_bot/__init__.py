"""nachfass-bot: polite, patient follow-ups for German freelancers."""

__version__ = "0.1.0"
