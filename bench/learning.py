"""Learning benchmark (issue #7) on the simulator, from pixels and proprio at 10 Hz.

Pixels are two 128x128 cameras. Everything runs in one process: episodes are rolled out with the
learner's current policy (sampled, i.e. exploring) and written to a real store, the learner picks
them up and takes the updates its UTD ratio allows, and every --eval-every environment steps the
deterministic policy (what an export runs) is evaluated without corrections on held-out seeds. Collection and training alternate (on
two cores they would share the CPU anyway); the ROS path (control node, learner node, swaps) is
exercised by tests/test_learner.py.

    (a) rlpd:     SAC with RLPD batches from --demos scripted demonstrations
    (b) residual: residual RL on a deliberately weak BC base (few demos, few steps), the simulated
                  human correcting; interventions enter both halves of the batches
        residual --no-human --demos 10: (a)'s setting (10 demos, no human) learnt as a residual on
                  the BC policy of those demos instead of SAC from its own actor

    python bench/learning.py residual --seeds 0 1 2 --env-steps 10000
    python bench/learning.py rlpd --seeds 0 1 2 --env-steps 20000
    python bench/learning.py rlpd --config launch/learner/rlpd_pick_cube.yaml --eval-every 5000   # what met (a)
    python bench/learning.py rlpd --config launch/learner/rlpd_pick_cube.yaml --env robot_rl/envs/gym_hil/pick_cube.yaml

Prints a line per evaluation and a summary; writes JSON and a PNG plot (success vs environment
steps and wall-clock minutes, intervention rate) to --out, and per seed the learner's own metrics.jsonl
(a row per episode: losses, Q, temperature), episodes.jsonl and learning.png.
"""
from __future__ import annotations

import argparse
import json
import pathlib
import shutil
import sys
import tempfile
import time
from typing import Optional

import numpy as np
import torch

from robot_rl.learn.device import to_device
from robot_rl.sim.control_loop import SimControlLoop
from robot_rl.sim.outcomes import failure_summary, tracker_for


def evaluate(env, policy, seeds, outcomes: Optional[list] = None) -> float:
    """Success rate on these seeds, the policy acting through the control step (safety layer
    included, as on the robot). `outcomes` (if given) gets a row per episode in the task's outcome
    categories (pick_cube: how far it got, how close the gripper came to the cube)."""
    wins = 0
    loop = SimControlLoop(env, policy)
    for s in seeds:
        obs, info = loop.reset(int(s))
        tracker, done = tracker_for(env), False
        while not done:
            _, obs, _, term, trunc, info = loop.step(obs)
            done = term or trunc
            if tracker is not None:
                tracker.step(info)
        wins += bool(info["success"])
        row = tracker.result(bool(info["success"])) if tracker is not None else None
        if outcomes is not None and row is not None:
            outcomes.append({"seed": int(s), **row})
    return wins / len(seeds)


# where each task's grasp happens, in its privileged state (for scoring the grasp head only)
GRASPED = {"pick_cube": "cube_pos", "open_drawer": "handle_pos", "gym_hil_pick_cube": "cube_pos"}


def grasp_head_error_cm(env, learner, seeds) -> Optional[float]:
    """With the grasp head (aux.grasp): median horizontal distance (cm) between the grasped object
    (the cube, the drawer's handle) and where the head puts it, from each held-out seed's first
    frame: whether the encoder locates it on layouts it never trained on (its training error says
    only that it fits the demonstrations). None without that head or for another task."""
    head = learner.agent.heads.get("grasp")
    key = GRASPED.get(env.task.name)
    if head is None or key is None:
        return None
    errors = []
    for s in seeds:
        obs, info = env.reset(seed=int(s))
        t = to_device({o.name: torch.from_numpy(np.ascontiguousarray(obs[o.name]))[None] for o in learner.obs},
                      learner.device)
        grasp = env.ee_pose()[0] + head.si(learner.agent.predict("grasp", t))[0, :3].cpu().numpy()
        errors.append(float(np.linalg.norm(grasp[:2] - info["state"][key][:2])))
    return 100 * float(np.median(errors))


