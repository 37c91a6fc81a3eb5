"""Scratch: the ready scorer's leave-one-out with CV-stopped trees (stop_folds=5), same bench otherwise."""
import sys
from dataclasses import replace
import bench.ready_scorer as R
orig = R.ready_config
R.ready_config = lambda *a, **k: replace(orig(*a, **k), stop_folds=5)
sys.exit(R.main(["--seeds", "3", "--out", "ready_scorer_cv"]))
