"""SAC with a LayerNorm critic ensemble, automatic temperature and a shared observation encoder, on
n-step targets (as RLPD and SERL use it); optionally a residual actor on a frozen base policy.
One `update(batch)` is one gradient step of critic (+ encoder), actor and temperature.

batch (torch): obs and next_obs, dicts {"proprio": float32 [B, D], camera: uint8 [B, H, W, 3]};
action [B, A] (the executed action, normalized to [-1, 1]: the human's where they intervened);
ret [B] (n-step discounted reward sum); discount [B] (gamma^k, 0 after a terminal). Residual mode
adds base_action and next_base_action [B, A] (the frozen base's normalized actions on obs and
next_obs). The target takes the min over `target_subset` random ensemble members (REDQ; 2 of 2 is
clipped double-Q). Images get DrQ random shifts (`augment_pad`) before the encoder sees them.

`bc_weight` > 0 adds a behaviour-cloning term to the actor loss on the batch's human steps
(batch["intervention"]): the squared distance of the deterministic action to the human's, kept only
where the critic rates the human's action at least as high as the policy's (`bc_q_filter`, the Q
filter of IBRL / Nair et al. 2018), so corrections pull the actor directly instead of only through a
critic that must first learn to prefer them, and bad corrections do not.
`bc_encoder` lets that imitation term (unfiltered) train the shared encoder too; otherwise only the
critic shapes the features (HIL-SERL's stopped actor gradient), which with a sparse reward and no
successes yet leaves the actor blind to what the demonstrations looked at.

`pretrain_actor(batch)` is one behaviour-cloning step of the actor and the encoder toward the batch's
actions (the learner's `actor_pretrain_updates`, on demonstrations before RL starts, as IBRL and
demo-initialised RLPD variants do): RL then starts from the demonstrations' behaviour, not from a
random policy that exploration must lead to a first sparse success. Critic, temperature and gripper head
are untouched; its optimizer is its own, so the RL optimizers' state is as if it never ran.

`grasp_aux_weight` > 0 adds an auxiliary head on the encoder's image features that predicts
batch["grasp_offset"] (where a successful episode grasped relative to the gripper, and the yaw the
gripper still had to turn: robot_rl.store.grasp), trained with the critic and in `pretrain_actor`,
on the rows where it is known: the RL batch's, or with `grasp_aux_batch` > 0 a batch of its own
drawn from every labelled step (the sampler's rows="grasp", passed to update() as grasp_batch). In
a 50/50 RLPD batch most labelled rows come from the demonstrations (each of their steps up to the
grasp is labelled; of a policy episode only a success's final attempt), so the head mostly sees the
demonstrations' few layouts however many the policy has succeeded on; its own batch weighs every
labelled step alike, and its image pass covers the head's cameras only. With few demonstrations
the policies of (a) mostly fail by missing the cube by a few centimetres (docs/BENCHMARKS.md): this
asks the encoder directly where the object is, instead of only through imitation and a sparse
reward. The head reads no proprio (the start pose
names each of a few demonstrations, which it would memorize instead of finding the object), only the
features of `grasp_aux_cameras` (all when empty); `grasp_aux_frame: gripper` predicts the offset
turned into the gripper's yaw frame, the frame a wrist camera sees it in. The head is not part of
the exported policy, unless `grasp_aux_input`: then the features end with its (stopped-gradient)
prediction, which actor and critic read, and the export carries the head
(robot_rl.learn.encoder.GraspInputEncoder). `actor_images: false` (with grasp_aux_input) leaves the
actor only proprio and that estimate: with 10 demonstrations an actor that reads the image features
can tell the layouts apart by them and imitate each one's path; one that reads only the estimate
must move toward it. `actor_proprio` narrows its proprio to some columns (negative from the end,
e.g. the gripper's height and opening, [-3, -1]): the absolute pose names each demonstration too.
The critic still reads everything.

`gripper_bins` > 0 makes the last action dimension a discrete gripper (HIL-SERL's hybrid grasp
critic): the actor and the critic ensemble handle the motion dimensions only, and a DQN head over
`gripper_bins` commands (double-DQN n-step targets, trained with the critic and the encoder) picks
the gripper by argmax, with `gripper_epsilon` random picks when exploring. The human's or the
demo's gripper command is learned as its nearest bin. Not with a residual (its base owns the gripper).
"""
from __future__ import annotations

import copy
import dataclasses
from typing import Optional

import torch

