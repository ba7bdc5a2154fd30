"""The learner's settings (LearnerConfig, with its SAC, image encoder and auxiliary-head parts),
behaviour cloning's (BCConfig) and the reward classifier's (RewardConfig): plain dataclasses without
torch, so that `robot-rl --help` and the session's config read their defaults without loading it.
The modules that use them (learner.py, sac.py, encoder.py, aux.py, bc.py, reward.py) import them from
here; YAML files and `--set` fill them (robot_rl.config)."""
from __future__ import annotations

import dataclasses
import pathlib
import re
from typing import Any, Literal, Optional

from robot_rl.policy.registry import DEFAULT_ROOT, check_name
from robot_rl.policy.spec import PolicyError

DEVICE_RE = re.compile(r"^(auto|cpu|cuda(:\d+)?)$")


def check_device(spec: str) -> None:
    """`device` names auto, cpu, cuda or cuda:N (whether torch can use it: robot_rl.learn.device)."""
    if not DEVICE_RE.match(spec or ""):
        raise ValueError(f"device must be auto, cpu, cuda or cuda:N, got {spec!r}")


@dataclasses.dataclass
class SACConfig:
    hidden: list[int] = dataclasses.field(default_factory=lambda: [256, 256])
    ensemble: int = 2
    target_subset: int = 2
    lr: float = 3e-4
    tau: float = 0.005
    init_temperature: float = 0.1
    target_entropy: Optional[float] = None   # default: -action_dim
    augment_pad: int = 4                     # DrQ shift in pixels (0: off)
    residual_scale: float = 0.0              # > 0: residual actor on a frozen base, scaled by this
    bc_weight: float = 0.0                   # > 0: actor also imitates human steps (see the module doc)
    bc_q_filter: bool = True                 # ... only where Q(s, human action) >= Q(s, policy action)
    bc_encoder: bool = False                 # ... and that term also trains the encoder (with the critic)
    actor_images: bool = True                # False: the actor reads proprio + the aux heads' predictions only
    actor_proprio: list[int] = dataclasses.field(default_factory=list)   # ... only these proprio columns ([]: all)

    def validate(self) -> None:
        if not 2 <= self.target_subset <= self.ensemble:
            raise ValueError("target_subset must be in [2, ensemble]")
        if self.lr <= 0 or not 0 < self.tau <= 1 or self.init_temperature <= 0:
            raise ValueError("lr > 0, tau in (0, 1], init_temperature > 0")
        if not 0 <= self.residual_scale <= 1 or self.augment_pad < 0:
            raise ValueError("residual_scale must be in [0, 1] and augment_pad >= 0")
        if self.bc_weight < 0:
            raise ValueError("bc_weight must be >= 0")
        if self.actor_proprio and self.actor_images:
            raise ValueError("actor_proprio picks the proprio columns of an actor without images (actor_images: false)")
        if not self.actor_images and self.residual_scale > 0:
            raise ValueError("actor_images: false is for a policy learned from scratch, not a residual")


@dataclasses.dataclass
class EncoderConfig:
    channels: int = 16          # per conv layer
    feature_dim: int = 64       # per camera
    downsample: int = 2         # average-pool factor applied to images first (1: none)

    def validate(self) -> None:
        if self.channels < 1 or self.feature_dim < 1 or self.downsample < 1:
            raise ValueError("encoder channels, feature_dim and downsample must be >= 1")


@dataclasses.dataclass
class AuxConfig:
    weight: float = 1.0              # the head's loss is added to the critic's times this
    cameras: list[str] = dataclasses.field(default_factory=list)   # it reads these cameras' features ([]: all)
    batch: int = 0                   # > 0: it learns from its own batch of this many labelled steps
    input: bool = False              # actor and critic read its prediction (it is exported with the policy)
    options: dict[str, Any] = dataclasses.field(default_factory=dict)   # the task's own options for the head

    def validate(self) -> None:
        if self.weight <= 0:
            raise ValueError("an aux head's weight must be > 0 (leave the head out to turn it off)")
        if self.batch < 0:
            raise ValueError("an aux head's batch must be >= 0 (0: it learns from the RL batch's labelled rows)")


