"""`robot-rl` commands: episode stores: inspect, verify, repair, export, import."""
from __future__ import annotations

import argparse
import pathlib

from robot_rl.cli.common import UsageError, param_default
from robot_rl.log import progress


def cmd_data(args: argparse.Namespace) -> int:
    from robot_rl.store.schema import StoreError

    try:
        return DATA_COMMANDS[args.data_command][1](args)
    except StoreError as exc:
        raise UsageError(str(exc)) from None


def cmd_data_info(args: argparse.Namespace) -> int:
    from robot_rl.store.info import info_text
    from robot_rl.store.reader import EpisodeStore

    print(info_text(EpisodeStore.open(args.store), limit=None if args.all else args.limit))
    return 0


def cmd_data_verify(args: argparse.Namespace) -> int:
    from robot_rl.log import get_logger
    from robot_rl.store.verify import verify

    log = get_logger("robot_rl.cli")
    report = verify(args.store, checksums=not args.no_checksums, progress=log.info if args.verbose else None)
    for note in report.notes:
        print(f"note: {note}")
    if report.ok:
        print(f"OK: {args.store}: {report.episodes} episodes; {report.chunks_checked} chunks "
              f"({report.bytes_checked / 1e6:.1f} MB decoded) with valid checksums")
        return 0
    print(f"FAILED: {args.store}: {len(report.problems)} problem(s):")
    for p in report.problems:
        print(f"  - {p}")
    return 1


def cmd_data_repair(args: argparse.Namespace) -> int:
    from robot_rl.store.repair import repair

    report = repair(args.store)
    for line in report.lines():
        print(line)
    return 0


def cmd_data_export_video(args: argparse.Namespace) -> int:
    from robot_rl.store.media import export_video
    from robot_rl.store.reader import EpisodeStore

    store = EpisodeStore.open(args.store)
    out = args.output or pathlib.Path(f"episode_{args.episode}.mp4")
    res = export_video(store, args.episode, out, cameras=args.camera or None, height=args.height,
                       progress=progress(f"episode {args.episode} video frames"))
    print(f"wrote {res['path']}: {res['frames']} frames at {res['fps']:.1f} fps, "
          f"{res['size'][0]}x{res['size'][1]} ({', '.join(res['cameras'])})")
    return 0


def cmd_data_plot(args: argparse.Namespace) -> int:
    from robot_rl.store.media import plot_episode
    from robot_rl.store.reader import EpisodeStore

    store = EpisodeStore.open(args.store)
    out = args.output or pathlib.Path(f"episode_{args.episode}.png")
    res = plot_episode(store, args.episode, out)
    print(f"wrote {res['path']} ({res['panels']} panels, {res['interventions']} intervention(s), {res['holds']} hold(s))")
    return 0


def cmd_data_import_dp(args: argparse.Namespace) -> int:
    from robot_rl.store.importers import import_replay_buffer

    res = import_replay_buffer(args.source, args.store, fps=args.fps, task=args.task, action_key=args.action_key,
                               image_codec=args.image_codec, jpeg_quality=args.jpeg_quality,
                               progress=progress("imported episodes"))
    print(f"imported {res['episodes']} episodes ({res['samples']} samples) into {args.store}: streams "
          f"{', '.join(res['streams'])}; obs = {' + '.join(res['obs_keys']) or 'nothing'}"
          + ("; timestamps synthetic" if res["synthetic_timestamps"] else ""))
    return 0


def cmd_data_export_lerobot(args: argparse.Namespace) -> int:
    from robot_rl.store import EpisodeStore
    from robot_rl.store.lerobot import export_lerobot

    res = export_lerobot(EpisodeStore.open(args.store), args.out, episodes=args.episodes, fps=args.fps,
                         codec=args.codec, crf=args.crf, progress=progress("exported episodes"))
    print(f"wrote {args.out}: LeRobot v3.0, {res['episodes']} episodes, {res['frames']} frames at {res['fps']} fps, "
          f"cameras {', '.join(res['cameras']) or 'none'}, {res['bytes'] / 1e6:.1f} MB in {res['seconds']:.1f} s")
    return 0


