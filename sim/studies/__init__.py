"""Runs and studies: replicate runs, experiment batches, sensitivity, discovery, calibration and scoring."""
