"""The session report: report.md (images beside it) and report.html (the same page with the images
embedded, one file to mail around). Everything in it is read back from what the session left on
disk: the store, the registry, the learner's run folder and eval.json."""
from __future__ import annotations

import base64
import html
import json
import os
import pathlib
import time
from typing import Any, Optional

import numpy as np

from robot_rl.log import get_logger

log = get_logger(__name__)


def _strip_path(root: pathlib.Path, role: str, recorded: str) -> pathlib.Path:
    """Where a strip of eval.json is now. Recorded relative to the session folder; sessions before
    2026-11-29 recorded absolute paths, which in a copied or moved folder point at the original's:
    the folder's own copy is preferred."""
    path = pathlib.Path(recorded)
    if not path.is_absolute():
        return root / path
    own = root / "strips" / role / path.name
    return own if own.exists() else path


def hil_episode_table(cfg) -> list[dict[str, Any]]:
    """Per HIL episode: success, steps, intervention rate, the policy version number it ended with."""
    from robot_rl.session import HIL_NOTES, episodes_with
    from robot_rl.store import EpisodeStore
    if not cfg.store.exists():
        return []
    store = EpisodeStore.open(cfg.store)
    rows = []
    for ep in episodes_with(cfg.store, HIL_NOTES):
        s = store.read_steps(ep, ["intervention", "policy_version"])
        n = max(ep.num_steps, 1)
        rows.append({"episode": ep.index, "success": bool(ep.success), "steps": ep.num_steps,
                     "intervention_rate": float(np.sum(s["intervention"]) / n),
                     "policy_version": int(s["policy_version"][-1]) if ep.num_steps else 0})
    return rows


ROLES = ("base", "final", "last")
ROLE_LABEL = {"base": "base", "final": "final", "last": "last export"}


def plot_session(hil: list[dict], evals: dict, out: pathlib.Path) -> pathlib.Path:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from robot_rl.learn.plots import rolling
    fig, axes = plt.subplots(1, 3, figsize=(15, 4))
    ax = axes[0]
    if hil:
        x = np.arange(1, len(hil) + 1)
        ax.plot(x, rolling([r["success"] for r in hil], 10), label="success (last 10, with corrections)")
        ax.plot(x, rolling([r["intervention_rate"] for r in hil], 10), label="intervention rate (last 10)")
        ax.scatter(x, [r["intervention_rate"] for r in hil], s=8, c="tab:orange", alpha=0.4)
        ax.legend(loc="best", fontsize=8)
    ax.set_ylim(-0.05, 1.05)
    ax.set_xlabel("HIL episode")
    ax.set_title("the session: corrected episodes")
    ax = axes[1]
    if hil:
        ax.step(np.arange(1, len(hil) + 1), [r["policy_version"] for r in hil], where="post")
    ax.set_xlabel("HIL episode")
    ax.set_ylabel("version number at episode end")
    ax.set_title("policy running in the control node")
    ax = axes[2]
    roles = [r for r in ROLES if r in evals]
    rates = [evals[r]["success_rate"] for r in roles]
    colors = {"base": "tab:gray", "final": "tab:green", "last": "tab:olive"}
    bars = ax.bar([f"{ROLE_LABEL[r]}\n{evals[r]['version']}" for r in roles], rates, color=[colors[r] for r in roles])
    for b, r in zip(bars, roles):
        ax.text(b.get_x() + b.get_width() / 2, b.get_height() + 0.02,
                f"{sum(evals[r]['success'])}/{len(evals[r]['success'])}", ha="center")
    ax.set_ylim(0, 1.1)
    ax.set_title("held-out seeds, no corrections")
    ax.set_ylabel("success rate")
    fig.tight_layout()
    fig.savefig(out, dpi=80)
    plt.close(fig)
    return out


def _versions(cfg) -> list[dict[str, Any]]:
    from robot_rl.policy.registry import PolicyRegistry
    reg = PolicyRegistry(cfg.registry)
    rows = []
    for name in (cfg.base_name, cfg.name):
        for v in reg.versions(name):
            doc = json.loads((reg.root / name / f"{v}.json").read_text())
            rows.append({"version": f"{name}/{v}", "path": str(reg.root / name / f"{v}.onnx"),
                         "created": time.strftime("%H:%M:%S", time.localtime(doc.get("created_ns", 0) / 1e9)),
                         "parent": doc.get("parent") or "-", "metrics": doc.get("metrics", {})})
    return rows


