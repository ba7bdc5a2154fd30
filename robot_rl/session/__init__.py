"""`robot-rl session`: an on-robot RL session with human corrections, from demonstrations to a better
policy, on the built-in simulator by default. Six stages, each resumable (the store, the registry
and the learner's checkpoint carry the state; a stage that is done is skipped):

1. demos  - K demonstrations through the recording graph (the scripted expert is the operator in
            the simulator; a teleop device on a robot)
2. bc     - a BC base policy from them, checkpointed and exported to the registry
3. hil    - the recording graph with the control node running the policy and a human correcting
            it (the simulated human in the simulator), the learner node beside it training residual
            RL on the store and announcing every export, which the control node swaps in mid-session;
            its last export is made as the graph stops (with `catchup`, after the updates it owes)
4. select - the learner's last few exports and the base on validation seeds of their own
            (simulator only): the best becomes the final policy, the base only when strictly
            better (session/select.py says why)
5. eval   - the base and the final policy (their registry ONNX in onnxruntime), and the last export
            when the final is another, on held-out simulator seeds, without corrections
6. report - report.md and a self-contained report.html: success before/after, success and
            intervention rate over the session, learning curves, episode strips, policy versions

Everything lands in one folder (default runs/session): store.zarr, policies/, bc.safetensors,
learner/ (checkpoint, metrics, plots), select.json, eval.json, report.md/.html.
"""
from robot_rl.session.config import DEMO_NOTES, HIL_NOTES, STAGES, SessionConfig, load_config
from robot_rl.session.stages import Session, episodes_with

__all__ = ["DEMO_NOTES", "HIL_NOTES", "STAGES", "Session", "SessionConfig", "episodes_with", "load_config"]
