"""`robot-rl` commands: behavior cloning, the learner and the reward classifier."""
from __future__ import annotations

import argparse
import pathlib

from robot_rl import config
from robot_rl.cli.common import DEFAULT_REGISTRY, REGISTRY_HELP, UsageError, add_overrides


def cmd_bc(args: argparse.Namespace) -> int:
    from robot_rl.learn.bc import train_and_publish
    from robot_rl.learn.config import BCConfig
    from robot_rl.policy.spec import PolicyError
    from robot_rl.store.schema import StoreError

    cfg = config.load(BCConfig, args.config, args.overrides)
    cfg.kind = args.kind or cfg.kind
    cfg.steps = args.steps or cfg.steps
    ckpt = args.checkpoint or pathlib.Path("runs") / args.policy / "bc.safetensors"
    try:
        res = train_and_publish(args.store, cfg, args.policy, ckpt, args.registry)
    except (StoreError, PolicyError, ValueError, FileNotFoundError) as exc:
        raise UsageError(str(exc)) from None
    report = res["report"]
    print(f"behavior cloning ({cfg.kind}, cameras {report['cameras'] or 'none'}) on {report['human_steps']} human steps "
          f"of {report['episodes']} episodes: loss {report['loss_first']:.4f} -> {report['loss_last']:.4f} in "
          f"{report['seconds']:.0f} s")
    print(f"checkpoint {ckpt}; exported {res['path']} (parity {res['parity']:.2g})")
    return 0


def cmd_learn(args: argparse.Namespace) -> int:
    from robot_rl.learn.learner import Learner
    from robot_rl.learn.config import LearnerConfig
    from robot_rl.policy.spec import PolicyError
    from robot_rl.store.schema import StoreError

    cfg = config.load(LearnerConfig, args.config, args.overrides)
    for key in ("store", "policy", "mode", "base", "registry", "cameras", "max_updates", "idle_exit_s", "utd",
                "export_every_s", "run_dir"):
        value = getattr(args, key, None)
        if value is not None:
            setattr(cfg, key, str(value) if isinstance(value, pathlib.Path) else value)
    try:
        cfg.validate()
        if not cfg.store or not cfg.policy:
            raise ValueError("give --store and --policy (or store/policy in --config)")
        from robot_rl.store.layout import read_root_attrs
        read_root_attrs(pathlib.Path(cfg.store))   # a store is there: checked before anything is written
    except (ValueError, StoreError) as exc:
        raise UsageError(str(exc)) from None
    run_dir = cfg.run_path
    run_dir.mkdir(parents=True, exist_ok=True)
    if args.resume and not (run_dir / "checkpoint.safetensors").exists():
        raise UsageError(f"--resume: no checkpoint in {run_dir}")
    # The settings this run trains with, in the run dir, with or without ROS: the learner node reads
    # this file, and a run without ROS is then reproducible from it (--config) as well.
    import yaml
    path = run_dir / "learner.yaml"
    path.write_text(yaml.safe_dump(config.to_dict(cfg), sort_keys=False))
    if not args.publish:
        try:
            learner = Learner(cfg, resume=args.resume)
        except (StoreError, PolicyError, FileNotFoundError, ValueError) as exc:
            raise UsageError(str(exc)) from None
        import signal
        signal.signal(signal.SIGTERM, lambda *_: learner.stop())
        try:
            result = learner.run()
        except KeyboardInterrupt:
            learner.stop()
            result = learner.summary()
        print(f"learner: {result}")
        return 0
    from robot_rl.graph import GraphConfig, GraphRunner, NodeSpec
    node = NodeSpec(name="learner", module="learner_node", parameters={"config": str(path), "resume": bool(args.resume)})
    return GraphRunner(GraphConfig(name="learn", nodes=[node])).run()


def cmd_reward(args: argparse.Namespace) -> int:
    from robot_rl.learn.reward import train_and_publish
    from robot_rl.learn.config import RewardConfig
    from robot_rl.policy.spec import PolicyError
    from robot_rl.store.schema import StoreError

    cfg = config.load(RewardConfig, args.config, args.overrides)
    cfg.steps = args.steps or cfg.steps
    try:
        res = train_and_publish(args.store, cfg, args.name, args.registry, args.run_dir)
    except (StoreError, PolicyError, ValueError, FileNotFoundError) as exc:
        raise UsageError(str(exc)) from None
    r = res["report"]
    print(f"reward classifier (cameras {', '.join(r['cameras'])}): loss {r['loss_first']:.4f} -> {r['loss_last']:.4f} "
          f"in {r['seconds']:.0f} s")
    for split in ("train", "validation"):
        m = r.get(split)
        if m:
            print(f"  {split:10s} {m['episodes']} episodes ({m['success_episodes']} successes): frame accuracy "
                  f"{m['accuracy']:.1%}, precision {m['precision']:.1%}, recall {m['recall']:.1%}; successes detected "
                  f"{m['success_detected']}/{m['success_episodes']}, episodes with a false alarm "
                  f"{m['false_alarm_episodes']}/{m['episodes']}")
    if "validation" not in r:
        print("  no episodes held out (too few labelled episodes): the metrics above are on training data")
    print(f"exported {res['path']} (parity {res['parity']:.2g})" + (f"; plot {res['plot']}" if res["plot"] else ""))
    print(f"use it: robot-rl learn ... --set reward=classifier --set reward_model={args.name}")
    return 0


