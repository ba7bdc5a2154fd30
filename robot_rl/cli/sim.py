"""`robot-rl` commands: one simulator episode to video (`sim`); a policy on the robot, simulated or real (`run`)."""
from __future__ import annotations

import argparse
import pathlib

from robot_rl.cli.common import (DEFAULT_TASK, ROBOT_HELP, TASK_HELP, UsageError, add_fields, check_task, param_default,
                                 sim_domain)
from robot_rl.record.graph import RunGraph
from robot_rl.robot import DEFAULT_ROBOT, canonical as canonical_robot, load as load_robot


def cmd_sim(args: argparse.Namespace) -> int:
    from robot_rl.sim.showcase import run_showcase
    check_task(args.task)
    policy = "expert" if args.expert else args.policy
    res = run_showcase(args.task, args.out, seed=args.seed, robot=args.robot, policy=policy, human=args.human)
    print(f"{args.task} seed {args.seed} ({policy}{' + simulated human' if args.human else ''}): "
          f"{'success' if res['success'] else 'failure'} after {res['steps']} steps, "
          f"{res['intervention_steps']} intervention steps; wrote {res['mp4']} and {res['png']}")
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    from robot_rl.graph import GraphConfig, GraphRunner
    from robot_rl.policy.registry import PolicyRegistry, load
    from robot_rl.policy.spec import PolicyError, RobotRef
    from robot_rl.record.graph import run_nodes

    policy = args.policy
    registry = pathlib.Path(args.registry)
    if policy.startswith(f"{registry}/") or policy.startswith(f"{registry.name}/"):
        policy = policy.split("/", 1)[1]  # "policies/NAME" as the README writes it
    try:
        path = PolicyRegistry(registry).resolve(policy)
        _, meta = load(path)
        d = load_robot(canonical_robot(args.robot))
        meta.robot.check(f"{meta.name}/{meta.version}", RobotRef(d.name, d.digest(), d.command.mode))
    except (PolicyError, ValueError) as exc:
        raise UsageError(str(exc)) from None
    if not args.real:
        check_task(args.task)
    images = [o for o in meta.obs if o.dtype == "uint8"]
    g = RunGraph(policy=str(path), robot=args.robot, registry=str(registry), sim=not args.real, task=args.task,
                 seed=args.seed, rate_hz=args.rate_hz, cameras=",".join(o.name for o in images),
                 image_size=tuple(images[0].shape[:2]) if images else (128, 128))
    graph = GraphConfig(name="run", domain_id=sim_domain(g.sim), nodes=run_nodes(g))
    return GraphRunner(graph, duration_s=args.duration).run()


COMMANDS = {
    "sim": ("run one simulator episode and write an mp4 and a PNG strip of it", cmd_sim),
    "run": ("run a registry policy on the robot through the control node (safety layer, live loop statistics): "
            "the simulator, or with --real a robot whose driver is running", cmd_run),
}


def add_parsers(sub) -> None:
    from robot_rl.sim.showcase import run_showcase

    p = sub.add_parser("sim", help=COMMANDS["sim"][0], description=COMMANDS["sim"][0])
    p.add_argument("--task", default=DEFAULT_TASK, help=TASK_HELP)
    p.add_argument("--robot", default=DEFAULT_ROBOT, help=ROBOT_HELP)
    p.add_argument("--seed", type=int, default=param_default(run_showcase, "seed"),
                   help="episode seed: fixes object and start poses (default %(default)s)")
    p.add_argument("--expert", action="store_true", help="drive with the scripted expert (same as --policy expert)")
    p.add_argument("--policy", choices=["expert", "weak", "idle"], default=param_default(run_showcase, "policy"),
                   help="expert, weak (a degraded expert) or idle (does nothing)")
    p.add_argument("--human", action="store_true", help="a simulated human corrects the policy")
    p.add_argument("--out", type=pathlib.Path, default=pathlib.Path("runs/sim"), help="output folder (default runs/sim)")

    p = sub.add_parser("run", help=COMMANDS["run"][0], description=COMMANDS["run"][0])
    p.add_argument("--policy", required=True, help="policies/NAME, NAME, NAME/vNNNN or an .onnx path inside --registry")
    add_fields(p, RunGraph, {"registry": "policy registry", "task": "the simulator's task: " + TASK_HELP,
                             "robot": ROBOT_HELP, "seed": "the simulator's first seed", "rate_hz": "control rate"})
    p.add_argument("--duration", type=float, default=None, metavar="S", help="stop after S seconds")
    p.add_argument("--real", action="store_true", help="a real robot: start only the control node, on the "
                   "robot's topics (its driver and cameras already running: docs/REAL_ROBOT.md); --task and "
                   "--seed are the simulator's")
