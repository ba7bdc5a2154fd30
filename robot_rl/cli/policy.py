"""`robot-rl` commands: the ONNX policy registry."""
from __future__ import annotations

import argparse
import pathlib

from robot_rl.cli.common import DEFAULT_REGISTRY, REGISTRY_HELP, ROBOT_HELP, UsageError
from robot_rl.robot import DEFAULT_ROBOT


def cmd_policy(args: argparse.Namespace) -> int:
    from robot_rl.policy.spec import PolicyError

    try:
        return {"export": _policy_export, "check": _policy_check, "list": _policy_list}[args.policy_command](args)
    except PolicyError as exc:
        raise UsageError(str(exc)) from None


def _policy_export(args: argparse.Namespace) -> int:
    import torch

    from robot_rl.policy.checkpoint import load_checkpoint, save_checkpoint, sim_policy_config
    from robot_rl.policy.export import export
    from robot_rl.policy.registry import PolicyRegistry

    if args.checkpoint:
        model, cfg = load_checkpoint(args.checkpoint)
    elif args.random_init:
        torch.manual_seed(args.seed)
        cfg = sim_policy_config(args.random_init, args.robot)
        model = cfg.build().eval()
        if args.save_checkpoint:
            save_checkpoint(model, cfg, args.save_checkpoint)
    else:
        raise UsageError("give a --checkpoint to export, or --random-init mlp|cnn for an untrained policy of the sim's spec")
    meta = cfg.metadata(args.name)
    data, err = export(model, meta)
    path = PolicyRegistry(args.registry).publish(data, meta, parent=args.parent)
    print(f"exported {path} (parity {err:.2g} <= 1e-5, sha256 {meta.sha256[:12]}...)")
    return 0


def _policy_check(args: argparse.Namespace) -> int:
    from robot_rl.policy.checkpoint import load_checkpoint
    from robot_rl.policy.export import PARITY_TOL, parity
    from robot_rl.policy.registry import PolicyRegistry, load
    from robot_rl.policy.runtime import PolicyRuntime

    path = PolicyRegistry(args.registry).resolve(args.policy)
    data, meta = load(path)
    if meta.kind == "reward":   # a success classifier: run it on blank frames
        import numpy as np

        from robot_rl.control.success import SuccessDetector

        det = SuccessDetector(path)
        p, _ = det({c: np.zeros(det.shapes[c], np.uint8) for c in det.cameras})
        print(f"{path}: reward classifier; loads and runs; sha256 OK; cameras {det.cameras}, threshold "
              f"{det.threshold:g}, P(success) on blank frames {p:.2f}")
        return 0
    PolicyRuntime(data, meta)  # loads, matches its metadata, runs
    line = f"{path}: loads and runs; sha256 OK; obs {[o.name for o in meta.obs]}, {meta.action.dim} actions"
    if meta.action_chunk > 1:
        line += f" in chunks of {meta.action_chunk} (temporal ensemble, decay {meta.chunk_decay:g})"
    if args.checkpoint:
        model, _ = load_checkpoint(args.checkpoint)
        err = parity(model, data, meta.obs)
        if not err <= PARITY_TOL:
            print(f"{line}; PARITY FAILED against {args.checkpoint}: max difference {err:.3g} > {PARITY_TOL:g}")
            return 1
        line += f"; parity with {args.checkpoint} {err:.2g}"
    print(line)
    return 0


def _policy_list(args: argparse.Namespace) -> int:
    import json as _json
    import time as _time

    from robot_rl.policy.registry import PolicyRegistry

    reg = PolicyRegistry(args.registry)
    names = reg.names()
    if not names:
        print(f"no policies in {args.registry}")
        return 0
    print(f"{'policy':<28} {'created':<20} {'sha256':<14} {'parent':<22} metrics")
    for name in names:
        for v in reg.versions(name):
            doc = _json.loads((reg.root / name / f"{v}.json").read_text())
            created = _time.strftime("%Y-%m-%d %H:%M:%S", _time.localtime(doc.get("created_ns", 0) / 1e9))
            print(f"{name + '/' + v:<28} {created:<20} {doc.get('sha256', '')[:12]:<14} {doc.get('parent', '') or '-':<22} "
                  f"{_json.dumps(doc.get('metrics', {}))}")
    return 0


COMMANDS = {
    "policy": ("export torch policies to the ONNX registry, check and list them", cmd_policy),
}


def add_parsers(sub) -> None:
    p = sub.add_parser("policy", help=COMMANDS["policy"][0], description=COMMANDS["policy"][0])
    psub = p.add_subparsers(dest="policy_command", metavar="SUBCOMMAND", title="subcommands", required=True)
    c = psub.add_parser("export", help="checkpoint -> policies/<name>/<version>.onnx (+ .json), with a parity check")
    c.add_argument("--checkpoint", type=pathlib.Path, help="a .safetensors policy checkpoint")
    c.add_argument("--random-init", choices=["mlp", "cnn"], help="an untrained policy with the simulator's spec")
    c.add_argument("--robot", default=DEFAULT_ROBOT, help="with --random-init: the robot it is for; " + ROBOT_HELP)
    c.add_argument("--save-checkpoint", type=pathlib.Path, help="with --random-init: also write its checkpoint")
    c.add_argument("--seed", type=int, default=0)
    c.add_argument("--name", required=True, help="policy name in the registry")
    c.add_argument("--parent", default="", help="the policy this one was trained from (name/version)")
    c.add_argument("--registry", type=pathlib.Path, default=pathlib.Path(DEFAULT_REGISTRY), help=REGISTRY_HELP)
    c = psub.add_parser("check", help="load, verify sha256 and run a registry policy; parity against a checkpoint")
    c.add_argument("policy", help="name, name/vNNNN or a path to an .onnx inside --registry")
    c.add_argument("--checkpoint", type=pathlib.Path, help="compare outputs with this checkpoint (parity <= 1e-5)")
    c.add_argument("--registry", type=pathlib.Path, default=pathlib.Path(DEFAULT_REGISTRY), help=REGISTRY_HELP)
    c = psub.add_parser("list", help="every policy version with its creation time, sha256, parent and metrics")
    c.add_argument("--registry", type=pathlib.Path, default=pathlib.Path(DEFAULT_REGISTRY), help=REGISTRY_HELP)

