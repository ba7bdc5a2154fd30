"""The learner (issue #7): readable pieces of off-policy residual / human-in-the-loop RL.

So far: n-step returns over recorded episodes (returns.py), the update-to-data governor (utd.py),
DrQ random-shift augmentation on uint8 images (augment.py) and the residual policy on a frozen base
(residual.py). The learner loop, SAC, BC, rewards and `robot-rl learn` are not built yet.
"""
