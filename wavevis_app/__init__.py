"""The wavevis dashboard's pieces: the session's analysis, sidebar controls, cached compute and one module per page."""
