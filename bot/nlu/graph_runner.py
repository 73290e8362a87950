"""Rasa's prediction graph run node after node, without dask (issue 16, section 4; docs/floor.md).

Rasa 3.6 runs its model's graph three times per chat turn (the message's NLU, then the policies
after the message and after the action) through `DaskGraphRunner.run`: each run works out the
targets' minimal schema again, builds a dask task graph, formats a debug line with the inputs (the
tracker among them) even when DEBUG is off, and hands the graph to dask's synchronous scheduler.
For a graph of a few nodes, run in one thread, that is a tenth of a turn's CPU. `SequentialGraphRunner`
keeps the same nodes (`DaskGraphRunner.__init__` instantiates them) and runs the same `GraphNode`
calls in a dependency order worked out once per set of targets: same inputs, same outputs, same
errors (a component's exception propagates as from dask; dask's `RuntimeError` becomes the same
`GraphRunError`).

The processor names its runner class in code (`rasa.core.processor` passes `DaskGraphRunner` to
`rasa.engine.loader.load_predict_graph_runner`); no setting chooses it, so bot/nlu/patches.py
swaps the name, version-checked (`_run_graph_in_order`). Training still uses dask.
"""

from __future__ import annotations

from typing import Any

from rasa.engine.exceptions import GraphRunError
from rasa.engine.runner.dask import DaskGraphRunner


class SequentialGraphRunner(DaskGraphRunner):
    """`DaskGraphRunner`'s nodes and contract, run in order in the calling thread."""

    def _plan(self, targets: tuple[str, ...]) -> list[tuple[str, tuple[str, ...]]]:
        """The nodes the targets need, each after what it needs, with the names of its inputs."""
        plans: dict = self.__dict__.setdefault("_plans", {})
        plan = plans.get(targets)
        if plan is not None:
            return plan
        nodes = self._graph_schema.minimal_graph_schema(list(targets)).nodes
        plan, done = [], set()

        def visit(name: str, path: tuple[str, ...]) -> None:
            if name in done or name not in nodes:
                return  # an input placeholder, or already placed
            if name in path:
                raise GraphRunError(f"The graph has a cycle through '{name}'.")
            for needed in nodes[name].needs.values():
                visit(needed, (*path, name))
            done.add(name)
            plan.append((name, tuple(nodes[name].needs.values())))

        for target in targets:
            visit(target, ())
        plans[targets] = plan
        return plan

    def run(self, inputs: dict[str, Any] | None = None, targets: list[str] | None = None) -> dict[str, Any]:
        """Runs the graph (see `GraphRunner.run`): each node gets its parents' `(name, output)`
        pairs (or, as with dask, the bare name of one nothing provides)."""
        run_targets = tuple(targets if targets else self._graph_schema.target_names)
        plan = self._plan(run_targets)
        results: dict[str, Any] = {}
        names = {name for name, _ in plan}
        for name, value in (inputs or {}).items():
            if isinstance(value, str) and value in names:
                raise GraphRunError(
                    f"Input value '{value}' clashes with a node name. Make sure that none of the input names "
                    "passed to the `run` method are the same as node names in the graph schema."
                )
            results[name] = (name, value)
        try:
            for name, needs in plan:
                results[name] = self._instantiated_nodes[name](*[results.get(n, n) for n in needs])
        except RuntimeError as exc:
            raise GraphRunError("Error running runner.") from exc
        return dict(results[t] for t in run_targets)