# bench flag -> LearnerConfig field (and how the flag's value becomes the field's)
FLAG_FIELDS = [
    ("batch", "batch", None), ("utd", "utd", None), ("intervention_penalty", "intervention_penalty", None),
    ("actor_pretrain", "actor_pretrain_updates", None), ("critic_warmup", "critic_warmup_updates", None),
    ("bc_weight", "sac.bc_weight", None), ("no_bc_filter", "sac.bc_q_filter", lambda v: not v),
    ("bc_encoder", "sac.bc_encoder", None),
    ("downsample", "encoder.downsample", None),
    ("augment_pad", "sac.augment_pad", None), ("target_entropy", "sac.target_entropy", None),
    ("init_temperature", "sac.init_temperature", None),
    ("threads", "threads", lambda v: v or 0),   # the one source of the thread count: the learner config
]


def learner_config(args, seed: int, store: pathlib.Path, work: pathlib.Path):
    """The learner's settings: from --config (a `robot-rl learn --config` file, e.g.
    launch/learner/rlpd_pick_cube.yaml) with the flags given on the command line on top, or from the
    flags alone (their defaults included). The bench owns the store, registry, run dir and seed."""
    from robot_rl import config
    from robot_rl.learn.config import LearnerConfig

    cfg = config.load(LearnerConfig, args.config) if args.config else LearnerConfig(nstep=3, gamma=0.97)
    cfg.store, cfg.policy, cfg.registry = str(store), f"bench_{args.mode}_{seed}", str(work / "policies")
    cfg.run_dir, cfg.seed = str(work / f"run{seed}"), seed
    cfg.export_every_s = cfg.checkpoint_every_s = cfg.plot_every_s = 1e9
    if not args.config:
        cfg.cameras = "auto"
    if cfg.task:   # the labelers and heads of the task the episodes come from (a recipe may name another)
        cfg.task = args.task
    for flag, field, convert in FLAG_FIELDS:
        value = getattr(args, flag)
        if args.config and (flag not in args.explicit or value is None):
            continue
        *parents, name = field.split(".")
        obj = cfg
        for part in parents:
            obj = getattr(obj, part)
        setattr(obj, name, convert(value) if convert else value)
    return cfg