COMMANDS = {
    "bc": ("behavior cloning of a base policy from the store's human steps, exported to the registry", cmd_bc),
    "learn": ("the learner: follows a store, trains SAC / residual RL with RLPD batches, exports policies and "
              "announces them on /policy/update", cmd_learn),
    "reward": ("train a success classifier on the store's labelled episodes (a learned reward), exported to the "
               "registry", cmd_reward),
}


def add_parsers(sub) -> None:
    from robot_rl.learn.config import BCConfig, LearnerConfig, RewardConfig   # (no torch: defaults for the help)

    p = sub.add_parser("bc", help=COMMANDS["bc"][0], description=COMMANDS["bc"][0])
    p.add_argument("--store", type=pathlib.Path, required=True, help="episode store with demonstrations")
    p.add_argument("--policy", required=True, help="registry name to export under")
    p.add_argument("--kind", choices=["mlp", "cnn"], help=f"mlp (proprio) or cnn (cameras + proprio); default {BCConfig.kind}")
    p.add_argument("--steps", type=int, help=f"gradient steps (default {BCConfig.steps})")
    p.add_argument("--checkpoint", type=pathlib.Path, help="where to write the torch checkpoint "
                   "(default runs/<policy>/bc.safetensors; the learner's --base for residual RL)")
    p.add_argument("--registry", type=pathlib.Path, default=pathlib.Path(DEFAULT_REGISTRY), help=REGISTRY_HELP)
    p.add_argument("--config", type=pathlib.Path, help="BCConfig YAML")
    add_overrides(p)

    p = sub.add_parser("learn", help=COMMANDS["learn"][0], description=COMMANDS["learn"][0] +
                       ". Metrics (metrics.jsonl, episodes.jsonl), plots (learning.png) and the checkpoint go to "
                       "runs/<policy>/.")
    p.add_argument("--store", help="episode store to learn from (followed: new episodes join training)")
    p.add_argument("--policy", help="registry name to publish under")
    p.add_argument("--mode", choices=["sac", "residual"])
    p.add_argument("--base", help="residual mode: the base policy's checkpoint (from robot-rl bc)")
    p.add_argument("--cameras", help='rgb streams to learn from: "auto" (all, the default) or "" (state only)')
    p.add_argument("--utd", type=float, help=f"gradient updates per arriving transition (default {LearnerConfig.utd:g})")
    p.add_argument("--max-updates", type=int, help="stop after this many updates")
    p.add_argument("--idle-exit-s", type=float, help="stop after this long without new data and nothing owed")
    p.add_argument("--export-every-s", type=float, help=f"export and announce the policy this often (default {LearnerConfig.export_every_s:g})")
    p.add_argument("--registry", help=REGISTRY_HELP)
    p.add_argument("--run-dir", help="checkpoint, metrics and plots (default runs/<policy>)")
    p.add_argument("--resume", action="store_true", help="continue from the run's checkpoint")
    p.add_argument("--no-publish", dest="publish", action="store_false",
                   help="do not start ROS: train and export to the registry only")
    p.add_argument("--config", type=pathlib.Path, help="LearnerConfig YAML")
    add_overrides(p)

    p = sub.add_parser("reward", help=COMMANDS["reward"][0], description=COMMANDS["reward"][0])
    rsub = p.add_subparsers(dest="reward_command", metavar="SUBCOMMAND", title="subcommands", required=True)
    c = rsub.add_parser("train", help="train on the frames of labelled episodes: the last success_tail steps of a "
                        "success are successes; failed episodes and earlier steps are failures",
                        description="Train a success classifier (images -> P(success)) on the store's labelled "
                        "episodes, hold out val_fraction of them for the metrics, export it to the registry "
                        "(parity-checked) and plot P(success) along held-out episodes (runs/<name>/reward.png).")
    c.add_argument("store", type=pathlib.Path, help="episode store with episodes labelled success or failure")
    c.add_argument("--name", default="reward", help="registry name (default reward)")
    c.add_argument("--steps", type=int, help=f"gradient steps (default {RewardConfig.steps})")
    c.add_argument("--registry", type=pathlib.Path, default=pathlib.Path(DEFAULT_REGISTRY), help=REGISTRY_HELP)
    c.add_argument("--run-dir", type=pathlib.Path, help="where reward.png goes (default runs/<name>)")
    c.add_argument("--config", type=pathlib.Path, help="RewardConfig YAML")
    add_overrides(c)

