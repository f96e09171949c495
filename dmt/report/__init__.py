"""The report: figures (``plots``, ``examples``), the data they read (``data``), tables
(``tables``), what the workflow plans for them (``plan``, imported while building the DAG, so
it never imports matplotlib or torch) and the commands (``job``).
"""