def run_seed(args, seed: int, work: pathlib.Path) -> dict:
    from robot_rl import config, sim
    from robot_rl.learn.bc import train_bc
    from robot_rl.learn.config import BCConfig
    from robot_rl.learn.learner import Learner
    from robot_rl.policy.checkpoint import save_checkpoint
    from robot_rl.sim.corrector import SimulatedHuman
    from robot_rl.sim.experts import make_expert
    from robot_rl.sim.rollout import rollout, sim_store_spec
    from robot_rl.store import EpisodeStore
    from robot_rl.store.writer import StoreWriter

    torch.manual_seed(seed)
    if args.env:   # an adapted Gymnasium env (robot_rl.sim.gym_env), its task the mapping's
        from robot_rl.sim.gym_env import GymRobotEnv
        env, eval_env = GymRobotEnv(args.env), GymRobotEnv(args.env)
        args.task = env.cfg.task
    else:
        env = sim.make(args.task, image_size=[args.image_size, args.image_size], control_hz=10.0)
        eval_env = sim.make(args.task, image_size=[args.image_size, args.image_size], control_hz=10.0)
    eval_seeds = 100_000 + 1000 * seed + np.arange(args.eval_episodes)
    store = work / f"seed{seed}.zarr"
    t0 = time.monotonic()
    with StoreWriter(store, sim_store_spec(env)) as w:
        for i in range(args.demos):
            rollout(env, w, 10_000 * (seed + 1) + i, operator=make_expert(env, seed=seed * 100 + i))
    cfg = learner_config(args, seed, store, work)
    base_success = None
    if args.mode == "residual":
        base, pcfg, report = train_bc(EpisodeStore.open(store), BCConfig(kind="cnn", steps=args.bc_steps,
                                                                          batch=64, seed=seed))
        save_checkpoint(base, pcfg, work / f"base{seed}.safetensors")
        cfg.mode, cfg.base, cfg.residual_scale = "residual", str(work / f"base{seed}.safetensors"), args.residual_scale

        def base_policy(obs):
            with torch.no_grad():
                return base(*[torch.from_numpy(np.asarray(obs[n]))[None] for n in ("front", "wrist", "proprio")])[0].numpy()
        base_success = evaluate(eval_env, base_policy, eval_seeds)
        print(f"[seed {seed}] BC base from {args.demos} demos, {args.bc_steps} steps: success {base_success:.0%} "
              f"on {len(eval_seeds)} held-out seeds", flush=True)
    learner = Learner(cfg)
    if learner.cfg.actor_pretrain_updates:   # before the first evaluation, so the curve starts at the pretrained actor
        learner.pretrain_actor()
        grasp = learner.agent.pretrain_metrics.get("grasp_err_cm", float("nan"))
        print(f"[seed {seed}] actor pretrained: {learner.cfg.actor_pretrain_updates} BC steps"
              + ("" if np.isnan(grasp) else f", grasp head error {grasp:.1f} cm (last batch)"), flush=True)
    curve, episodes = [], []
    env_steps, next_eval, ep_seed = 0, 0, 0
    while True:
        if env_steps >= next_eval:
            outcomes: list = []
            success = evaluate(eval_env, learner.behavior_policy(deterministic=True), eval_seeds, outcomes)
            recent = episodes[-10:]
            grasp_cm = grasp_head_error_cm(eval_env, learner, eval_seeds)
            curve.append({"env_steps": env_steps, "wall_min": (time.monotonic() - t0) / 60, "success": success,
                          "outcomes": outcomes, "grasp_head_error_cm": grasp_cm,
                          "updates": learner.updates, "q_gap": learner.intervention_q_gap(),
                          "intervention_rate": float(np.mean(
                              [e["interventions"] / e["steps"] for e in recent])) if recent else None})
            print(f"[seed {seed}] {env_steps:6d} env steps, {learner.updates:6d} updates, "
                  f"{curve[-1]['wall_min']:5.1f} min: eval success {success:.0%}"
                  + ((f", interventions {curve[-1]['intervention_rate']:.0%} (last 10 episodes)" if with_human(args)
                      else f", sampled success {np.mean([e['success'] for e in recent]):.0%} (last 10 episodes)")
                     if recent else "")
                  + (f", Q(human) - Q(policy) at interventions {curve[-1]['q_gap']:+.3f}"
                     if curve[-1]["q_gap"] is not None else ""),
                  flush=True)
            if grasp_cm is not None:
                print(f"[seed {seed}]   grasp head on the held-out seeds' first frames: object missed by "
                      f"{grasp_cm:.1f} cm across (median)", flush=True)
            if failure_summary(outcomes):
                print(f"[seed {seed}]   failures: {failure_summary(outcomes)}", flush=True)
            next_eval += args.eval_every
            if env_steps >= args.env_steps:
                break
        human = SimulatedHuman(env, seed=seed * 7919 + ep_seed) if with_human(args) else None
        with StoreWriter(store) as w:
            r = rollout(env, w, 20_000 * (seed + 1) + ep_seed, policy=learner.behavior_policy(), operator=human,
                        policy_version=1 + len(episodes))
        ep_seed += 1
        env_steps += r["steps"]
        episodes.append({**r, "env_steps": env_steps, "wall_min": (time.monotonic() - t0) / 60})
        learner.refresh()
        while learner.governor.owed() > 0:
            learner.update()
        learner.write_metrics()   # one row per episode: losses, Q, temperature, to diagnose a run later
    env.close()
    eval_env.close()
    # the learner's metrics and its plot outlive the temporary work folder, beside the results
    learner.plot()
    stem = result_stem(args)
    for name in ("metrics.jsonl", "episodes.jsonl", "learning.png"):
        src = learner.run_dir / name
        if src.exists():
            shutil.copyfile(src, stem.parent / f"{stem.name}_seed{seed}_{name}")
    return {"seed": seed, "base_success": base_success, "curve": curve, "episodes": episodes,
            "utd_measured": learner.governor.measured, "wall_min": (time.monotonic() - t0) / 60,
            "learner_config": config.to_dict(cfg)}   # what ran, whichever way it was given