def cmd_data_import_lerobot(args: argparse.Namespace) -> int:
    from robot_rl.store.lerobot import import_lerobot

    res = import_lerobot(args.source, args.store, image_codec=args.image_codec, progress=progress("imported episodes"))
    print(f"imported {res['episodes']} episodes ({res['frames']} frames at {res['fps']} fps, cameras "
          f"{', '.join(res['cameras']) or 'none'}) into {args.store}")
    return 0


def cmd_data_export_mcap(args: argparse.Namespace) -> int:
    from robot_rl.store import EpisodeStore
    from robot_rl.store.mcap_export import export_mcap

    out = args.output or pathlib.Path(f"episode_{args.episode}.mcap")
    res = export_mcap(EpisodeStore.open(args.store), args.episode, out, raw_images=args.raw_images)
    n = sum(res["messages"].values())
    print(f"wrote {out}: {n} messages on {len(res['messages'])} topics, {res['bytes'] / 1e6:.1f} MB in "
          f"{res['seconds']:.1f} s (open it in Foxglove, or `ros2 bag info` / `ros2 bag play` with rosbag2's MCAP storage)")
    return 0


DATA_COMMANDS = {
    "info": ("tables of a store's episodes, streams, rates and sizes", cmd_data_info),
    "verify": ("check schema, timestamps, step references and every chunk's checksum (exit 1 on problems)",
               cmd_data_verify),
    "repair": ("after a crash: keep the interrupted episode as aborted, truncate uncommitted tails "
               "(never deletes committed data)", cmd_data_repair),
    "export-video": ("mp4 of an episode's cameras side by side", cmd_data_export_video),
    "plot": ("PNG of an episode's proprioception, actions, reward, interventions and holds over time", cmd_data_plot),
    "import-dp": ("import a Diffusion Policy / UMI ReplayBuffer zarr (data/*, meta/episode_ends) as demonstrations",
                  cmd_data_import_dp),
    "export-lerobot": ("write episodes as a LeRobot v3.0 dataset (parquet + mp4; docs/DATA_FORMAT.md)",
                       cmd_data_export_lerobot),
    "import-lerobot": ("import a LeRobot v3.0 dataset as a new store (its steps as demonstrations)",
                       cmd_data_import_lerobot),
    "export-mcap": ("one episode as MCAP of standard ROS 2 messages, stamped with capture times (Foxglove, rosbag2)",
                    cmd_data_export_mcap),
}


COMMANDS = {
    "data": ("inspect, verify, repair, export and import episode stores", cmd_data),
}


