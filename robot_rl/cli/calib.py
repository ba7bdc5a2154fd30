"""`robot-rl` commands: camera intrinsics, hand-eye and latency calibration."""
from __future__ import annotations

import argparse
import pathlib

from robot_rl.cli.common import UsageError, param_default


def cmd_calib(args: argparse.Namespace) -> int:
    import json as _json

    from robot_rl.calibration import workflow as wf
    from robot_rl.calibration.board import BoardSpec, CalibrationError
    from robot_rl.log import get_logger

    log = get_logger("robot_rl.calib")
    board = BoardSpec()
    try:
        if args.calib_command == "latency":
            if not args.sim:
                raise UsageError("latency needs --sim: live capture from a robot is not built yet (docs/CALIBRATION.md)")
            from robot_rl.calibration.simscene import record_motion
            log.info("recording %.0f s of arm motion, camera delay %.0f ms injected", args.seconds, args.inject_delay_ms)
            try:
                rec = record_motion(args.seconds, args.inject_delay_ms / 1e3, seed=args.seed, camera=args.stream)
            except KeyError:
                raise UsageError(f"--stream {args.stream}: the simulator has no such camera") from None
            res = wf.run_latency(args.out, args.stream, rec)
        else:
            res = _calib_views(args, board, log)
    except CalibrationError as exc:
        raise UsageError(str(exc)) from None
    print(_json.dumps(res, indent=1, default=float))
    return 0


def _calib_views(args: argparse.Namespace, board, log) -> dict:
    from robot_rl.calibration import workflow as wf

    if args.sim:
        images, poses, camera, K_true, truth = wf.capture_sim_views(args.setup, args.views, args.seed, board,
                                                                    progress=log.info)
    else:
        if args.calib_command == "handeye":
            raise UsageError("handeye needs --sim: robot poses from a live robot are not built yet (docs/CALIBRATION.md)")
        if args.images:
            images = wf.load_images(args.images)
        elif args.store:
            if not args.stream:
                raise UsageError("--store needs --stream NAME (an rgb stream)")
            images = wf.load_store_images(args.store, args.stream, args.every)
        else:
            raise UsageError("give --sim, --images DIR or --store PATH --stream NAME")
        camera, K_true, truth, poses = args.camera or (args.stream or "camera"), None, None, []
    if args.calib_command == "intrinsics":
        return wf.run_intrinsics(args.out, camera, images, board, progress=log.info, truth_K=K_true)
    return wf.run_handeye_from_views(args.out, args.setup, camera, images, poses, board, truth=truth,
                                     progress=log.info)


COMMANDS = {
    "calib": ("camera intrinsics, hand-eye and sensor latency calibration (ChArUco board)", cmd_calib),
}


def add_parsers(sub) -> None:
    from robot_rl.calibration.simscene import capture, record_motion
    from robot_rl.calibration.workflow import load_store_images

    seconds, delay_ms = param_default(record_motion, "duration_s"), 1e3 * param_default(record_motion, "camera_delay_s")
    every = param_default(load_store_images, "every")
    p = sub.add_parser("calib", help=COMMANDS["calib"][0], description=COMMANDS["calib"][0])
    csub = p.add_subparsers(dest="calib_command", metavar="SUBCOMMAND", title="subcommands", required=True)
    for name, what in (("intrinsics", "focal length, principal point, distortion -> calibration/<camera>.yaml"),
                       ("handeye", "camera pose on the gripper (eye_in_hand) or in the base (eye_to_hand)"),
                       ("latency", "each camera's delay against the joint encoders, by cross-correlation")):
        c = csub.add_parser(name, help=what, description=what)
        c.add_argument("--sim", action="store_true", help="capture in the simulator (board in the scene)")
        c.add_argument("--out", type=pathlib.Path, default=pathlib.Path("calibration"), help="output folder")
        c.add_argument("--seed", type=int, default=param_default(record_motion if name == "latency" else capture, "seed"),
                       help="seed of the simulated views or motion (default %(default)s)")
        if name == "latency":
            c.add_argument("--inject-delay-ms", type=float, default=delay_ms,
                           help="simulated camera delay (default %(default)g)")
            c.add_argument("--seconds", type=float, default=seconds, help="seconds of motion to record (default %(default)g)")
            c.add_argument("--stream", default=param_default(record_motion, "camera"),
                           help="the simulator camera to record; the result is written under its name (default %(default)s)")
            continue
        c.add_argument("--setup", choices=["eye_in_hand", "eye_to_hand"], default="eye_in_hand",
                       help="eye_in_hand: wrist camera, board on the table; eye_to_hand: front camera, board on the hand")
        c.add_argument("--views", type=int, default=30, help="views to capture in the simulator (default 30)")
        if name == "intrinsics":
            c.add_argument("--images", type=pathlib.Path, help="a folder of .png/.jpg views of the board")
            c.add_argument("--store", type=pathlib.Path, help="an episode store to take views from")
            c.add_argument("--stream", help="the store's rgb stream")
            c.add_argument("--every", type=int, default=every, help="take every Nth frame of the stream (default %(default)s)")
            c.add_argument("--camera", help="camera name for the output file (default: the stream name)")