@dataclasses.dataclass
class LearnerConfig:
    store: str = ""
    policy: str = ""                         # registry name the learner publishes under
    registry: str = DEFAULT_ROOT
    run_dir: str = ""                        # checkpoint, metrics.jsonl, plots; "" = runs/<policy>
    mode: Literal["sac", "residual"] = "sac"
    base: str = ""                           # residual: the base policy's checkpoint (robot-rl bc --checkpoint)
    residual_scale: float = 0.2
    cameras: str = "auto"                    # rgb streams to learn from; "" = state only
    batch: int = 256
    utd: float = 1.0                         # gradient updates per arriving transition
    demo_fraction: float = 0.5               # RLPD: share of each batch from human steps
    nstep: int = 3
    gamma: float = 0.97
    reward: Literal["success", "stored", "classifier"] = "success"
    reward_model: str = ""                   # classifier: registry ref ("name", "name/v0003") or an .onnx inside registry
    reward_threshold: float = 0.0            # classifier: P(success) that counts; 0 = the model's own
    intervention_penalty: float = 0.0        # RLIF: reward -= this on the policy step a person took over after
    warmup_transitions: int = 0              # no updates before this many transitions
    critic_warmup_updates: int = 0           # critic-only updates first (after any actor pretraining)
    actor_pretrain_updates: int = 0          # mode sac: BC steps of actor + encoder on human steps before RL
    export_every_s: float = 10.0
    checkpoint_every_s: float = 30.0
    plot_every_s: float = 30.0
    refresh_s: float = 0.25
    max_updates: int = 0                     # stop after this many updates (0: no limit)
    idle_exit_s: float = 0.0                 # stop after this long with no new data and nothing owed (0: never)
    threads: int = 0                         # torch threads; 0: torch's own (OMP_NUM_THREADS, else the cores)
    device: str = "auto"                     # auto (CUDA when torch sees a GPU) | cpu | cuda | cuda:N
    seed: int = 0
    memory_budget_mb: float = 4096.0
    task: str = ""                           # the task plug-in whose labelers and aux heads run ("": none)
    aux: dict[str, AuxConfig] = dataclasses.field(default_factory=dict)   # the task's aux heads to train, by name
    sac: SACConfig = dataclasses.field(default_factory=SACConfig)
    encoder: EncoderConfig = dataclasses.field(default_factory=EncoderConfig)

    def validate(self) -> None:
        if self.policy:
            try:
                check_name(self.policy)
            except PolicyError as exc:
                raise ValueError(str(exc)) from None
        if self.mode == "residual" and not self.base:
            raise ValueError("residual mode needs base (a policy checkpoint, e.g. from robot-rl bc)")
        if not 0 <= self.demo_fraction <= 1 or self.batch < 2 or self.utd <= 0:
            raise ValueError("demo_fraction in [0, 1], batch >= 2, utd > 0")
        if min(self.export_every_s, self.checkpoint_every_s, self.plot_every_s, self.refresh_s) <= 0:
            raise ValueError("export_every_s, checkpoint_every_s, plot_every_s and refresh_s must be > 0")
        if self.reward == "classifier" and not self.reward_model:
            raise ValueError("reward classifier needs reward_model (a registry name from robot-rl reward train)")
        if not 0 <= self.reward_threshold < 1:
            raise ValueError("reward_threshold must be in [0, 1)")
        if self.mode == "residual" and not 0 < self.residual_scale <= 1:
            raise ValueError("residual_scale must be in (0, 1]")
        if self.actor_pretrain_updates < 0 or self.critic_warmup_updates < 0:
            raise ValueError("actor_pretrain_updates and critic_warmup_updates must be >= 0")
        if self.mode == "residual" and self.actor_pretrain_updates:
            raise ValueError("actor_pretrain_updates is for mode sac; a residual starts from its base policy")
        for name, aux in self.aux.items():
            aux.validate()
        check_device(self.device)
        if not self.sac.actor_images and not any(a.input for a in self.aux.values()):
            raise ValueError("sac.actor_images: false leaves the actor proprio and the aux heads' predictions: "
                             "it needs a head with input: true")
        if not self.sac.actor_images and self.mode == "residual":
            raise ValueError("sac.actor_images: false is for a policy learned from scratch, not a residual")
        self.sac.validate()

    @property
    def run_path(self) -> pathlib.Path:
        return pathlib.Path(self.run_dir or f"runs/{self.policy}")


@dataclasses.dataclass
class BCConfig:
    kind: Literal["mlp", "cnn"] = "mlp"
    cameras: str = "auto"          # cnn: rgb streams to use ("auto": all)
    hidden: list[int] = dataclasses.field(default_factory=lambda: [256, 256])
    steps: int = 2000
    batch: int = 128
    lr: float = 1e-3
    augment_pad: int = 4          # DrQ shift in pixels of the (pooled) frames the encoder sees
    downsample: int = 2            # cnn: images average-pooled by this before the convolutions
    control_hz: float = 10.0
    # action chunking (ACT): predict the next `chunk` actions; the runtime executes their temporal
    # ensemble with weights exp(-chunk_decay * i). 1 = one action per step.
    chunk: int = 1
    chunk_decay: float = 0.01
    seed: int = 0
    threads: int = 0                         # torch threads; 0: torch's own (OMP_NUM_THREADS, else the cores)

    def validate(self) -> None:
        if self.steps < 1 or self.batch < 1 or self.lr <= 0:
            raise ValueError("steps and batch must be >= 1 and lr > 0")
        if self.chunk < 1 or self.chunk_decay < 0:
            raise ValueError("chunk must be >= 1 and chunk_decay >= 0")


@dataclasses.dataclass
class RewardConfig:
    cameras: str = "auto"          # rgb streams the classifier sees ("auto": all)
    success_tail: int = 3          # last steps of a successful episode whose frames are successes
    guard: int = 8                 # steps before those left out of training (ambiguous)
    steps: int = 1500
    batch: int = 128               # half successes, half failures
    lr: float = 1e-3
    augment_pad: int = 4           # DrQ shift in pixels of the pooled frames
    downsample: int = 2
    channels: int = 16
    feature_dim: int = 64
    hidden: int = 128
    val_fraction: float = 0.2      # share of the labelled episodes held out for the metrics
    threshold: float = 0.5         # P(success) at or above this counts as a success
    seed: int = 0
    threads: int = 0                         # torch threads; 0: torch's own (OMP_NUM_THREADS, else the cores)

    def validate(self) -> None:
        if self.success_tail < 1 or self.guard < 0 or self.steps < 1 or self.batch < 2 or self.lr <= 0:
            raise ValueError("success_tail >= 1, guard >= 0, steps >= 1, batch >= 2 and lr > 0")
        if not 0 <= self.val_fraction < 1 or not 0 < self.threshold < 1:
            raise ValueError("val_fraction in [0, 1) and threshold in (0, 1)")