def result_stem(args) -> pathlib.Path:
    return args.out / (f"learning_{args.mode}" + (f"_{args.tag}" if args.tag else ""))


def with_human(args) -> bool:
    """Whether the simulated human corrects the training episodes ((b); not (a) or --no-human)."""
    return args.mode == "residual" and not args.no_human


def plot(results: list[dict], args, path: pathlib.Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from robot_rl.learn.plots import rolling

    # with no human the third panel shows what exploration finds instead: the sampled policy's
    # successes, the only ones the critic gets beyond the demonstrations
    human = with_human(args)
    fig, axes = plt.subplots(1, 3, figsize=(15, 4))
    for r in results:
        steps = [c["env_steps"] for c in r["curve"]]
        axes[0].plot(steps, [c["success"] for c in r["curve"]], marker="o", label=f"seed {r['seed']}")
        axes[1].plot([c["wall_min"] for c in r["curve"]], [c["success"] for c in r["curve"]], marker="o")
        eps = r["episodes"]
        if eps:
            per_episode = [e["interventions"] / e["steps"] for e in eps] if human else [float(e["success"]) for e in eps]
            axes[2].plot([e["env_steps"] for e in eps], rolling(per_episode, 10))
    target = {"residual": 0.95, "rlpd": 0.90}[args.mode]
    for ax in axes[:2]:
        ax.axhline(target, ls="--", c="gray", lw=1)
        ax.set_ylim(-0.05, 1.05)
        ax.set_ylabel("eval success (held-out seeds)")
    axes[0].set_xlabel("environment steps")
    axes[1].set_xlabel("wall clock (min)")
    axes[2].set_xlabel("environment steps")
    axes[2].set_ylabel("intervention rate (last 10 episodes)" if human else "sampled episodes' success (last 10)")
    if not human:
        axes[2].set_ylim(-0.05, 1.05)
    axes[0].legend(fontsize=8)
    fig.suptitle(f"{args.mode} on {args.task}, pixels + proprio at 10 Hz")
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)


