"""launch/*.launch.py are the generated twins of launch/*.yaml graphs and must not drift."""
from __future__ import annotations

import ast
import pathlib

import pytest

from robot_rl import config
from robot_rl.graph import GraphConfig
from robot_rl.launch_files import generate

REPO = pathlib.Path(__file__).resolve().parent.parent
GRAPHS = sorted((REPO / "launch").glob("*.yaml"))


def test_there_are_graphs():
    assert GRAPHS, "launch/ has no graph configs"


@pytest.mark.parametrize("yaml_path", GRAPHS, ids=lambda p: p.name)
def test_launch_twin_matches_yaml(yaml_path):
    graph = config.load(GraphConfig, yaml_path)
    twin = yaml_path.with_suffix(".launch.py")
    assert twin.exists(), f"{twin.name} missing: run robot-rl launch-file launch/{yaml_path.name} -o launch/{twin.name}"
    expected = generate(graph, f"launch/{yaml_path.name}")
    assert twin.read_text() == expected, f"{twin.name} is stale: regenerate it with robot-rl launch-file"
    ast.parse(expected)


def test_generated_launch_file_carries_every_node_and_parameter():
    graph = config.from_dict(GraphConfig, {
        "name": "g", "domain_id": 7,
        "nodes": [{"name": "cam", "module": "synthetic_source", "parameters": {"rate_hz": 30.0, "topic": "/c"},
                   "remappings": {"/c": "/cam/image"}},
                  {"name": "mon", "module": "mypkg.my_node", "required": False, "restart": "on-failure"}]})
    text = generate(graph, "launch/g.yaml")
    tree = ast.parse(text)
    strings = {n.value for n in ast.walk(tree) if isinstance(n, ast.Constant) and isinstance(n.value, str)}
    assert {"ros_nodes.synthetic_source", "mypkg.my_node", "__node:=cam", "rate_hz:=30.0", "topic:=/c",
            "/c:=/cam/image", "7"} <= strings
    assert "respawn=True" in text and "target_action=cam" in text and "target_action=mon" not in text


def test_a_host_of_a_graph_that_spans_machines_gets_its_nodes_and_its_dds():
    graph = config.from_dict(GraphConfig, {
        "name": "lab", "hosts": {"robot": {"address": "10.9.0.1"}, "learner": {"address": "10.9.0.2"}},
        "nodes": [{"name": "cam", "module": "synthetic_source", "host": "robot"},
                  {"name": "learn", "module": "learner_node", "host": "learner"}]})
    text = generate(graph, "launch/lab.yaml", host="learner")
    tree = ast.parse(text)
    strings = {n.value for n in ast.walk(tree) if isinstance(n, ast.Constant) and isinstance(n.value, str)}
    assert "ros_nodes.learner_node" in strings and "ros_nodes.synthetic_source" not in strings
    assert "hosts_profile('10.9.0.2', ['10.9.0.1'])" in text and "profile_path()" not in text
    assert "launch/lab.learner.launch.py" in text
    with pytest.raises(ValueError, match="not one of the graph's hosts"):
        generate(graph, "launch/lab.yaml", host="nope")


@pytest.mark.parametrize("yaml_path", GRAPHS, ids=lambda p: p.name)
def test_every_node_accepts_its_parameters(yaml_path):
    """A graph for a real robot cannot be tried here: at least each node's config dataclass must
    take every parameter the graph gives it (a typo would otherwise surface on the robot)."""
    import dataclasses
    import importlib

    from ros_nodes.runtime import NodeConfig
    graph = config.load(GraphConfig, yaml_path)
    for node in graph.nodes:
        mod = importlib.import_module(node.python_module)
        classes = [v for v in vars(mod).values() if isinstance(v, type) and dataclasses.is_dataclass(v)
                   and issubclass(v, NodeConfig) and v.__module__ == mod.__name__]
        assert len(classes) == 1, f"{node.python_module}: expected one node config dataclass"
        config.from_dict(classes[0], node.parameters, path=f"{yaml_path.name}: {node.name}")


def test_preflight_configs_load():
    from robot_rl.preflight import PreflightConfig
    paths = sorted((REPO / "launch" / "preflight").glob("*.yaml"))
    assert paths
    for p in paths:
        assert config.load(PreflightConfig, p).topics
