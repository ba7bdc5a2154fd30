"""The learner (issue #7): behavior cloning (bc.py), SAC with a LayerNorm critic ensemble and an
image encoder shared by actor and critic (sac.py, nets.py, encoder.py), the residual mode on a
frozen base (residual.py, deploy.py), n-step returns (returns.py), the enforced update-to-data
ratio (utd.py), DrQ shifts (augment.py), and the loop that follows a store, trains on RLPD
batches, exports, checkpoints and plots (learner.py, checkpoint.py, plots.py). See docs/LEARNING.md.
"""