def parse_args(argv: list[str]) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("mode", choices=["rlpd", "residual"])
    ap.add_argument("--config", type=pathlib.Path, default=None,
                    help="a LearnerConfig YAML (robot-rl learn --config), e.g. launch/learner/rlpd_pick_cube.yaml: "
                         "its settings, with the learner flags given here on top")
    ap.add_argument("--task", default="pick_cube")
    ap.add_argument("--env", default="",
                    help="an adapted Gymnasium env's mapping instead of the builtin simulator "
                         "(e.g. robot_rl/envs/gym_hil/pick_cube.yaml; docs/ENVS.md); its task is the mapping's")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--env-steps", type=int, default=None, help="default 10000 (residual) / 20000 (rlpd)")
    ap.add_argument("--demos", type=int, default=None, help="default 10 (rlpd) / 5 (residual: a weak base, 10%% here)")
    ap.add_argument("--bc-steps", type=int, default=1000)
    ap.add_argument("--no-human", action="store_true",
                    help="residual: no simulated human; the residual learns from the demos and its own episodes only")
    ap.add_argument("--residual-scale", type=float, default=0.5)
    ap.add_argument("--critic-warmup", type=int, default=None, help="critic-only updates first; default 200 (residual) / 0 (rlpd)")
    ap.add_argument("--actor-pretrain", type=int, default=0,
                    help="rlpd: BC steps of actor + encoder on the demos before RL (learner.actor_pretrain_updates)")
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--intervention-penalty", type=float, default=0.0,
                    help="RLIF: reward -= this on the policy step before a takeover (default 0)")
    ap.add_argument("--utd", type=float, default=1.0)
    ap.add_argument("--bc-weight", type=float, default=0.0, help="actor BC term on human steps (sac.bc_weight)")
    ap.add_argument("--no-bc-filter", action="store_true", help="BC on every human step, not only Q-preferred ones")
    ap.add_argument("--bc-encoder", action="store_true", help="the BC term also trains the encoder (sac.bc_encoder)")
    ap.add_argument("--target-entropy", type=float, default=None,
                    help="SAC's entropy target (sac.target_entropy; default -action_dim): lower explores less")
    ap.add_argument("--init-temperature", type=float, default=0.1, help="sac.init_temperature")
    ap.add_argument("--augment-pad", type=int, default=4,
                    help="DrQ random shift in pixels of the pooled frames (sac.augment_pad; 0: off)")
    ap.add_argument("--downsample", type=int, default=2,
                    help="the encoder's average-pool factor on the camera frames (encoder.downsample; 1: full resolution)")
    ap.add_argument("--image-size", type=int, default=128)
    ap.add_argument("--eval-every", type=int, default=1000)
    ap.add_argument("--eval-episodes", type=int, default=20)
    ap.add_argument("--threads", type=int, default=None,
                    help="torch threads for the whole run (learner.threads; default: the config's, else torch's own)")
    ap.add_argument("--out", type=pathlib.Path, default=pathlib.Path("bench/results"))
    ap.add_argument("--keep-stores", type=pathlib.Path, default=None,
                    help="copy each seed's store here (seed<N>.zarr) before the work folder is removed; "
                         "bench/grasp_labels.py reads them")
    ap.add_argument("--tag", default="", help="suffix of the result files: learning_<mode>[_<tag>].{json,png}")
    args = ap.parse_args(argv)
    # which flags the command line gave (with --config, only those override the file)
    given = [a.split("=", 1)[0] for a in argv if a.startswith("--")]
    args.explicit = {a.dest for a in ap._actions if any(o in given for o in a.option_strings)}
    if args.config:   # a bad file fails here, before demonstrations are rolled out
        from robot_rl import config
        from robot_rl.learn.config import LearnerConfig
        if not args.config.is_file():
            ap.error(f"--config {args.config}: no such file")
        try:
            config.load(LearnerConfig, args.config)
        except (config.ConfigError, ValueError) as exc:
            ap.error(f"--config {args.config}: {exc}")
    # None: the mode's default; 0 is a real value (--env-steps 0: only the starting policy is evaluated)
    if args.env_steps is None:
        args.env_steps = 10_000 if args.mode == "residual" else 20_000
    if args.demos is None:
        args.demos = 5 if args.mode == "residual" else 10
    if args.critic_warmup is None and not args.config:   # with --config, the file's
        args.critic_warmup = 200 if args.mode == "residual" else 0
    return args


def main() -> None:
    args = parse_args(sys.argv[1:])
    if args.threads:   # the BC base and rollouts too, not only the learner (which sets its config's)
        torch.set_num_threads(args.threads)
    args.out.mkdir(parents=True, exist_ok=True)
    work = pathlib.Path(tempfile.mkdtemp(prefix="bench_learning_"))
    results = []
    try:
        for seed in args.seeds:
            results.append(run_seed(args, seed, work))
            if args.keep_stores:
                shutil.copytree(work / f"seed{seed}.zarr", args.keep_stores / f"seed{seed}.zarr", dirs_exist_ok=True)
            stem = result_stem(args)
            stem.with_suffix(".json").write_text(json.dumps({"args": {k: str(v) for k, v in vars(args).items()},
                                                             "results": results}, indent=1))
            plot(results, args, stem.with_suffix(".png"))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    target = {"residual": 0.95, "rlpd": 0.90}[args.mode]
    for r in results:
        hit = next((c for c in r["curve"] if c["success"] >= target), None)
        print(f"seed {r['seed']}: " + (f"base {r['base_success']:.0%}, " if r["base_success"] is not None else "")
              + f"final eval success {r['curve'][-1]['success']:.0%} after {r['curve'][-1]['env_steps']} env steps, "
              f"{r['wall_min']:.1f} min; " + (f">= {target:.0%} first at {hit['env_steps']} env steps, {hit['wall_min']:.1f} min"
                                               if hit else f"never reached {target:.0%}")
              + f"; UTD achieved {r['utd_measured']:.2f}")
    print(f"results: {stem.with_suffix('.json')}, plot: {stem.with_suffix('.png')}")


if __name__ == "__main__":
    main()
