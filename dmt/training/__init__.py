"""Training: the loop (``loop``) and its parts (``spec``, ``batches``, ``steps``, ``schedules``,
``optim``, ``hooks``, ``checkpoint``), the paper's losses (``losses``) and the stage's command
(``job``).
"""
