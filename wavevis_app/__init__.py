"""The wavevis dashboard's pieces: the session's analysis, sidebar controls, cached compute and one module per page.

Importing this package (app.py does, before torch) asks OpenMP for idle threads that sleep instead
of spinning (`OMP_WAIT_POLICY=PASSIVE`, unless the environment already sets a policy). The app
always shares its cores with a browser: with spinning threads a 2-thread forward pass of the demo
at 224² took 0.6 s whenever another process was busy on the other core, against 0.1 s when its
threads sleep (OpenMP reads the variable once, when torch loads it; under pytest, where torch is
already loaded, it changes nothing).
"""

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
