"""Every YAML file of the repository has each key once per mapping: YAML lets the later of two equal keys
win without a word, so a text written twice (a key of bot/tree.yml reused in another block, a préfecture
key written again lower down) silently replaces the first one."""

import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent


class UniqueKeyLoader(yaml.SafeLoader):
    """yaml.SafeLoader that refuses a key given twice in one mapping, naming its line."""


def _mapping(loader: UniqueKeyLoader, node: yaml.MappingNode, deep: bool = False) -> dict:
    seen: dict = {}
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if key in seen:
            raise yaml.constructor.ConstructorError(
                None, None, f"key {key!r} given twice (first on line {seen[key] + 1})", key_node.start_mark
            )
        seen[key] = key_node.start_mark.line
    return loader.construct_mapping(node, deep=deep)


UniqueKeyLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _mapping)


def tracked_yaml() -> list[Path]:
    out = subprocess.run(["git", "ls-files", "*.yml", "*.yaml"], cwd=ROOT, capture_output=True, text=True, check=True)
    return [ROOT / line for line in out.stdout.split() if line]


def test_the_loader_refuses_a_key_given_twice():
    with pytest.raises(yaml.constructor.ConstructorError, match="key 'title' given twice \\(first on line 2\\)"):
        yaml.load("requests:\n  title: Un\n  body: Deux\n  title: Trois\n", Loader=UniqueKeyLoader)
    assert yaml.load("a:\n  title: Un\nb:\n  title: Deux\n", Loader=UniqueKeyLoader) == {
        "a": {"title": "Un"},
        "b": {"title": "Deux"},
    }


def test_no_yaml_file_of_the_repository_gives_a_key_twice():
    files = tracked_yaml()
    assert ROOT / "bot" / "tree.yml" in files and ROOT / "prefectures" / "cantal.yml" in files
    problems = []
    for path in files:
        try:
            yaml.load(path.read_text(encoding="utf-8"), Loader=UniqueKeyLoader)
        except yaml.YAMLError as exc:
            problems.append(f"{path.relative_to(ROOT)}: {exc}")
    assert problems == []
