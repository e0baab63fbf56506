"""Stress scenarios: many seeded crashes with their parameters drawn from ranges.

A ``Scenario`` is one deterministic run of the crash (``paraclear.sim.crash``) with every
parameter fixed: the index move (size, and speed as the number of oracle updates it takes),
the volatility shock, the skew change, the population and its leverage, the margin model
and its perpetual maintenance rate, the liquidation penalty, the insurance fund at genesis
and the seed. ``sample`` draws scenario ``i`` of a sample from its own generator seeded by
``"SEED:i"``, so a larger sample starts with the same scenarios and a result file
can be resumed; with ``grid``, the parameters given as lists of values take every
combination in turn. ``run_scenario`` is a pure function of the scenario: the same
scenario gives the same ``ScenarioResult`` on any machine, process or worker (``seconds``
aside).

Amounts are micro-USDC, rates parts per million.
"""

from __future__ import annotations

import itertools
import random
import time
from dataclasses import dataclass
from typing import Final, Literal

import msgspec

from paraclear.numbers import USDC_SCALE
from paraclear.sim.crash import CrashConfig, run_crash

MarginName = Literal["standard", "portfolio"]


class Scenario(msgspec.Struct, frozen=True, kw_only=True):
    """One crash, every parameter fixed (see the module docstring)."""

    index: int
    """Its position in the sample (scenario ``index`` of sample seed ``sample_seed``)."""
    sample_seed: int
    seed: int
    traders: int = 400
    crash_ppm: int = 300_000
    crash_blocks: int = 1
    vol_after_ppm: int = 1_500_000
    skew_after_ppm: int = -100_000
    max_leverage: int = 45
    margin: MarginName = "standard"
    perp_maintenance_ppm: int = 10_000
    """The perpetual's initial margin is twice this."""
    liquidation_penalty_ppm: int = 5_000
    insurance_fund: int = 0

    def config(self) -> CrashConfig:
        return CrashConfig(
            seed=self.seed,
            traders=self.traders,
            crash_ppm=self.crash_ppm,
            crash_blocks=self.crash_blocks,
            vol_after_ppm=self.vol_after_ppm,
            skew_after_ppm=self.skew_after_ppm,
            max_leverage=self.max_leverage,
            portfolio_margin=self.margin == "portfolio",
            perp_initial_ppm=2 * self.perp_maintenance_ppm,
            perp_maintenance_ppm=self.perp_maintenance_ppm,
            liquidation_penalty_ppm=self.liquidation_penalty_ppm,
            insurance_fund=self.insurance_fund,
        )

    @property
    def key(self) -> str:
        """Identifies the scenario in a result file: its parameters, canonically encoded."""
        return msgspec.json.encode(self).decode()


class ScenarioResult(msgspec.Struct, frozen=True, kw_only=True):
    """What one scenario did. Everything but ``seconds`` is deterministic."""

    scenario: Scenario
    liquidations: int
    """Liquidate steps (each a bounded slice of one position)."""
    liquidated_accounts: int
    backstops: int
    """Payments of the insurance fund towards an account's deficit."""
    adl_events: int
    adl_volume: int
    """Notional closed by auto-deleveraging, at the mark."""
    adl_loss: int
    """Deficits the ADL counterparties absorbed."""
    fund_before: int
    """The insurance fund when the crash began (genesis fund plus the dip's penalties)."""
    fund_paid: int
    fund_final: int
    bad_debt: int
    largest_loss: int
    """The largest deposit minus final equity of one trader."""
    largest_loss_account: str
    deficits: list[int]
    """The two largest per-account deficits (what others paid for an account that went
    under water), largest first; fewer if fewer accounts went under."""
    final_index: int
    """The index after the cascade, whole USD."""
    blocks: int
    txs: int
    failed: int
    invariants_ok: bool
    state_root: str
    seconds: float
    """Wall time of the run in the process that ran it."""

    @property
    def shortfall(self) -> int:
        """Every deficit of the scenario: paid by the fund, absorbed by ADL, or left."""
        return self.fund_paid + self.adl_loss + self.bad_debt

    def cover(self, members: int) -> bool:
        """Whether the fund at the crash covered the ``members`` largest deficits."""
        return sum(self.deficits[:members]) <= self.fund_before

    def same_outcome(self, other: ScenarioResult) -> bool:
        """Equal in everything but wall time."""
        return msgspec.structs.replace(self, seconds=0.0) == msgspec.structs.replace(
            other, seconds=0.0
        )


