"""The onnxruntime session every policy runs in. No torch here: the control node never imports it."""
from __future__ import annotations

from robot_rl.policy.spec import PolicyError


def session(onnx_bytes: bytes):
    """An onnxruntime session for the control loop: one thread, no spinning (spinning threads
    steal the CPU the rest of the robot needs)."""
    import onnxruntime as ort
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    opts.inter_op_num_threads = 1
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
    opts.add_session_config_entry("session.inter_op.allow_spinning", "0")
    opts.log_severity_level = 3
    try:
        return ort.InferenceSession(onnx_bytes, sess_options=opts, providers=["CPUExecutionProvider"])
    except Exception as exc:  # truncated or corrupt file, unsupported op...
        raise PolicyError(f"onnxruntime cannot load the model: {str(exc).splitlines()[0][:200]}") from None
