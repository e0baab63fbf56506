"""Futures completed on another thread reach the loop, in bursts."""

from __future__ import annotations

import asyncio
import threading
from concurrent.futures import Future

import pytest

from paraclear.api.bridge import ThreadBridge


def test_results_and_errors_cross_from_another_thread() -> None:
    async def scenario() -> list[object]:
        bridge = ThreadBridge(asyncio.get_running_loop())
        futures: list[Future[int]] = [Future() for _ in range(100)]
        mirrors = [bridge.wrap(future) for future in futures]

        def complete() -> None:
            for n, future in enumerate(futures):
                if n == 7:
                    future.set_exception(KeyError(n))
                else:
                    future.set_result(n)

        thread = threading.Thread(target=complete)
        thread.start()
        results = await asyncio.gather(*mirrors, return_exceptions=True)
        thread.join()
        return results

    results = asyncio.run(scenario())
    assert isinstance(results[7], KeyError)
    assert [r for n, r in enumerate(results) if n != 7] == [n for n in range(100) if n != 7]


def test_a_burst_wakes_the_loop_once() -> None:
    async def scenario() -> int:
        loop = asyncio.get_running_loop()
        bridge = ThreadBridge(loop)
        wakes = 0
        original = loop.call_soon_threadsafe

        def counting(*args: object) -> asyncio.Handle:
            nonlocal wakes
            wakes += 1
            return original(*args)  # type: ignore[arg-type]

        loop.call_soon_threadsafe = counting  # type: ignore[method-assign]
        futures: list[Future[int]] = [Future() for _ in range(50)]
        mirrors = [bridge.wrap(future) for future in futures]
        thread = threading.Thread(target=lambda: [f.set_result(1) for f in futures])
        thread.start()
        thread.join()  # every future completes before the loop runs again
        assert sum(await asyncio.gather(*mirrors)) == 50
        return wakes

    assert asyncio.run(scenario()) == 1


def test_already_completed_future_resolves_too() -> None:
    async def scenario() -> int:
        done: Future[int] = Future()
        done.set_result(5)
        return await ThreadBridge(asyncio.get_running_loop()).wrap(done)

    assert asyncio.run(scenario()) == 5
    with pytest.raises(ValueError):
        asyncio.run(_failed())


async def _failed() -> int:
    failed: Future[int] = Future()
    failed.set_exception(ValueError("no"))
    return await ThreadBridge(asyncio.get_running_loop()).wrap(failed)