def _learner_stopped(stopped: Optional[list[dict]], restarted: Optional[list[dict]] = None) -> str:
    """The report's lines on learners that failed during runs of the HIL stage (the session's state:
    one entry per run whose learner was restarted, or stopped for good, with that run's HIL
    episodes)."""
    lines = []
    for r in restarted or []:
        first, last = r["episodes"]
        lines.append(f"\n**The learner {r['how'][0]} during HIL episodes {first}-{last}** and was started again "
                     f"from its checkpoint ({len(r['how'])} time(s): {'; '.join(r['how'])}); meanwhile the control "
                     "node ran the last policy it had.\n")
    for s in stopped or []:
        when = "HIL episodes {}-{}".format(*s["episodes"]) if "episodes" in s else "the session"   # (before 6f92175)
        lines.append(f"\n**The learner {s['how']} during {when}**: from then on the control "
                     "node ran the last policy it had" + (", and the learner caught up on every episode after them"
                                                          if s["caught_up"] else "")
                     + " (its own lines are in the session's log).\n")
    return "".join(lines)


def write_report(cfg, state: dict[str, Any]) -> list[pathlib.Path]:
    root = cfg.root
    hil = hil_episode_table(cfg)
    evals = json.loads((root / "eval.json").read_text()) if (root / "eval.json").exists() else {}
    selection = json.loads((root / "select.json").read_text()) if (root / "select.json").exists() else {}
    session_png = plot_session(hil, evals, root / "session.png")
    learning_png = cfg.learner_dir / "learning.png"
    versions = _versions(cfg)

    blocks: list[tuple[str, Any]] = []   # ("md", text) | ("img", path)
    md = blocks.append
    md(("md", f"# Session report: {cfg.task} ({'simulator' if cfg.sim else 'robot'})\n\n"
              f"Written {time.strftime('%Y-%m-%d %H:%M:%S')}. Folder `{root}`: store `{cfg.store}`, registry "
              f"`{cfg.registry}`, learner run `{cfg.learner_dir}`.\n"))
    if evals:
        lines = ["## Result: held-out seeds, no corrections\n", "| policy | success | episodes |", "|---|---|---|"]
        for role in ROLES:
            if role in evals:
                e = evals[role]
                lines.append(f"| {ROLE_LABEL[role]} `{e['version']}` | **{e['success_rate']:.0%}** | {sum(e['success'])}/"
                             f"{len(e['success'])} (seeds {e['seeds'][0]}..{e['seeds'][-1]}) |")
        if "base" in evals and "final" in evals:
            if evals["final"]["version"] == evals["base"]["version"]:
                lines.append("\nNo export of the learner beat the base on the validation seeds: the final policy "
                             "is the base.")
            else:
                d = evals["final"]["success_rate"] - evals["base"]["success_rate"]
                verdict = "beats" if d > 0 else ("matches" if d == 0 else "is worse than")
                lines.append(f"\nThe final policy {verdict} the base policy ({d:+.0%}).")
        if "last" in evals and "final" in evals:
            d = evals["final"]["success_rate"] - evals["last"]["success_rate"]
            lines.append(f"The selection chose `{evals['final']['version']}` over the last export "
                         f"`{evals['last']['version']}`: {d:+.0%} on these seeds, which it never saw.")
        from robot_rl.sim.outcomes import failure_summary   # imports the simulator (MuJoCo): here, not with the module
        failures = {r: failure_summary(evals[r]["outcomes"]) for r in ROLES if evals.get(r, {}).get("outcomes")}
        if any(failures.values()):
            lines.append("\nHow the failed episodes ended, in the task's categories (how far each got; the "
                         "gripper's closest approach to the object where it never reached it):")
            lines += [f"- {ROLE_LABEL[r]}: {f}" for r, f in failures.items() if f]
        clamps = {r: evals[r]["clamps"] for r in ROLES if r in evals and "clamps" in evals[r]}
        if clamps:
            lines.append("\nEvaluated through the control node's safety layer; its clamps: " + "; ".join(
                f"{r} {', '.join(f'{k} {v}' for k, v in sorted(c.items())) or 'none'}" for r, c in clamps.items()) + ".")
        md(("md", "\n".join(lines) + "\n"))
    if selection.get("candidates"):
        seeds = selection["seeds"]
        lines = [f"## Selection: the final policy\n\n{selection['why']} (seeds {seeds[0]}..{seeds[-1]}, no "
                 "corrections); the best became the final policy, the newest export on a tie (the base only when "
                 "strictly better).\n",
                 "| policy | validation success |", "|---|---|"]
        for r in selection["candidates"]:
            mark = (" (base)" if r["ref"] == selection.get("base") else "") + (
                " (chosen)" if r["ref"] == selection.get("chosen") else "")
            lines.append(f"| `{r['ref']}`{mark} | {r['success_rate']:.0%} ({sum(r['success'])}/{len(r['success'])}) |")
        md(("md", "\n".join(lines) + "\n"))
    elif selection.get("why"):
        md(("md", f"## Selection: the final policy\n\n{selection['why']}: the final policy is the last export "
                  f"`{selection['chosen']}`.\n"))
    if hil:
        first, last = hil[:10], hil[-10:]
        md(("md", "## The session\n\n"
                  f"{len(hil)} HIL episodes, {sum(r['steps'] for r in hil)} steps; with corrections "
                  f"{np.mean([r['success'] for r in hil]):.0%} succeeded. Intervention rate (share of steps the "
                  f"human drove): first 10 episodes {np.mean([r['intervention_rate'] for r in first]):.0%}, last 10 "
                  f"{np.mean([r['intervention_rate'] for r in last]):.0%}. "
                  f"{len({r['policy_version'] for r in hil})} policy versions ran in the control node.\n"
                  + _learner_stopped(state.get("hil_learner_stopped"), state.get("hil_learner_restarted"))))
    md(("img", session_png))
    if learning_png.exists():
        md(("md", "## Learning curves (the learner's run)\n"))
        md(("img", learning_png))
    for role in ("base", "final"):
        strips = evals.get(role, {}).get("strips", [])
        if strips:
            md(("md", f"## Episodes of the {role} policy (`{evals[role]['version']}`), held-out seeds\n"))
            for s in strips:
                md(("md", f"`{pathlib.Path(s).name}`\n"))
                md(("img", _strip_path(root, role, s)))
    if versions:
        lines = ["## Policy versions\n", "| version | created | parent | metrics | file |", "|---|---|---|---|---|"]
        for v in versions:
            m = {k: v["metrics"][k] for k in ("updates", "transitions", "success_rate", "intervention_rate", "bc_loss")
                 if k in v["metrics"]}
            lines.append(f"| `{v['version']}` | {v['created']} | {v['parent']} | {json.dumps(m)} | `{v['path']}` |")
        md(("md", "\n".join(lines) + "\n"))
    if state.get("stage_s"):
        md(("md", "## Stage times\n\n" + ", ".join(f"{k} {v / 60:.1f} min" for k, v in state["stage_s"].items()) + "\n"))

    md_text, html_parts = [], []
    for kind, value in blocks:
        if kind == "md":
            md_text.append(value)
            html_parts.append(_md_to_html(value))
        elif not pathlib.Path(value).exists():   # deleted since the stage that made it: say so, go on
            log.warning("report: %s is missing; rerun its stage with --stage to remake it", value)
            md_text.append(f"(missing: `{value}`)\n")
            html_parts.append(_md_to_html(f"(missing: `{value}`)"))
        else:
            rel = os.path.relpath(value, root)   # the page sits in root: links relative to it
            md_text.append(f"![{pathlib.Path(value).name}]({rel})\n")
            data = base64.b64encode(pathlib.Path(value).read_bytes()).decode()
            html_parts.append(f'<p><img style="max-width:100%" src="data:image/png;base64,{data}"></p>')
    md_path, html_path = root / "report.md", root / "report.html"
    md_path.write_text("\n".join(md_text))
    html_path.write_text("<!doctype html><meta charset='utf-8'><title>robot_rl session report</title>"
                         "<style>body{font-family:sans-serif;max-width:1100px;margin:auto}table{border-collapse:collapse}"
                         "td,th{border:1px solid #ccc;padding:3px 8px}</style>\n" + "\n".join(html_parts))
    return [md_path, html_path]


def _md_to_html(text: str) -> str:
    """The few Markdown forms this report writes: headings, tables, paragraphs, `code`, **bold**."""
    import re

    def inline(s: str) -> str:
        s = html.escape(s)
        s = re.sub(r"`([^`]*)`", r"<code>\1</code>", s)
        return re.sub(r"\*\*([^*]*)\*\*", r"<b>\1</b>", s)
    out, table = [], []
    for line in text.splitlines() + [""]:
        if line.startswith("|"):
            cells = [c.strip() for c in line.strip("|").split("|")]
            if not all(set(c) <= {"-"} for c in cells):
                table.append(cells)
            continue
        if table:
            head, *body = table
            out.append("<table><tr>" + "".join(f"<th>{inline(c)}</th>" for c in head) + "</tr>" +
                       "".join("<tr>" + "".join(f"<td>{inline(c)}</td>" for c in r) + "</tr>" for r in body) + "</table>")
            table = []
        if line.startswith("#"):
            level = len(line) - len(line.lstrip("#"))
            out.append(f"<h{level}>{inline(line[level:].strip())}</h{level}>")
        elif line.strip():
            out.append(f"<p>{inline(line)}</p>")
    return "\n".join(out)