def add_parsers(sub) -> None:
    from robot_rl.store.importers import import_replay_buffer
    from robot_rl.store.info import info_text
    from robot_rl.store.lerobot import export_lerobot, import_lerobot
    from robot_rl.store.media import export_video
    from robot_rl.store.schema import CODECS

    p = sub.add_parser("data", help=COMMANDS["data"][0], description=COMMANDS["data"][0])
    dsub = p.add_subparsers(dest="data_command", metavar="SUBCOMMAND", title="subcommands", required=True)
    store_arg = dict(type=pathlib.Path, help="the store (a directory, e.g. data/session.zarr)")
    d = dsub.add_parser("info", help=DATA_COMMANDS["info"][0], description=DATA_COMMANDS["info"][0])
    d.add_argument("store", **store_arg)
    d.add_argument("--limit", type=int, default=param_default(info_text, "limit"),
                   help="show the last N episodes (default %(default)s)")
    d.add_argument("--all", action="store_true", help="show every episode")
    d = dsub.add_parser("verify", help=DATA_COMMANDS["verify"][0], description=DATA_COMMANDS["verify"][0])
    d.add_argument("store", **store_arg)
    d.add_argument("--no-checksums", action="store_true", help="skip decoding every chunk (fast structural check)")
    d.add_argument("-v", "--verbose", action="store_true", help="log each array as it is checked")
    d = dsub.add_parser("repair", help=DATA_COMMANDS["repair"][0], description=DATA_COMMANDS["repair"][0])
    d.add_argument("store", **store_arg)
    for name in ("export-video", "plot"):
        d = dsub.add_parser(name, help=DATA_COMMANDS[name][0], description=DATA_COMMANDS[name][0])
        d.add_argument("store", **store_arg)
        d.add_argument("--episode", type=int, required=True, help="episode index (see `data info`)")
        d.add_argument("-o", "--output", type=pathlib.Path,
                       help=f"output file (default episode_N.{'mp4' if name == 'export-video' else 'png'})")
        if name == "export-video":
            d.add_argument("--camera", action="append", help="camera stream to include (repeatable; default all)")
            d.add_argument("--height", type=int, default=param_default(export_video, "height"),
                           help="tile height in pixels (default %(default)s)")
    d = dsub.add_parser("import-dp", help=DATA_COMMANDS["import-dp"][0], description=DATA_COMMANDS["import-dp"][0])
    d.add_argument("source", type=pathlib.Path, help="ReplayBuffer zarr (directory)")
    d.add_argument("store", type=pathlib.Path, help="new store to create")
    dp = {k: param_default(import_replay_buffer, k) for k in ("fps", "task", "action_key", "image_codec", "jpeg_quality")}
    d.add_argument("--fps", type=float, default=dp["fps"],
                   help="sample rate when the source has no data/timestamp (default %(default)g)")
    d.add_argument("--task", default=dp["task"], help="task name for the imported episodes")
    d.add_argument("--action-key", default=dp["action_key"], help="data/<key> holding actions (default %(default)s)")
    d.add_argument("--image-codec", choices=CODECS, default=dp["image_codec"],
                   help="codec for image streams (default %(default)s; all but jpeg are lossless)")
    d.add_argument("--jpeg-quality", type=int, default=dp["jpeg_quality"], help="JPEG quality 1..100 (default %(default)s)")
    d = dsub.add_parser("export-lerobot", help=DATA_COMMANDS["export-lerobot"][0],
                        description=DATA_COMMANDS["export-lerobot"][0])
    d.add_argument("store", **store_arg)
    d.add_argument("out", type=pathlib.Path, help="the dataset directory to create")
    d.add_argument("--episodes", type=int, nargs="+", help="episode indices (default: every committed episode)")
    d.add_argument("--fps", type=int, help="frames per second (default: the store's control rate)")
    d.add_argument("--codec", choices=["h264", "av1"], default=param_default(export_lerobot, "codec"),
                   help="video codec (default %(default)s)")
    d.add_argument("--crf", type=int, default=param_default(export_lerobot, "crf"),
                   help="video quality, lower is better (default %(default)s)")
    d = dsub.add_parser("export-mcap", help=DATA_COMMANDS["export-mcap"][0], description=DATA_COMMANDS["export-mcap"][0])
    d.add_argument("store", **store_arg)
    d.add_argument("--episode", type=int, required=True, help="episode index (see `data info`)")
    d.add_argument("-o", "--output", type=pathlib.Path, help="output file (default episode_N.mcap)")
    d.add_argument("--raw-images", action="store_true",
                   help="cameras as sensor_msgs/Image rgb8 (default: CompressedImage JPEG, ~10x smaller)")
    d = dsub.add_parser("import-lerobot", help=DATA_COMMANDS["import-lerobot"][0],
                        description=DATA_COMMANDS["import-lerobot"][0])
    d.add_argument("source", type=pathlib.Path, help="LeRobot v3.0 dataset (directory)")
    d.add_argument("store", type=pathlib.Path, help="new store to create")
    d.add_argument("--image-codec", choices=CODECS, default=param_default(import_lerobot, "image_codec"),
                   help="codec for the camera streams (default %(default)s; all but jpeg are lossless)")
