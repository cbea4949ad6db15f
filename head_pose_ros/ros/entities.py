"""Which ROS entities (publishers, subscriptions, timers, guard conditions) an object created
on a node, so that it can destroy exactly those again (lifecycle deactivate / cleanup) and
leave the node's own ones (a lifecycle node's services and transition publisher) alone."""

from __future__ import annotations

from typing import Any

__all__ = ["entity_snapshot", "entity_difference", "destroy_entities"]

_KINDS = (("publishers", "destroy_publisher"), ("subscriptions", "destroy_subscription"),
          ("timers", "destroy_timer"), ("guards", "destroy_guard_condition"))


def entity_snapshot(node: Any) -> set[int]:
    """The ids of every entity the node has now."""
    return {id(e) for kind, _ in _KINDS for e in getattr(node, kind)}


def entity_difference(node: Any, before: set[int]) -> list[Any]:
    """The entities the node has now that were not in the snapshot ``before``."""
    return [e for kind, _ in _KINDS for e in getattr(node, kind) if id(e) not in before]


def destroy_entities(node: Any, entities: list[Any]) -> None:
    """Destroy ``entities`` (those of :func:`entity_difference`) that still exist on ``node``.

    Call it from the executor's thread or with the executor stopped: an entity destroyed while
    another thread waits on it makes that thread's executor raise ``InvalidHandle``."""
    for kind, destroy in _KINDS:
        alive = {id(e) for e in getattr(node, kind)}
        for e in entities:
            if id(e) in alive:
                getattr(node, destroy)(e)
