"""The learner (issue #7): readable pieces of off-policy residual / human-in-the-loop RL.

So far: n-step returns over recorded episodes (returns.py), the update-to-data governor (utd.py),
DrQ random-shift augmentation on uint8 images (augment.py), the residual policy on a frozen base
(residual.py), LayerNorm MLPs, the squashed-Gaussian actor and the critic ensemble (nets.py), and
one SAC update with automatic temperature on n-step targets (sac.py). Not built yet: the image
encoder shared by actor and critic, RLPD demo/online batches, BC, rewards, the learner process and
`robot-rl learn`.
"""
