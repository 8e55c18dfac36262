"""The simulated DR9-like sky: physics (:mod:`.physics`), observation (:mod:`.observe`), generation and the
``simulate`` command (:mod:`.generate`), the fit on real catalogues (:mod:`.calibrate`)."""
