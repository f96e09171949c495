"""Evaluation: metrics (``metrics``), the final model's selection on valtiny (``final``) and the
stage's commands (``job``).
"""
