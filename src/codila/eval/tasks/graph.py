"""Graph traversal (path-star and random-graph shortest paths, codila.data.planning.graph): exact verification."""

from codila.eval.tasks.planning import PlanningTask

TASK = PlanningTask("graph", "graph traversal: a shortest path from start to goal, verified exactly")
