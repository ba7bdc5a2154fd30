"""The session's settings (`SessionConfig`): where its folder is, what it runs on, how many
episodes each stage takes, and the tuned defaults of its BC and learner stages (docs/SESSION.md)."""
from __future__ import annotations

import dataclasses
import pathlib
from typing import Literal, Optional

from robot_rl.learn.config import AuxConfig, BCConfig, LearnerConfig, SACConfig
from robot_rl.robot import DEFAULT_ROBOT
from robot_rl.sim.corrector import CorrectorConfig
from robot_rl.tasks import DEFAULT_TASK

STAGES = ("demos", "bc", "hil", "select", "eval", "report")
DEMO_NOTES = "session demonstration"
HIL_NOTES = "session hil"


def _default_bc() -> BCConfig:
    return BCConfig(kind="cnn", steps=1000, batch=64)


def _default_learner() -> LearnerConfig:
    # residual RL on the frozen BC base; the RLIF penalty on the step before a takeover says that
    # action was bad; the actor also imitates every human step (the BC term, unfiltered, training the
    # encoder too), so corrections pull it directly (docs/BENCHMARKS.md has the runs behind each)
    # store, policy, registry, run_dir and base are the session's own (learner_config() sets them)
    return LearnerConfig(mode="residual", base="bc.safetensors", residual_scale=0.5, intervention_penalty=1.0, batch=128, nstep=3,
                         gamma=0.97, critic_warmup_updates=200, export_every_s=20.0, checkpoint_every_s=30.0,
                         plot_every_s=30.0, threads=1,
                         sac=SACConfig(bc_weight=1.0, bc_q_filter=False, bc_encoder=True))


@dataclasses.dataclass
class SessionConfig:
    out: str = "runs/session"
    name: str = "session"                   # registry names: <name>_base (BC) and <name> (the learner's)
    task: str = DEFAULT_TASK
    robot: str = DEFAULT_ROBOT   # a builtin robot (robot-rl robots) or a description YAML's path
    sim: bool = True                        # false: a robot's driver and cameras already run on its topics
    # an adapted Gymnasium env's mapping as the simulator (docs/ENVS.md): its task, robot, cameras,
    # image size and rate replace task, robot, cameras, image_size and rate_hz
    env: str = ""
    teleop: str = "expert"                  # who gives demos and corrections; sim: the scripted expert
    demos: int = 5
    hil_episodes: int = 60
    eval_episodes: int = 20
    seed: int = 0                           # demos use seeds seed.., HIL seed+1000.., eval seed+100000..
    rate_hz: float = 10.0
    cameras: str = "front,wrist"
    image_size: int = 128
    max_episode_s: float = 30.0
    # After the HIL episodes, the learner takes the updates it still owes for the data, without new
    # data (off: the policy over-fits the last data it saw; docs/BENCHMARKS.md). The final policy
    # is then the learner node's last export, made as the robot stopped.
    catchup: bool = False
    # A learner that fails during the HIL episodes (an error, an OOM kill) is started again this many
    # times, continuing from its checkpoint (ros_nodes/learner_node.py), while the robot goes on with
    # the last policy it had; 0: never (the session then goes on without it, as after the last try).
    learner_restarts: int = 2
    # The final policy is the best of the learner's last `select_last` exports on `select_episodes`
    # validation seeds (seed+200000..; simulator only); select_last < 2 or select_episodes 0: the
    # last export. Why: consecutive exports differ a lot in held-out success (docs/BENCHMARKS.md).
    select_last: int = 4
    select_episodes: int = 10
    # The BC base competes too: a session whose exports all do worse than its base on the validation
    # seeds deploys the base (it wins only when strictly better; ties go to the newest export), so a
    # session does not deploy a policy that did worse than the one it started from.
    select_base: bool = True
    # on a robot (sim: false), the HIL stage runs preflight with this config first and refuses to
    # let the policy move the robot unless it passes
    preflight: str = "launch/preflight/real.yaml"
    # A reward classifier (`robot-rl reward train`; a registry ref or an .onnx inside this session's
    # registry) that the HIL stage's control node runs on the cameras to end episodes as successes,
    # so a robot needs no success keypress ("" = off; on the simulator the simulated human still
    # says success too, whichever comes first).
    success_model: str = ""
    # How the simulated human decides to take over (sim only; robot_rl.sim.corrector): "plan" when the
    # policy leaves the scripted expert's route, even on a route that succeeds, so its intervention
    # rate says little about the policy; "progress" when the task stops advancing or goes backwards,
    # handing back once the policy heads the right way, so its intervention rate falls as the policy
    # improves.
    corrector_judge: Literal["plan", "progress"] = CorrectorConfig.judge
    # The learner also trains the auxiliary heads the task recommends (Task.default_aux, read by the
    # policy: the grasping tasks' where the episode grasped, peg_insert's where it ended) when
    # `learner.aux` names none: a policy that misjudges where the object is misses its first try,
    # and the human takes over.
    task_aux: bool = True
    bc: BCConfig = dataclasses.field(default_factory=_default_bc)
    learner: LearnerConfig = dataclasses.field(default_factory=_default_learner)

    def validate(self) -> None:
        if self.demos < 1 or self.hil_episodes < 0 or self.eval_episodes < 0:
            raise ValueError("demos >= 1, hil_episodes >= 0, eval_episodes >= 0")
        if self.select_last < 0 or self.select_episodes < 0 or self.learner_restarts < 0:
            raise ValueError("select_last >= 0, select_episodes >= 0 and learner_restarts >= 0")
        if not self.sim and self.teleop == "expert":
            raise ValueError("the scripted expert needs the simulator: set teleop to a device (keyboard, gamepad, "
                             "spacemouse) for a robot")
        if not self.sim and self.eval_episodes:
            raise ValueError("eval runs on the simulator's held-out seeds; on a robot set eval_episodes=0 and "
                             "evaluate with `robot-rl run`")

    # --- where things are -----------------------------------------------------------------------
    @property
    def root(self) -> pathlib.Path:
        return pathlib.Path(self.out)

    @property
    def store(self) -> pathlib.Path:
        return self.root / "store.zarr"

    @property
    def registry(self) -> pathlib.Path:
        return self.root / "policies"

    @property
    def bc_checkpoint(self) -> pathlib.Path:
        return self.root / "bc.safetensors"

    @property
    def base_name(self) -> str:
        return f"{self.name}_base"

    @property
    def learner_dir(self) -> pathlib.Path:
        return self.root / "learner"

    def learner_config(self) -> LearnerConfig:
        # auxiliary heads are the session's task's unless the learner names another
        aux = self.learner.aux
        if not aux and self.task_aux and self.cameras:   # (the heads read the cameras' features)
            from robot_rl import config, tasks
            aux = {name: config.from_dict(AuxConfig, fields)
                   for name, fields in tasks.get(self.learner.task or self.task)().default_aux().items()}
        task = self.learner.task or (self.task if aux else "")
        cfg = dataclasses.replace(self.learner, store=str(self.store), policy=self.name, registry=str(self.registry),
                                  run_dir=str(self.learner_dir), base=str(self.bc_checkpoint) if
                                  self.learner.mode == "residual" else "", task=task, aux=aux)
        cfg.validate()
        return cfg


def load_config(path: Optional[str | pathlib.Path], overrides: list[str]) -> SessionConfig:
    from robot_rl import config
    from robot_rl.record.graph import with_env
    return with_env(config.load(SessionConfig, path, overrides))
