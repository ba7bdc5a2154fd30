"""`robot-rl` commands: graphs of nodes (`up`, `launch-file`, `env`), the installation check and the robot descriptions."""
from __future__ import annotations

import argparse
import pathlib
import sys

from robot_rl import config
from robot_rl.cli.common import UsageError, add_overrides
from robot_rl.robot import builtin_names, load as load_robot


def cmd_up(args: argparse.Namespace) -> int:
    from robot_rl.graph import GraphConfig, GraphRunner

    # --domain-id is an override like any other, so the config system validates it.
    domain = [f"domain_id={args.domain_id}"] if args.domain_id is not None else []
    graph = config.load(GraphConfig, args.config, args.overrides + domain)
    if args.duration is not None and args.duration <= 0:
        raise UsageError(f"--duration must be > 0, got {args.duration:g}")
    try:
        runner = GraphRunner(graph, duration_s=args.duration, host=args.host)
    except ValueError as exc:  # from the environment, e.g. a non-integer ROS_DOMAIN_ID
        raise UsageError(str(exc)) from None
    return runner.run()


def cmd_launch_file(args: argparse.Namespace) -> int:
    from robot_rl.graph import GraphConfig
    from robot_rl.launch_files import generate

    graph = config.load(GraphConfig, args.config, args.overrides)
    try:
        text = generate(graph, str(args.config), host=args.host)
    except ValueError as exc:   # a host the graph does not name
        raise UsageError(str(exc)) from None
    if args.output:
        pathlib.Path(args.output).write_text(text)
    else:
        sys.stdout.write(text)
    return 0


def cmd_env(args: argparse.Namespace) -> int:
    from robot_rl import ros_env
    from robot_rl.graph import GraphConfig

    if bool(args.graph) != bool(args.host):
        raise UsageError("--graph and --host go together: a host of a graph that spans machines")
    try:
        if args.host:
            domain = [f"domain_id={args.domain_id}"] if args.domain_id is not None else []
            graph = config.load(GraphConfig, args.graph, domain)
            graph.on_host(args.host)
            env = graph.environment(args.host)
        else:
            env = ros_env.ros_environment(domain_id=args.domain_id, dds=args.dds)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    print(ros_env.shell_exports(env))
    return 0


def cmd_doctor(args: argparse.Namespace) -> int:
    from robot_rl.doctor import run_checks

    return run_checks()


def cmd_robots(args: argparse.Namespace) -> int:
    from robot_rl.robot.features import action_names, proprio_names

    if not args.robot:
        for name in builtin_names():
            d = load_robot(name)
            print(f"{name:8s} {d.n} joints, {d.command.mode} commands at {d.command.rate_hz:g} Hz, gripper "
                  f"{len(d.gripper.actuators)} actuator(s), wrist camera {d.wrist_camera.name or 'none'}")
        print("any other robot: a description YAML (docs/ROBOTS.md), passed as --robot PATH")
        return 0
    try:
        from robot_rl.robot.kinematics import Kinematics
        d = load_robot(args.robot)
        kin = Kinematics(d)   # builds its model: the check that the description fits it
    except (ValueError, FileNotFoundError) as exc:
        raise UsageError(str(exc)) from None
    print(f"robot {d.name} ({d.source}), description sha256 {d.digest()[:16]}")
    print(f"  joints: {', '.join(f'{j} [{lo:.2f}, {hi:.2f}]' for j, lo, hi in zip(d.joints, *kin.joint_limits()))}")
    home = (f"at home: {' '.join(f'{v:.3f}' for v in kin.ik.forward(kin.home_q)[0])} m" if kin.robot is not None
            else f"in the model of its simulator's process ({d.model.mjcf})")
    print(f"  tool {d.tool.site} {home}; workspace {d.workspace.low} .. {d.workspace.high}")
    print(f"  proprio ({len(proprio_names(d))}): {', '.join(proprio_names(d))}")
    for mode in ("ee", "joint"):
        print(f"  action, {mode} mode{' (default)' if mode == d.command.mode else ''}: {', '.join(action_names(d, mode))}")
    return 0


COMMANDS = {
    "up": ("start a graph of nodes from a YAML config (Ctrl-C stops it)", cmd_up),
    "launch-file": ("print the ROS 2 launch file equivalent of a graph config", cmd_launch_file),
    "env": ("print shell exports for running ROS 2 tools in robot_rl's environment", cmd_env),
    "doctor": ("check this installation: libraries, ROS 2 transport, simulator rendering", cmd_doctor),
    "robots": ("list the builtin robots, or show one robot description's joints, limits and features", cmd_robots),
}


def add_parsers(sub) -> None:
    p = sub.add_parser("up", help=COMMANDS["up"][0], description=COMMANDS["up"][0])
    p.add_argument("config", type=pathlib.Path, help="graph YAML (e.g. launch/demo.yaml)")
    p.add_argument("--duration", type=float, default=None, metavar="S", help="stop the graph after S seconds")
    p.add_argument("--domain-id", type=int, default=None, help="ROS_DOMAIN_ID for this graph (0..101)")
    p.add_argument("--host", default="", help="start only this host's nodes of a graph that spans machines "
                   "(its `hosts:`), DDS on this host's address and the others' only (docs/TWO_HOSTS.md)")
    add_overrides(p)

    p = sub.add_parser("launch-file", help=COMMANDS["launch-file"][0], description=COMMANDS["launch-file"][0])
    p.add_argument("config", type=pathlib.Path, help="graph YAML")
    p.add_argument("-o", "--output", type=pathlib.Path, help="write here instead of stdout")
    p.add_argument("--host", default="", help="the launch file of this host's part of a graph that spans machines")
    add_overrides(p)

    p = sub.add_parser("env", help=COMMANDS["env"][0], description=COMMANDS["env"][0] +
                       '. Usage: eval "$(robot-rl env)"')
    p.add_argument("--domain-id", type=int, default=None, help="ROS_DOMAIN_ID (default: from the environment, else 0)")
    p.add_argument("--dds", choices=["loopback", "system"], default="loopback",
                   help="loopback (default): DDS stays on this machine; system: ROS defaults")
    p.add_argument("--graph", type=pathlib.Path, help="with --host: a graph that spans machines (its `hosts:`)")
    p.add_argument("--host", default="", help="with --graph: this machine's host in it; DDS as `robot-rl up "
                   "GRAPH --host HOST` sets it up (docs/TWO_HOSTS.md)")

    sub.add_parser("doctor", help=COMMANDS["doctor"][0], description=COMMANDS["doctor"][0])

    p = sub.add_parser("robots", help=COMMANDS["robots"][0], description=COMMANDS["robots"][0])
    p.add_argument("robot", nargs="?", default="", help="a builtin robot's name or a description YAML's path")

