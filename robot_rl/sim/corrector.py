"""A simulated human corrector: lets sessions with human corrections run unattended.

It watches the running policy the way a person with a gamepad would, and when it sees the policy
go wrong it waits `reaction_steps` (a person's reaction time), takes over with the task's scripted
expert (its actions plus hand noise) for at least `hold_steps`, and hands back once the policy
would do the right thing again (the policy keeps proposing actions while the human drives). Its
outputs are what a teleop device gives: the action it commands and whether it is intervening.

What "wrong" is depends on its judge:
- "progress" (the default) judges by the task's progress measure (`Task.progress`), whatever route
  the policy takes: off the expert's route for `patience` steps on which the task did not advance,
  no new best for `stall_steps`, or the task `regress_m` behind its best. It hands back once the
  policy's proposed motion heads the way the expert's does (direction, not speed) with the same
  gripper command, and by the same test it does not take over at the end of its reaction delay
  if the policy is already mending a mistake (off the route or going back) itself. Its plan
  follows the scene (Expert.replan: at the object it compares the policy with closing on it, not
  with the approach its phases started with). It leaves a policy that succeeds by its own route
  alone, so its intervention rate falls as the policy gets better.
- "plan": off the expert's route (the action's distance to the expert's over `tube`) for
  `patience` steps, or no progress toward the expert's current goal for `stall_steps`; it hands
  back once the policy's action is within the tube. It takes over a policy that succeeds by
  another route too, so its intervention rate says little about the policy.
"""
from __future__ import annotations

import dataclasses
from typing import Any, Optional

import numpy as np

from robot_rl.sim.env import RobotEnv
from robot_rl.sim.experts import make_expert


@dataclasses.dataclass
class CorrectorConfig:
    tube: float = 0.8            # |policy - expert| over the xyz+yaw action components that counts as off-plan
    patience: int = 3            # consecutive off-plan steps before it reacts
    stall_steps: int = 15        # steps without progress before it reacts
    stall_eps: float = 0.005     # m of progress that counts
    reaction_steps: int = 2      # delay between noticing and taking over (a person's reaction time)
    hold_steps: int = 12         # how long it drives at least before handing back
    hand_noise: float = 0.1      # std of the noise on its actions (a thumb on a stick)
    judge: str = "progress"      # "progress": when the task stops advancing or goes back; "plan": off the expert's route
    progress_eps: float = 0.001  # m of task progress on one step that makes an off-plan step fine (judge "progress")
    regress_m: float = 0.02      # judge "progress": the task this far behind its best: gone wrong
    on_track_cos: float = 0.7    # judge "progress": hand back once the policy's motion heads this close to the expert's

    def validate(self) -> None:
        if min(self.patience, self.stall_steps, self.hold_steps) < 1 or self.reaction_steps < 0:
            raise ValueError("patience, stall_steps and hold_steps must be >= 1, reaction_steps >= 0")
        if self.judge not in ("plan", "progress"):
            raise ValueError(f"judge must be plan or progress, got {self.judge!r}")


