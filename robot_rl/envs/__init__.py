"""Gymnasium envs from other projects, adapted to this stack's robots (robot_rl.sim.gym_env): one
folder per source, each with its robot description, its mappings and its tasks' experts."""
