"""The crash scenario's parameters (``CrashConfig``) and what it reports (``CrashReport``).

Every parameter has a default that gives the original crash (``paraclear simulate
--scenario crash``); ``paraclear stress`` varies them. Amounts in micro-USDC, rates in parts
per million.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from paraclear.clearing.instruments import DEFAULT_PERP_IM_PPM, DEFAULT_PERP_MM_PPM
from paraclear.execution.parallel import Backend, Spread

LEVERAGES = (2, 3, 4, 5, 6, 8, 10, 12, 15, 20, 25, 30, 35, 40, 45)
"""The leveraged longs' leverage ladder; ``CrashConfig.max_leverage`` cuts its top."""


@dataclass
class CrashConfig:
    seed: int = 1
    traders: int = 400
    dip_ppm: int = 15_000
    crash_ppm: int = 300_000
    vol_before_ppm: int = 600_000
    vol_after_ppm: int = 1_500_000
    max_blocks: int = 40
    portfolio_margin: bool = False
    executor: str = "sequential"
    """``sequential`` or ``parallel`` (then ``workers``, ``backend`` and ``spread``
    apply)."""
    workers: int = 2
    backend: Backend = "threads"
    spread: Spread = "measured"
    crash_blocks: int = 1
    """The crash's speed: oracle updates it takes, in equal steps with liquidation between."""
    skew_before_ppm: int = -100_000
    skew_after_ppm: int = -100_000
    """The oracle's skew before and at the end of the crash (moves with the volatility)."""
    max_leverage: int = 45
    """The longs' leverage is drawn from ``LEVERAGES`` up to this."""
    perp_initial_ppm: int = DEFAULT_PERP_IM_PPM
    perp_maintenance_ppm: int = DEFAULT_PERP_MM_PPM
    option_maintenance_ppm: int = 75_000
    """Standard margin's maintenance on a short option, of the underlying's index."""
    liquidation_penalty_ppm: int = 5_000
    insurance_fund: int = 0
    """The insurance fund at genesis, micro-USDC (counted as deposited)."""

    def __post_init__(self) -> None:
        if not 0 < self.crash_ppm < 1_000_000 or not 0 <= self.dip_ppm < 1_000_000:
            raise ValueError("crash_ppm must be in (0, 1e6) and dip_ppm in [0, 1e6)")
        if self.crash_blocks < 1 or self.max_leverage < LEVERAGES[0] or self.traders < 2:
            raise ValueError("crash_blocks >= 1, max_leverage >= 2 and traders >= 2")
        if not 0 < self.perp_maintenance_ppm <= self.perp_initial_ppm <= 1_000_000:
            raise ValueError("perpetual margins must satisfy 0 < maintenance <= initial <= 1e6")
        if self.insurance_fund < 0 or self.option_maintenance_ppm < 0:
            raise ValueError("insurance_fund and option_maintenance_ppm must not be negative")

    @property
    def leverages(self) -> tuple[int, ...]:
        return tuple(x for x in LEVERAGES if x <= self.max_leverage)


@dataclass
class CrashReport:
    """What the crash did. Amounts in micro-USDC."""

    config: CrashConfig
    blocks: int = 0
    txs: int = 0
    seconds: float = 0.0
    events: Counter[str] = field(default_factory=Counter)
    failed: Counter[str] = field(default_factory=Counter)
    liquidated_accounts: set[str] = field(default_factory=set)
    deleveraged_accounts: set[str] = field(default_factory=set)
    fund_before_crash: int = 0
    fund_min: int = 0
    fund_final: int = 0
    penalties: int = 0
    covered: int = 0
    deleveraged_loss: int = 0
    adl_volume: int = 0
    """Notional closed by auto-deleveraging, at the mark."""
    bad_debt: int = 0
    cascade_blocks: int = 0
    final_index: int = 0
    net_deposits: int = 0
    deficits: Counter[str] = field(default_factory=Counter)
    """Per account that went under water, what others paid for it: the insurance fund's
    cover, the loss ADL counterparties absorbed, and the bad debt left."""
    losses: dict[str, int] = field(default_factory=dict)
    """Per trader, deposit minus final equity (positive: lost money)."""
    violations: list[str] = field(default_factory=list)
    state_root: str = ""

    def as_dict(self) -> dict[str, object]:
        return {
            "seed": self.config.seed,
            "traders": self.config.traders,
            "crash_ppm": self.config.crash_ppm,
            "executor": self.config.executor,
            "blocks": self.blocks,
            "cascade_blocks": self.cascade_blocks,
            "final_index": self.final_index,
            "txs": self.txs,
            "seconds": round(self.seconds, 3),
            "liquidations": self.events["Liquidated"],
            "liquidated_accounts": len(self.liquidated_accounts),
            "adl_events": self.events["Deleveraged"],
            "deleveraged_accounts": len(self.deleveraged_accounts),
            "insurance_fund": {
                "before_crash": self.fund_before_crash,
                "penalties_in": self.penalties,
                "covered_out": self.covered,
                "minimum": self.fund_min,
                "final": self.fund_final,
                "exhausted": self.fund_min == 0 and self.events["Deleveraged"] > 0,
            },
            "adl_loss_absorbed": self.deleveraged_loss,
            "bad_debt": self.bad_debt,
            "net_deposits": self.net_deposits,
            "failed_by_error": dict(sorted(self.failed.items())),
            "invariants_ok": not self.violations,
            "invariant_violations": self.violations[:20],
            "state_root": self.state_root,
        }
