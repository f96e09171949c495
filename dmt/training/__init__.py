"""Training: the loop (``loop``), the paper's losses (``losses``) and the stage's command (``job``).
"""
