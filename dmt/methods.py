"""The methods a run can use (paper Section 5.4, Table 7; Table 2), and the rows of a comparison
that are not methods."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Method:
    name: str
    loss_variant: str  # dmt.training.losses.VARIANTS
    mutual: bool  # segmentation: A and B label each other; otherwise one model labels itself
    tasks: tuple[str, ...]
    online: bool = False  # one run, the student labelling the unlabeled part of each batch itself
    description: str = ""


METHODS = {m.name: m for m in (
    Method("dmt", "dmt", True, ("segmentation", "classification"),
           description="dynamic mutual training (Eq. 6); classification: Algorithm 1"),
    Method("dmt_naive", "naive", True, ("segmentation",),
           description="DMT weighting every pseudo label by p_student^gamma1, no case split"),
    Method("dmt_flip", "flip", True, ("segmentation",),
           description="DMT with positive disagreements flipped to the student's label"),
    Method("dst", "dmt", False, ("segmentation",),
           description="dynamic self-training: one model labels itself, dynamic loss"),
    Method("cbst", "ce", False, ("segmentation",),
           description="class-balanced self-training: one model labels itself, plain CE"),
    Method("online", "ce", False, ("segmentation",), online=True,
           description="online self-training: the student's own confident argmax, every step, one run"),
    Method("cl", "ce", False, ("classification",),
           description="curriculum labeling: Algorithm 1 with plain CE"),
)}
# Rows of a comparison that are not runs of a method: iteration 0 (model A, where every method
# starts) and the fully supervised oracle.
ROWS = {"baseline": "iteration 0: model A on the labeled images alone (every method starts here)",
        "oracle": "every train image labeled (a reference, not a method)"}