def run_scenario(scenario: Scenario) -> ScenarioResult:
    """Run ``scenario`` (a pure function of it, ``seconds`` aside)."""
    started = time.perf_counter()
    report = run_crash(scenario.config())
    loser = max(sorted(report.losses), key=lambda a: report.losses[a], default="")
    return ScenarioResult(
        scenario=scenario,
        liquidations=report.events["Liquidated"],
        liquidated_accounts=len(report.liquidated_accounts),
        backstops=report.events["InsuranceCovered"],
        adl_events=report.events["Deleveraged"],
        adl_volume=report.adl_volume,
        adl_loss=report.deleveraged_loss,
        fund_before=report.fund_before_crash,
        fund_paid=report.covered,
        fund_final=report.fund_final,
        bad_debt=report.bad_debt,
        largest_loss=report.losses.get(loser, 0),
        largest_loss_account=loser,
        deficits=sorted(report.deficits.values(), reverse=True)[:2],
        final_index=report.final_index,
        blocks=report.blocks,
        txs=report.txs,
        failed=sum(report.failed.values()),
        invariants_ok=not report.violations,
        state_root=report.state_root,
        seconds=time.perf_counter() - started,
    )


@dataclass(frozen=True)
class Range:
    """Values a parameter is drawn from: uniform integers in [low, high], or ``choices``
    (which a grid enumerates)."""

    low: int = 0
    high: int = 0
    choices: tuple[int | str, ...] = ()

    def draw(self, rng: random.Random) -> int | str:
        if self.choices:
            return rng.choice(self.choices)
        return rng.randint(self.low, self.high)


RANGES: Final[dict[str, Range]] = {
    "crash_ppm": Range(100_000, 500_000),
    "crash_blocks": Range(1, 4),
    "vol_after_ppm": Range(800_000, 2_000_000),
    "skew_after_ppm": Range(-300_000, -100_000),
    "max_leverage": Range(10, 45),
    "margin": Range(choices=("standard", "portfolio")),
    "perp_maintenance_ppm": Range(5_000, 15_000),
    "liquidation_penalty_ppm": Range(2_500, 10_000),
    "insurance_fund": Range(0, 2_000_000 * USDC_SCALE),
}
"""The default ranges of ``sample``: −10 % to −50 % in 1 to 4 oracle updates, volatility to
80 %–200 %, skew to −10 %…−30 %, leverage up to 10×–45×, perpetual maintenance 0.5 %–1.5 %,
penalty 0.25 %–1 %, a genesis insurance fund of 0 to 2 million USDC."""
PARAMETERS: Final = ("traders", *RANGES)


def sample(
    count: int,
    sample_seed: int = 1,
    ranges: dict[str, Range] | None = None,
    traders: int = 400,
    *,
    grid: bool = False,
) -> list[Scenario]:
    """``count`` scenarios, scenario ``i`` drawn from ``random.Random(f"{sample_seed}:{i}")``
    over ``ranges`` (``RANGES`` where not given). With ``grid``, the parameters given as
    ``choices`` take every combination in turn instead (scenario ``i`` the ``i``-th modulo
    their number, by parameter name), each with its own seed and other parameters drawn."""
    merged = {**RANGES, **(ranges or {})}
    unknown = set(merged) - set(PARAMETERS)
    if unknown:
        raise ValueError(f"unknown parameters: {', '.join(sorted(unknown))}")
    axes = sorted(name for name in merged if grid and merged[name].choices)
    points = list(itertools.product(*(merged[name].choices for name in axes)))
    scenarios = []
    for index in range(count):
        rng = random.Random(f"{sample_seed}:{index}")
        values = {name: merged[name].draw(rng) for name in sorted(merged)}
        values.update(zip(axes, points[index % len(points)], strict=True))
        values.setdefault("traders", traders)
        seed = rng.randrange(2**31)
        scenarios.append(
            msgspec.convert(
                {"index": index, "sample_seed": sample_seed, "seed": seed, **values}, Scenario
            )
        )
    return scenarios