from robot_rl.learn.augment import random_shift
from robot_rl.learn.encoder import GraspHead, GraspInputEncoder, ObsEncoder
from robot_rl.learn.nets import ColumnsActor, CriticEnsemble, DiscreteGripperCritic, SquashedGaussianActor
from robot_rl.learn.residual import combine
from robot_rl.robot.features import ProprioLayout
from robot_rl.store.grasp import GRASP_DIM


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
    grasp_aux_weight: float = 0.0            # > 0: the encoder also predicts where the episode grasped
    grasp_aux_cameras: list[str] = dataclasses.field(default_factory=list)   # ... from these cameras' features ([]: all)
    grasp_aux_frame: str = "world"           # ... as an offset in the world's axes, or the gripper's (yaw)
    grasp_aux_input: bool = False            # ... and actor and critic read that prediction (it is exported)
    grasp_aux_batch: int = 0                 # > 0: ... learned from its own batch of this many labelled steps
    actor_images: bool = True                # False: the actor reads proprio + that prediction only (not images)
    actor_proprio: list[int] = dataclasses.field(default_factory=list)   # ... only these proprio columns ([]: all)
    gripper_bins: int = 0                    # >= 2: the last action dim is a discrete gripper head (0: continuous)
    gripper_epsilon: float = 0.1             # ... picked at random this often when exploring

    def validate(self) -> None:
        if not 2 <= self.target_subset <= self.ensemble:
            raise ValueError("target_subset must be in [2, ensemble]")
        if self.lr <= 0 or not 0 < self.tau <= 1 or self.init_temperature <= 0:
            raise ValueError("lr > 0, tau in (0, 1], init_temperature > 0")
        if not 0 <= self.residual_scale <= 1 or self.augment_pad < 0:
            raise ValueError("residual_scale must be in [0, 1] and augment_pad >= 0")
        if self.bc_weight < 0 or self.grasp_aux_weight < 0:
            raise ValueError("bc_weight and grasp_aux_weight must be >= 0")
        if self.grasp_aux_frame not in ("world", "gripper"):
            raise ValueError(f"grasp_aux_frame must be world or gripper, got {self.grasp_aux_frame!r}")
        if self.grasp_aux_batch < 0:
            raise ValueError("grasp_aux_batch must be >= 0 (0: the grasp head learns from the RL batch)")
        if (self.grasp_aux_input or self.grasp_aux_batch) and not self.grasp_aux_weight:
            raise ValueError("grasp_aux_input and grasp_aux_batch need the grasp head, which grasp_aux_weight > 0 trains")
        if not self.actor_images and not self.grasp_aux_input:
            raise ValueError("actor_images: false leaves the actor proprio and the grasp head's estimate, "
                             "which needs grasp_aux_input")
        if self.actor_proprio and self.actor_images:
            raise ValueError("actor_proprio picks the proprio columns of an actor without images (actor_images: false)")
        if not self.actor_images and self.residual_scale > 0:
            raise ValueError("actor_images: false is for a policy learned from scratch, not a residual")
        if self.gripper_bins == 1 or self.gripper_bins < 0 or not 0 <= self.gripper_epsilon <= 1:
            raise ValueError("gripper_bins must be 0 (continuous) or >= 2, gripper_epsilon in [0, 1]")
        if self.gripper_bins and self.residual_scale > 0:
            raise ValueError("a discrete gripper head cannot be combined with a residual (the base owns the gripper)")


