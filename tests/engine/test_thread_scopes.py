"""Nested blocks of one kind per thread: what they keep is let go when the outermost ends."""

from __future__ import annotations

import threading

from schema_manager.thread_scopes import ThreadScope, within


class _Scope(ThreadScope):
    def __init__(self) -> None:
        self.kept: list[str] = []


def test_what_a_block_keeps_is_let_go_only_when_the_outermost_ends():
    scope = _Scope()
    let_go: list[list[str]] = []

    def release() -> None:
        let_go.append(list(scope.kept))
        scope.kept.clear()

    with within(scope, release):
        scope.kept.append("a")
        with within(scope, release):
            scope.kept.append("b")
        assert let_go == []
        assert scope.depth == 1
    assert let_go == [["a", "b"]]
    assert scope.depth == 0
    assert scope.kept == []


def test_another_thread_has_its_own_depth_and_what_it_keeps():
    scope = _Scope()
    seen: dict[str, object] = {}

    def other() -> None:
        seen["depth"], seen["kept"] = scope.depth, list(scope.kept)

    with within(scope, lambda: None):
        scope.kept.append("mine")
        thread = threading.Thread(target=other)
        thread.start()
        thread.join()
    assert seen == {"depth": 0, "kept": []}


def test_the_outermost_block_lets_go_after_an_error_too():
    scope = _Scope()
    let_go: list[int] = []
    try:
        with within(scope, lambda: let_go.append(1)):
            raise RuntimeError("a target failed")
    except RuntimeError:
        pass
    assert let_go == [1]
    assert scope.depth == 0