class SimulatedHuman:
    def __init__(self, env: RobotEnv, config: Optional[CorrectorConfig] = None, seed: Optional[int] = None) -> None:
        self.env, self.cfg = env, config or CorrectorConfig()
        self.cfg.validate()
        self.expert = make_expert(env, seed=seed)
        self.rng = np.random.default_rng(seed)
        self.reset()

    def reset(self) -> None:
        self.expert.reset()
        self.off_plan = 0
        self.best_distance = np.inf     # judge "plan": to the expert's current goal; "progress": -Task.progress
        self.last_distance = np.inf     # the first step of an episode is not progress
        self.since_progress = 0
        self.countdown: Optional[int] = None   # reaction delay running
        self.trigger: Optional[str] = None     # what started it
        self.driving = 0                       # steps of control left
        self.interventions = 0
        self.triggers: dict[str, int] = {}     # takeovers by what set them off (off_plan, stall, regress)

    def act(self, policy_action: np.ndarray, obs: dict[str, Any], info: dict[str, Any]) -> tuple[np.ndarray, bool]:
        """(action to execute, intervening) for this step."""
        by_progress = self.cfg.judge == "progress"
        if by_progress and self.driving == 0:
            # watching, a person compares the policy with what they would do from here (a policy at
            # the cube is closing, not late to hover above it)
            self.expert.replan(info)
        expert_action = self.expert.act(obs, info)
        pos, _ = self.env.ee_pose()
        if by_progress:   # distance left = minus the task's progress, whatever route the policy takes
            distance = -self.env.progress()
        else:
            distance = float(np.linalg.norm(self.expert.goal - pos)) if self.expert.goal is not None else 0.0
        moving_on = np.isfinite(self.last_distance) and distance < self.last_distance - self.cfg.progress_eps
        self.last_distance = distance
        if self.driving > 0:
            self.driving -= 1
            if self.driving == 0:
                # like a person, hand back only once the policy would now do the right thing
                if not self._on_track(np.asarray(policy_action), expert_action, by_progress):
                    self.driving = 1 if by_progress else self.cfg.hold_steps
                else:
                    self._watch_again(distance)
            noisy = expert_action.copy()
            noisy[:4] += self.rng.normal(0, self.cfg.hand_noise, 4)
            return np.clip(noisy, -1, 1), True
        # watching
        disagreement = float(np.linalg.norm(np.asarray(policy_action)[:4] - expert_action[:4]))
        off_plan = disagreement > self.cfg.tube and not (by_progress and moving_on)
        self.off_plan = self.off_plan + 1 if off_plan else 0
        if distance < self.best_distance - self.cfg.stall_eps:
            self.best_distance, self.since_progress = distance, 0
        else:
            self.since_progress += 1
        regressed = by_progress and distance > self.best_distance + self.cfg.regress_m
        if self.countdown is None:
            trigger = ("off_plan" if self.off_plan >= self.cfg.patience else
                       "stall" if self.since_progress >= self.cfg.stall_steps else "regress" if regressed else None)
            if trigger is not None:
                self.countdown, self.trigger = self.cfg.reaction_steps, trigger
        if self.countdown is not None:
            if self.countdown == 0:
                self.countdown = None
                if (by_progress and self.trigger != "stall"
                        and self._on_track(np.asarray(policy_action), expert_action, by_progress)):
                    # by the time a person's hand is on the stick the policy is mending its mistake
                    # itself (reopening, heading back): they leave it be, and judge from here
                    self._watch_again(distance)
                    return np.asarray(policy_action, dtype=np.float64), False
                self.driving = self.cfg.hold_steps
                self.triggers[self.trigger] = self.triggers.get(self.trigger, 0) + 1
                if by_progress:   # a person plans from the scene as it is now, not from where the
                    self.expert.replan(info)   # expert's phases went while the policy drove
                self.interventions += 1
                return self.act(policy_action, obs, info)
            self.countdown -= 1
        return np.asarray(policy_action, dtype=np.float64), False

    def _on_track(self, policy: np.ndarray, expert: np.ndarray, by_progress: bool) -> bool:
        """Whether the policy's proposal is what the human would do now. Judge "plan": within the
        tube around the expert's action. Judge "progress": heading the same way (the motion's
        direction, not its speed: a slower policy is still on track; both at rest counts) and the
        same gripper command."""
        if np.sign(policy[4]) != np.sign(expert[4]):
            return False
        if not by_progress:
            return bool(np.linalg.norm(policy[:4] - expert[:4]) <= self.cfg.tube)
        p, e = policy[:3], expert[:3]
        if np.linalg.norm(e) < 0.2:   # the expert would (nearly) hold still here
            return bool(np.linalg.norm(p) < 0.4)
        return bool(p @ e >= self.cfg.on_track_cos * np.linalg.norm(p) * np.linalg.norm(e) and np.linalg.norm(p) > 0.1)

    def _watch_again(self, distance: float) -> None:
        self.off_plan = 0
        self.since_progress = 0
        self.best_distance = distance


class CorrectedEnv:
    """An env whose step(policy_action) passes through the simulated human, like a session with a
    person holding the gamepad. info gains policy_action, executed_action and is_intervention."""

    def __init__(self, env: RobotEnv, human: SimulatedHuman) -> None:
        self.env, self.human = env, human
        self._obs: Any = None
        self._info: Any = None

    def reset(self, *, seed: Optional[int] = None):
        self._obs, self._info = self.env.reset(seed=seed)
        self.human.reset()
        return self._obs, self._info

    def step(self, policy_action: Any):
        executed, intervening = self.human.act(np.asarray(policy_action, dtype=np.float64), self._obs, self._info)
        obs, reward, terminated, truncated, info = self.env.step(executed)
        info.update(is_intervention=intervening, policy_action=np.asarray(policy_action, dtype=np.float64),
                    executed_action=executed)
        self._obs, self._info = obs, info
        return obs, reward, terminated, truncated, info
