"""Board description files (YAML); installed as the package data `compiler._boards`."""
