"""``athalia report``: a static HTML dashboard of the deployment history and the last run.

:mod:`._data` turns v2 report documents into frozen values (pure), :mod:`._charts` draws them with
plotly (the ``report`` extra), :mod:`._page` renders one self-contained page, and :mod:`._command`
reads the inputs and writes the file. Nothing here is imported at plugin start-up.

Internal: the public API is :mod:`pytest_athalia`.
"""
