"""Support code that translated scripts carry: read as text, never imported by the translator."""