class SAC:
    def __init__(self, encoder: ObsEncoder, action_dim: int, config: Optional[SACConfig] = None, seed: int = 0) -> None:
        self.cfg = c = config or SACConfig()
        c.validate()
        torch.manual_seed(seed)
        if c.gripper_bins and action_dim < 2:
            raise ValueError("a discrete gripper head needs at least one motion dimension besides the gripper")
        self.residual = c.residual_scale > 0
        # where the object is relative to the gripper and the yaw to turn, in GRASP_UNITS, from image features only
        self.grasp_head: Optional[GraspHead] = None
        if c.grasp_aux_weight:
            columns = encoder.columns(c.grasp_aux_cameras or None, proprio=False)
            if not columns:
                raise ValueError("grasp_aux_weight needs a camera: the grasp head reads image features only")
            yaw = ProprioLayout.of_dim(int(encoder.mean.shape[0])).ee_yaw
            self.grasp_head = GraspHead(columns, c.hidden[0], c.grasp_aux_frame == "gripper", yaw)
        if c.grasp_aux_input:
            assert self.grasp_head is not None
            encoder = GraspInputEncoder(encoder, self.grasp_head)
        self.encoder = encoder
        self.image_encoder = encoder.encoder if isinstance(encoder, GraspInputEncoder) else encoder
        # the continuous part: every dimension, or all but a discrete gripper (the last)
        self.motion_dim = action_dim - (1 if c.gripper_bins else 0)
        self.actor: torch.nn.Module
        if c.actor_images:
            self.actor = SquashedGaussianActor(encoder.out_dim + (action_dim if self.residual else 0), self.motion_dim,
                                               c.hidden, zero_init_mean=self.residual)
        else:   # proprio's columns (all or actor_proprio's) and the grasp estimate's (the last GRASP_DIM)
            assert isinstance(encoder, GraspInputEncoder)
            grasp = range(encoder.out_dim - GRASP_DIM, encoder.out_dim)
            proprio = encoder.encoder.columns([], proprio=True)
            try:
                proprio = [proprio[i] for i in c.actor_proprio] if c.actor_proprio else proprio
            except IndexError:
                raise ValueError(f"actor_proprio {c.actor_proprio}: the proprio vector has {len(proprio)} "
                                 "columns") from None
            columns = proprio + list(grasp)
            self.actor = ColumnsActor(columns, self.motion_dim, c.hidden)
        self.critic = CriticEnsemble(encoder.out_dim, self.motion_dim, c.ensemble, c.hidden)
        self.critic_target = copy.deepcopy(self.critic).requires_grad_(False)
        self.gripper: Optional[DiscreteGripperCritic] = None
        self.gripper_target: Optional[DiscreteGripperCritic] = None
        if c.gripper_bins:
            self.gripper = DiscreteGripperCritic(encoder.out_dim, c.gripper_bins, c.hidden)
            self.gripper_target = copy.deepcopy(self.gripper).requires_grad_(False)
        self.log_alpha = torch.tensor(float(torch.log(torch.tensor(c.init_temperature))), requires_grad=True)
        self.target_entropy = -float(self.motion_dim) if c.target_entropy is None else c.target_entropy
        self.opt_actor = torch.optim.Adam(self.actor.parameters(), lr=c.lr)
        self.opt_critic = torch.optim.Adam([*self.critic.parameters(),
                                            *self.encoder.parameters(),
                                            *(self.gripper.parameters() if self.gripper else []),
                                            *(self.grasp_head.parameters() if self._grasp_head_apart else [])],
                                           lr=c.lr)
        self.opt_alpha = torch.optim.Adam([self.log_alpha], lr=c.lr)
        self.updates = 0
        self.pretrain_updates = 0
        self.pretrain_grasp_err_cm = float("nan")   # the grasp head's last pretraining error, for the log
        self._opt_pretrain: Optional[torch.optim.Optimizer] = None
        self.ones = torch.ones(action_dim)

    @property
    def alpha(self) -> torch.Tensor:
        return self.log_alpha.exp()

    def modules(self) -> dict[str, torch.nn.Module]:
        """Everything a checkpoint holds, by name."""
        out = {"encoder": self.encoder, "actor": self.actor, "critic": self.critic, "critic_target": self.critic_target}
        if self.gripper is not None:
            out.update(gripper=self.gripper, gripper_target=self.gripper_target)
        if self._grasp_head_apart:
            out["grasp_head"] = self.grasp_head
        return out

    @property
    def _grasp_head_apart(self) -> bool:
        """A grasp head outside the encoder (with grasp_aux_input it is inside it: saved and optimized once)."""
        return self.grasp_head is not None and not self.cfg.grasp_aux_input

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {"actor": self.opt_actor, "critic": self.opt_critic, "alpha": self.opt_alpha}

    def _augment(self, obs: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        pad = self.cfg.augment_pad
        return {k: (random_shift(v, pad) if v.dtype == torch.uint8 and pad else v) for k, v in obs.items()}

    def policy(self, features: torch.Tensor, base_action: Optional[torch.Tensor] = None,
               deterministic: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
        """(normalized action, log-prob of the actor's sample). Residual mode: the actor's sample is
        the residual, and the action is the base plus the scaled residual. With a discrete gripper
        head its command is appended (epsilon-greedy unless deterministic)."""
        a, logp = self.motion(features, base_action, deterministic)
        if self.gripper is not None:
            g = self.gripper.command(features, 0.0 if deterministic else self.cfg.gripper_epsilon)
            a = torch.cat([a, g[:, None]], dim=-1)
        return a, logp

    def motion(self, features: torch.Tensor, base_action: Optional[torch.Tensor] = None,
               deterministic: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
        """The continuous part of policy(): every dimension, or all but a discrete gripper."""
        if not self.residual:
            return self.actor(features, deterministic)
        assert base_action is not None, "residual mode needs the base policy's action"
        r, logp = self.actor(torch.cat([features, base_action], dim=-1), deterministic)
        return combine(base_action, r, self.cfg.residual_scale, -self.ones, self.ones), logp

    def q_value(self, features: torch.Tensor, action: torch.Tensor) -> torch.Tensor:
        """The critic ensemble [E, B] on a full action (a discrete gripper's dimension is not its input)."""
        return self.critic(features, action[..., :self.motion_dim])

    def update(self, batch: dict, update_actor: bool = True, grasp_batch: Optional[dict] = None) -> dict[str, float]:
        """One gradient step. update_actor=False: critic only (the residual mode's critic warm-up).
        grasp_batch: the grasp head learns from it instead of `batch` (grasp_aux_batch)."""
        c = self.cfg
        obs, next_obs = self._augment(batch["obs"]), self._augment(batch["next_obs"])
        with torch.no_grad():
            # the online encoder for the next observation, as DrQ-v2 (no target encoder: one image pass less)
            next_f = self.encoder(next_obs)
            next_a, next_logp = self.motion(next_f, batch.get("next_base_action"))
            q_next = self.critic_target(next_f, next_a)
            pick = torch.randperm(c.ensemble)[:c.target_subset]
            v_next = q_next[pick].min(0).values - self.alpha * next_logp
            target = batch["ret"] + batch["discount"] * v_next
        features = self.encoder(obs)
        q = self.q_value(features, batch["action"])
        critic_loss = ((q - target[None]) ** 2).mean()
        metrics = {"critic_loss": critic_loss.item(), "q_mean": q.detach().mean().item(), "alpha": self.alpha.item()}
        if self.gripper is not None:
            gripper_loss = self._gripper_loss(features, next_f, batch)
            metrics["gripper_loss"] = gripper_loss.item()
            critic_loss = critic_loss + gripper_loss
        if self.grasp_head is not None:
            if grasp_batch is None:
                grasp_loss, grasp_cm = self._grasp_loss(features, batch)
            else:
                cameras = c.grasp_aux_cameras or self.image_encoder.cameras
                grasp_obs = {k: v for k, v in grasp_batch["obs"].items() if k == "proprio" or k in cameras}
                grasp_features = self.image_encoder(self._augment(grasp_obs), cameras)
                grasp_loss, grasp_cm = self._grasp_loss(grasp_features, grasp_batch)
            metrics.update(grasp_loss=grasp_loss.item(), grasp_err_cm=grasp_cm)
            critic_loss = critic_loss + c.grasp_aux_weight * grasp_loss
        bc_weight = self.cfg.bc_weight
        if update_actor and bc_weight > 0 and c.bc_encoder and "intervention" in batch:
            # imitation shapes the features as well; the actor's own gradient from this term is
            # dropped (zero_grad below) and taken in the actor step on detached features
            bc_enc, _ = self._bc_loss(features, batch, q.detach().mean(0), q_filter=False)
            critic_loss = critic_loss + bc_weight * bc_enc
        self.opt_critic.zero_grad(set_to_none=True)
        critic_loss.backward()
        self.opt_critic.step()
        if update_actor:
            f = features.detach()   # no actor gradient into the encoder
            a, logp = self.motion(f, batch.get("base_action"))
            q_pi = self.critic(f, a).mean(0)
            actor_loss = (self.alpha.detach() * logp - q_pi).mean()
            if bc_weight > 0 and "intervention" in batch:
                bc_loss, kept = self._bc_loss(f, batch, q.detach().mean(0))
                actor_loss = actor_loss + bc_weight * bc_loss
                metrics.update(bc_loss=bc_loss.item(), bc_kept=kept, bc_weight=bc_weight)
            self.opt_actor.zero_grad(set_to_none=True)
            actor_loss.backward()
            self.opt_actor.step()
            alpha_loss = -(self.log_alpha * (logp.detach() + self.target_entropy)).mean()
            self.opt_alpha.zero_grad(set_to_none=True)
            alpha_loss.backward()
            self.opt_alpha.step()
            metrics.update(actor_loss=actor_loss.item(), entropy=-logp.detach().mean().item())
        with torch.no_grad():
            for p, tp in zip(self.critic.parameters(), self.critic_target.parameters()):
                tp.lerp_(p, c.tau)
            if self.gripper is not None:
                for p, tp in zip(self.gripper.parameters(), self.gripper_target.parameters()):
                    tp.lerp_(p, c.tau)
        self.updates += 1
        return metrics

    def pretrain_actor(self, batch: dict) -> float:
        """One BC step on every row of the batch (encoder + actor's deterministic motion action
        toward batch["action"]); returns the loss (summed squared error, mean over rows)."""
        if self.residual:
            raise ValueError("actor pretraining is for a policy learned from scratch, not a residual on a base")
        if self._opt_pretrain is None:
            self._opt_pretrain = torch.optim.Adam([*self.actor.parameters(), *self.encoder.parameters(),
                                                   *(self.grasp_head.parameters() if self._grasp_head_apart else [])],
                                                  lr=self.cfg.lr)
        features = self.encoder(self._augment(batch["obs"]))
        a_det, _ = self.motion(features, deterministic=True)
        loss = ((a_det - batch["action"][:, :self.motion_dim]) ** 2).sum(-1).mean()
        total = loss
        if self.grasp_head is not None:
            grasp_loss, self.pretrain_grasp_err_cm = self._grasp_loss(features, batch)
            total = loss + self.cfg.grasp_aux_weight * grasp_loss
        self._opt_pretrain.zero_grad(set_to_none=True)
        total.backward()
        self._opt_pretrain.step()
        self.pretrain_updates += 1
        return loss.item()

    def _bc_loss(self, features: torch.Tensor, batch: dict, q_data: torch.Tensor,
                 q_filter: Optional[bool] = None) -> tuple[torch.Tensor, float]:
        """Mean squared distance of the deterministic action to the human's over the human steps the
        filter keeps; the share kept (nan when the batch has none)."""
        human = batch["intervention"]
        if not bool(human.any()):
            return features.new_zeros(()), float("nan")
        a_det, _ = self.motion(features, batch.get("base_action"), deterministic=True)
        keep = human
        if self.cfg.bc_q_filter if q_filter is None else q_filter:
            with torch.no_grad():
                keep = human & (q_data >= self.critic(features, a_det).mean(0))
        err = ((a_det - batch["action"][:, :self.motion_dim]) ** 2).sum(-1)
        return (err * keep).sum() / human.sum(), float(keep.sum() / human.sum())

    # the grasp head's output units: 5 cm (about the misses of (a)) for the offset, 0.5 rad for the yaw
    GRASP_UNITS = torch.tensor([0.05, 0.05, 0.05, 0.5])

    def _grasp_loss(self, features: torch.Tensor, batch: dict) -> tuple[torch.Tensor, float]:
        """Squared error of the grasp head (in GRASP_UNITS, summed over xyz and yaw, mean over the
        rows whose target is known) and its RMS distance in cm (nan when the batch has no such row)."""
        assert self.grasp_head is not None
        target = batch.get("grasp_offset")
        known = torch.isfinite(target).all(-1) if target is not None else None
        if known is None or not bool(known.any()):
            return features.new_zeros(()), float("nan")
        target = self.grasp_head.to_own(target[known], batch["obs"]["proprio"][known])
        err = (self.grasp_head.own(features[known]) - target / self.GRASP_UNITS) ** 2
        cm = float(err[:, :3].detach().sum(-1).mean().sqrt()) * float(self.GRASP_UNITS[0]) * 100
        return err.sum(-1).mean(), cm

    def grasp_offset(self, obs: dict[str, torch.Tensor]) -> torch.Tensor:
        """The grasp head's prediction [B, 4] in the world's axes: where the object is relative to the
        gripper (metres) and how far the gripper must turn to grasp it (radians)."""
        if self.grasp_head is None:
            raise ValueError("this agent has no grasp head (sac.grasp_aux_weight is 0)")
        with torch.no_grad():
            return self.grasp_head(self.encoder(obs), obs["proprio"]) * self.GRASP_UNITS

    def _gripper_loss(self, features: torch.Tensor, next_features: torch.Tensor, batch: dict) -> torch.Tensor:
        """Double-DQN n-step loss of the gripper head on the executed command's bin."""
        assert self.gripper is not None and self.gripper_target is not None
        with torch.no_grad():
            best = self.gripper(next_features).argmax(-1, keepdim=True)
            target = batch["ret"] + batch["discount"] * self.gripper_target(next_features).gather(1, best).squeeze(1)
        taken = self.gripper.bin_of(batch["action"][:, -1])[:, None]
        return ((self.gripper(features).gather(1, taken).squeeze(1) - target) ** 2).mean()

    def act(self, obs: dict[str, torch.Tensor], base_action: Optional[torch.Tensor] = None,
            deterministic: bool = False) -> torch.Tensor:
        with torch.no_grad():
            return self.policy(self.encoder(obs), base_action, deterministic)[0]
