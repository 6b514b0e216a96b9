"""Graph traversal: path-star graphs (the planning task of Bachmann & Nagarajan and MGDM) and shortest paths on
random directed graphs. Both read the same way:

    prompt  "12>34,56>78,...|12:99"   the edges u>v (shuffled), then start:goal
    answer  "12,56,77,99"             a path from start to goal, node by node

Nodes are distinct two-digit labels. A path-star graph has one start node with `degree` arms of `arm_length`
nodes each; the goal is the end of one arm, so the only path is that arm (the hard choice is the first step, the
easy direction is backwards from the goal). The answer is right: a path of edges of the prompt from start to goal
that is as short as any (breadth-first search)."""

from __future__ import annotations

import random
from collections import deque
from functools import partial

from codila.data.planning.base import Example, PlanningSpec, round_up

LABELS = 100  # node labels 00..99


def _label(node: int) -> str:
    return f"{node:02d}"


def _prompt(edges: list[tuple[int, int]], start: int, goal: int) -> str:
    return ",".join(f"{_label(u)}>{_label(v)}" for u, v in edges) + f"|{_label(start)}:{_label(goal)}"


def parse_prompt(prompt: str) -> tuple[set[tuple[str, str]], str, str] | None:
    """(edges, start, goal) of a graph prompt, or None when it does not parse."""
    try:
        edge_text, query = prompt.split("|")
        start, goal = query.split(":")
        edges = {tuple(edge.split(">")) for edge in edge_text.split(",")}
    except ValueError:
        return None
    return (edges, start, goal) if all(len(edge) == 2 for edge in edges) else None


def shortest_distance(edges: set[tuple[str, str]], start: str, goal: str) -> int | None:
    """Edges on a shortest path from start to goal (breadth-first search); None when goal is unreachable."""
    distance, queue = {start: 0}, deque([start])
    while queue:
        node = queue.popleft()
        if node == goal:
            return distance[node]
        for u, v in edges:
            if u == node and v not in distance:
                distance[v] = distance[node] + 1
                queue.append(v)
    return None


def verify(prompt: str, answer: str) -> bool:
    """True when `answer` is a shortest path from start to goal over the prompt's edges."""
    parsed = parse_prompt(prompt)
    if parsed is None:
        return False
    edges, start, goal = parsed
    nodes = answer.split(",")
    if nodes[0] != start or nodes[-1] != goal or any(len(node) != 2 for node in nodes):
        return False
    if any((u, v) not in edges for u, v in zip(nodes, nodes[1:])):
        return False
    return len(nodes) - 1 == shortest_distance(edges, start, goal)


def path_star(degree: int, arm_length: int, rng: random.Random) -> Example:
    nodes = rng.sample(range(LABELS), 1 + degree * arm_length)
    start, arms = nodes[0], [nodes[1 + a * arm_length : 1 + (a + 1) * arm_length] for a in range(degree)]
    edges = [(u, v) for arm in arms for u, v in zip([start, *arm], arm)]
    rng.shuffle(edges)
    path = [start, *arms[rng.randrange(degree)]]
    return Example(_prompt(edges, start, path[-1]), ",".join(map(_label, path)))


def random_graph(nodes: int, edges: int, max_hops: int, rng: random.Random) -> Example:
    """A random directed graph with a start and goal 2..max_hops edges apart; the answer a shortest path."""
    while True:
        labels = rng.sample(range(LABELS), nodes)
        pairs = rng.sample([(u, v) for u in labels for v in labels if u != v], edges)
        start = rng.choice(labels)
        parent, queue, hops = {start: None}, deque([start]), {start: 0}
        while queue:
            node = queue.popleft()
            for u, v in rng.sample(pairs, len(pairs)):  # random tie-breaks: any shortest path
                if u == node and v not in parent:
                    parent[v], hops[v] = u, hops[u] + 1
                    queue.append(v)
        goals = [v for v in labels if 2 <= hops.get(v, 0) <= max_hops]
        if goals:
            break
    path = [rng.choice(goals)]
    while parent[path[-1]] is not None:
        path.append(parent[path[-1]])
    return Example(_prompt(pairs, start, path[0]), ",".join(map(_label, reversed(path))))


def _label_tokens(tokenization: str) -> int:
    """Tokens of one node label: one with node tokens, two with character tokens."""
    return 1 if tokenization == "nodes" else 2


def _prompt_tokens(edges: int, tokenization: str = "nodes") -> int:
    """Tokens of a prompt with `edges` edges: "u>v" per edge, commas, "|start:goal"."""
    label = _label_tokens(tokenization)
    return (2 * label + 2) * edges - 1 + 2 * label + 2


def _path_tokens(nodes: int, tokenization: str = "nodes") -> int:
    """Tokens of a path of `nodes` nodes: its labels, commas between."""
    return (_label_tokens(tokenization) + 1) * nodes - 1


def path_star_spec(degree: int, arm_length: int, tokenization: str = "nodes") -> PlanningSpec:
    """`tokenization` "chars" names the setting with a "-chars" suffix (two tokens per node label)."""
    edges = degree * arm_length
    suffix = "" if tokenization == "nodes" else f"-{tokenization}"
    return PlanningSpec(
        f"pathstar-d{degree}-l{arm_length}{suffix}",
        "graph",
        partial(path_star, degree, arm_length),
        verify,
        prompt_length=_prompt_tokens(edges, tokenization),
        answer_length=round_up(_path_tokens(arm_length + 1, tokenization)),
        description=f"path-star graph: {degree} arms of {arm_length} nodes ({tokenization} tokens)",
        settings={"degree": degree, "arm_length": arm_length},
        floor=1 / degree,
        tokenization=tokenization,
    )


def random_graph_spec(nodes: int, edges: int, max_hops: int) -> PlanningSpec:
    return PlanningSpec(
        f"shortest-n{nodes}-e{edges}-h{max_hops}",
        "graph",
        partial(random_graph, nodes, edges, max_hops),
        verify,
        prompt_length=_prompt_tokens(edges),
        answer_length=round_up(_path_tokens(max_hops + 1)),
        description=f"shortest path on random directed graphs: {nodes} nodes, {edges} edges, <= {max_hops} hops",
        settings={"nodes": nodes, "edges": edges, "max_hops": max_hops},
        tokenization="nodes",
    )
