"""Staffing maths against exact M/M/1 and M/M/2 results, published examples, an independent birth–death solution
and an independent discrete-event simulation. Rates per minute, times in minutes, unless a case says otherwise."""

from __future__ import annotations

import heapq
import itertools
import math
import random
from dataclasses import dataclass

import pytest

from rules.staffing import (
    ErlangA,
    ErlangC,
    Model,
    erlang_b,
    erlang_c,
    evaluate_erlang_a,
    evaluate_erlang_c,
    recommend_staffing,
    servers_for_target,
)

# ---------------------------------------------------------------------------------------------- exact M/M/1, M/M/2


@pytest.mark.parametrize(
    ("lam", "mu", "t"),
    [
        (2.0, 3.0, 0.5),  # research §5.3: λ = 2/h, μ = 3/h (any unit works when both are in it)
        (0.1, 1.0, 2.0),
        (0.5, 1.0, 1.0),
        (0.95, 1.0, 10.0),
        (9.0, 10.0, 0.0),
    ],
)
def test_mm1_matches_closed_forms(lam: float, mu: float, t: float) -> None:
    rho = lam / mu
    m = evaluate_erlang_c(1, lam, 1 / mu, t)
    assert m.p_wait == pytest.approx(rho, rel=1e-12)
    assert m.mean_wait == pytest.approx(rho / (mu - lam), rel=1e-12)
    assert m.mean_queue_length == pytest.approx(rho**2 / (1 - rho), rel=1e-12)
    assert m.service_level == pytest.approx(1 - rho * math.exp(-(mu - lam) * t), rel=1e-12)
    assert m.occupancy == pytest.approx(rho, rel=1e-12)


def test_research_vector_mm1_and_mm2() -> None:
    # research §5.3: λ = 2/h, μ = 3/h → M/M/1: P(wait) 2/3, Wq 2/3 h; M/M/2: P(wait) 1/6, Wq 1/24 h.
    assert evaluate_erlang_c(1, 2.0, 1 / 3, 0).p_wait == pytest.approx(2 / 3, rel=1e-12)
    assert evaluate_erlang_c(1, 2.0, 1 / 3, 0).mean_wait == pytest.approx(2 / 3, rel=1e-12)
    assert evaluate_erlang_c(2, 2.0, 1 / 3, 0).p_wait == pytest.approx(1 / 6, rel=1e-12)
    assert evaluate_erlang_c(2, 2.0, 1 / 3, 0).mean_wait == pytest.approx(1 / 24, rel=1e-12)


@pytest.mark.parametrize("rho", [0.05, 1 / 3, 0.5, 0.8, 0.99])
@pytest.mark.parametrize("t", [0.0, 0.25, 3.0])
def test_mm2_matches_closed_forms(rho: float, t: float) -> None:
    # M/M/2 with ρ = λ/(2μ): P0 = (1−ρ)/(1+ρ); P(wait) = P0·(2ρ)²/2·1/(1−ρ) = 2ρ²/(1+ρ);
    # Lq = P0·(2ρ)²/2·ρ/(1−ρ)² = 2ρ³/(1−ρ²); Wq = Lq/λ = ρ²/(μ(1−ρ²)); P(W > t) = P(wait)·e^{−(2μ−λ)t}.
    mu = 0.25
    lam = 2 * mu * rho
    m = evaluate_erlang_c(2, lam, 1 / mu, t)
    p_wait = 2 * rho**2 / (1 + rho)
    assert m.p_wait == pytest.approx(p_wait, rel=1e-12)
    assert m.mean_queue_length == pytest.approx(2 * rho**3 / (1 - rho**2), rel=1e-10)
    assert m.mean_wait == pytest.approx(rho**2 / (mu * (1 - rho**2)), rel=1e-10)
    assert m.service_level == pytest.approx(1 - p_wait * math.exp(-(2 * mu - lam) * t), rel=1e-12)
    assert m.occupancy == pytest.approx(rho, rel=1e-12)


# ---------------------------------------------------------------------------------------------- Erlang B


@pytest.mark.parametrize("servers", range(11))
@pytest.mark.parametrize("load", [0.0, 0.3, 1.0, 4.5, 12.0])
def test_erlang_b_recursion_equals_direct_formula(servers: int, load: float) -> None:
    direct = (load**servers / math.factorial(servers)) / sum(load**k / math.factorial(k) for k in range(servers + 1))
    assert erlang_b(servers, load) == pytest.approx(direct, rel=1e-12, abs=1e-300)


def test_erlang_c_from_its_textbook_sum() -> None:
    # C = (A^n/n!·n/(n−A)) / (Σ_{k<n} A^k/k! + A^n/n!·n/(n−A)), evaluated directly for small n.
    for n, a in [(3, 2.0), (5, 4.2), (14, 10.0), (20, 12.5)]:
        top = a**n / math.factorial(n) * n / (n - a)
        direct = top / (sum(a**k / math.factorial(k) for k in range(n)) + top)
        assert erlang_c(n, a) == pytest.approx(direct, rel=1e-12)


# ---------------------------------------------------------------------------------------------- published examples


def test_pyworkforce_vector() -> None:
    # pyworkforce/queuing/tests/test_erlang.py (research §5.3): 100 transactions per 30 min, AHT 3 min, target
    # asa=0.33 min, SL 0.8 → 14 positions, SL 0.888, occupancy 0.714, P(wait) 0.174 (3 decimals); with occupancy
    # ≤ 0.7 → 15 positions, SL 0.941, occupancy 0.667, P(wait) 0.102.
    lam = 100 / 30
    assert servers_for_target(lam, 3.0, 0.33, 0.8, max_occupancy=0.85) == 14
    m = evaluate_erlang_c(14, lam, 3.0, 0.33)
    assert (round(m.service_level, 3), round(m.occupancy, 3), round(m.p_wait, 3)) == (0.888, 0.714, 0.174)
    assert servers_for_target(lam, 3.0, 0.33, 0.8, max_occupancy=0.7) == 15
    m = evaluate_erlang_c(15, lam, 3.0, 0.33)
    assert (round(m.service_level, 3), round(m.occupancy, 3), round(m.p_wait, 3)) == (0.941, 0.667, 0.102)


@pytest.mark.parametrize(
    ("aht_s", "over_10s_percent"),
    [
        (60, "fewer than 8"),  # "fewer than 8 percent of callers will wait more than 10 seconds"
        (80, "14"),  # "If the calls actually take 60 seconds plus 20 seconds … the QOS falls to 14 percent"
    ],
)
def test_al911_call_calc_example(aht_s: int, over_10s_percent: str) -> None:
    # Footbridge "Call Calc" application note (http://www.al911.org/qos_calc.htm), an Erlang C tool matching the
    # US DoJ 9-1-1 tables: 2 call takers, calls arriving at 30/hour.
    m = evaluate_erlang_c(2, 30 / 3600, float(aht_s), 10.0)  # seconds throughout
    waits_longer = 1 - m.service_level
    if over_10s_percent == "fewer than 8":
        assert waits_longer < 0.08
        assert waits_longer == pytest.approx(0.1 * math.exp(-0.25), rel=1e-12)  # C = 0.1 exactly at A = 0.5
    else:
        assert round(100 * waits_longer) == 14


def test_research_cross_check_mm14() -> None:
    # research §4.4: M/M/14 with A = 10 (λ = 10/3 per min, AHT 3): analytic P(wait) 0.1741, mean wait 0.131 min.
    m = evaluate_erlang_c(14, 10 / 3, 3.0, 0)
    assert round(m.p_wait, 4) == 0.1741
    assert round(m.mean_wait, 3) == 0.131


@pytest.mark.parametrize(("load", "max_p_wait", "exact"), [(10, 0.2857, 13), (48, 0.20, 56), (5, 0.30, 8)])
def test_research_square_root_table_exact_column(load: float, max_p_wait: float, exact: int) -> None:
    # research §4.4: the fewest servers with P(wait) ≤ target (the "Exact N" column).
    fewest = next(n for n in range(int(load) + 1, 1000) if erlang_c(n, load) <= max_p_wait)
    assert fewest == exact


def test_research_erlang_a_vector() -> None:
    # research §4.4, birth–death column: λ = 10/3 per min, AHT 3, N = 10 (A = N), mean patience 10 min →
    # P(abandon) 0.0889, P(wait) 0.6746, mean wait (all arrivals) 0.889 min.
    m = evaluate_erlang_a(10, 10 / 3, 3.0, 10.0, 1.0)
    assert (round(m.p_abandon, 4), round(m.p_wait, 4), round(m.mean_wait, 3)) == (0.0889, 0.6746, 0.889)


# ---------------------------------------------------------------------------------------------- stability, scale


@pytest.mark.parametrize(("servers", "load"), [(1, 1.0), (1, 3.0), (5, 5.0), (9, 10.0), (250, 250.0)])
def test_unstable_erlang_c(servers: int, load: float) -> None:
    m = evaluate_erlang_c(servers, load / 3, 3.0, 5.0)
    assert erlang_c(servers, load) == 1.0
    assert (m.p_wait, m.service_level, m.mean_wait, m.mean_queue_length, m.occupancy) == (1, 0, math.inf, math.inf, 1)
    assert not m.stable
    assert m.to_dict()["mean_wait_min"] is None


def test_large_system_is_finite_and_monotone() -> None:
    load = 250.0
    rows = [evaluate_erlang_c(n, load, 1.0, 0.05) for n in range(251, 401)]
    for m in rows:
        assert all(math.isfinite(v) for v in (m.p_wait, m.service_level, m.mean_wait, m.mean_queue_length))
        assert 0 <= m.p_wait <= 1 and 0 <= m.service_level <= 1
    assert all(a.p_wait > b.p_wait for a, b in itertools.pairwise(rows))
    assert all(a.service_level <= b.service_level for a, b in itertools.pairwise(rows))
    assert all(a.mean_wait > b.mean_wait for a, b in itertools.pairwise(rows))
    assert 0 < erlang_b(300, 250.0) < 1
    a = evaluate_erlang_a(300, 250.0, 1.0, 5.0, 0.05)
    assert 0 < a.p_abandon < a.p_wait < 1 and math.isfinite(a.mean_wait)
    assert servers_for_target(250.0, 1.0, 0.05, 0.8) == next(r.servers for r in rows if r.service_level >= 0.8)


def test_no_arrivals() -> None:
    c = evaluate_erlang_c(1, 0.0, 5.0, 1.0)
    a = evaluate_erlang_a(1, 0.0, 5.0, 10.0, 1.0)
    for m in (c, a):
        assert (m.p_wait, m.service_level, m.mean_wait, m.occupancy) == (0, 1, 0, 0)
    assert servers_for_target(0.0, 5.0, 1.0, 0.8) == 1


# ---------------------------------------------------------------------------------------------- staffing search

SEARCH_CASES = [
    # (arrivals per min, AHT, target wait, SL, patience)
    (100 / 30, 3.0, 1 / 3, 0.8, None),
    (0.5, 12.0, 15.0, 0.8, None),  # a hall queue: 30 per hour, 12-minute services, 80 % within 15 min
    (0.5, 20.0, 10.0, 0.9, None),
    (2.0, 8.0, 5.0, 0.95, None),
    (0.05, 15.0, 0.0, 0.5, None),
    (0.5, 12.0, 15.0, 0.8, 30.0),
    (10 / 3, 3.0, 1.0, 0.8, 10.0),
    (1.2, 3.0, 2.0, 0.9, 5.0),
]


@pytest.mark.parametrize(("lam", "aht", "target", "sl", "patience"), SEARCH_CASES)
def test_servers_for_target_is_minimal(
    lam: float, aht: float, target: float, sl: float, patience: float | None
) -> None:
    n = servers_for_target(lam, aht, target, sl, patience=patience)

    def level(servers: int) -> float:
        if patience is None:
            return evaluate_erlang_c(servers, lam, aht, target).service_level
        return evaluate_erlang_a(servers, lam, aht, patience, target).service_level

    assert level(n) >= sl
    assert n == 1 or level(n - 1) < sl


@pytest.mark.parametrize("patience", [None, 20.0])
def test_servers_for_target_grows_with_load(patience: float | None) -> None:
    counts = [servers_for_target(per_hour / 60, 12.0, 15.0, 0.8, patience=patience) for per_hour in range(0, 241, 8)]
    assert counts == sorted(counts)
    assert counts[0] == 1 and counts[-1] > (48 if patience is None else 30)  # 240 per hour × 12 min = 48 Erlang


def test_abandonment_cap_adds_servers() -> None:
    # 240 per hour, 12-minute services, 20-minute patience: 80 % within 15 min is met with 39 windows only because
    # 19 % of the people walk out; capping walkouts at 5 % asks for more.
    assert servers_for_target(4.0, 12.0, 15.0, 0.8, patience=20.0) == 39
    assert evaluate_erlang_a(39, 4.0, 12.0, 20.0, 15.0).p_abandon == pytest.approx(0.19, abs=0.005)
    capped = servers_for_target(4.0, 12.0, 15.0, 0.8, patience=20.0, max_abandonment=0.05)
    assert evaluate_erlang_a(capped, 4.0, 12.0, 20.0, 15.0).p_abandon <= 0.05
    assert evaluate_erlang_a(capped - 1, 4.0, 12.0, 20.0, 15.0).p_abandon > 0.05


def test_patience_needs_no_more_servers_than_erlang_c() -> None:
    for lam, aht, target, sl, _ in SEARCH_CASES:
        assert servers_for_target(lam, aht, target, sl, patience=15.0) <= servers_for_target(lam, aht, target, sl)


def test_servers_for_target_gives_up_plainly() -> None:
    with pytest.raises(ValueError, match="no staffing up to 5 servers"):
        servers_for_target(10.0, 1.0, 1.0, 0.8, max_servers=5)


# ---------------------------------------------------------------------------------------------- Erlang A


@pytest.mark.parametrize(
    ("servers", "lam", "aht", "target"), [(1, 0.5, 1.0, 1.0), (2, 0.3, 5.0, 2.0), (14, 10 / 3, 3.0, 0.33)]
)
def test_erlang_a_tends_to_erlang_c_as_patience_grows(servers: int, lam: float, aht: float, target: float) -> None:
    c = evaluate_erlang_c(servers, lam, aht, target)
    errors = []
    for patience in (1e2, 1e4, 1e6, 1e8):
        a = evaluate_erlang_a(servers, lam, aht, patience, target)
        errors.append(max(abs(getattr(a, k) / getattr(c, k) - 1) for k in ("p_wait", "service_level", "mean_wait")))
    assert errors == sorted(errors, reverse=True)
    assert errors[-1] < 1e-6  # the difference shrinks like 1/patience
    a = evaluate_erlang_a(servers, lam, aht, 1e8, target)
    assert a.p_abandon < 1e-6
    assert a.occupancy == pytest.approx(c.occupancy, rel=1e-6)


@pytest.mark.parametrize(
    ("lam", "aht", "patience"), [(10 / 3, 3.0, 10.0), (0.5, 12.0, 30.0), (1.2, 3.0, 5.0), (4.0, 1.0, 0.5)]
)
def test_abandonment_is_a_probability_and_falls_with_servers(lam: float, aht: float, patience: float) -> None:
    rows = [evaluate_erlang_a(n, lam, aht, patience, 1.0) for n in range(1, 25)]
    for m in rows:
        assert 0 <= m.p_abandon <= m.p_wait <= 1 and 0 <= m.service_level <= 1 and 0 <= m.occupancy <= 1
    assert all(a.p_abandon > b.p_abandon for a, b in itertools.pairwise(rows))
    assert all(a.service_level <= b.service_level for a, b in itertools.pairwise(rows))
    # One server: it is busy exactly when an arrival must wait, and what it serves is what did not leave —
    # λ·(1 − P(abandon)) = μ·P(busy) — an identity the module does not use (it takes P(abandon) = θ·Lq/λ).
    assert rows[0].p_abandon == pytest.approx(1 - rows[0].p_wait / (lam * aht), rel=1e-9)


def _birth_death(servers: int, lam: float, aht: float, patience: float, target: float) -> tuple[float, float, float]:
    """P(wait), P(abandon), SL(target) from the truncated chain, solved independently of the module's series.

    SL: a tagged arrival that finds j people waiting is served within t with probability u_j(t), where
    du_j/dt = r_j·(u_{j−1} − u_j) − θ·u_j, r_j = nμ + jθ, u_{−1} ≡ 1, u_j(0) = 0 — integrated with RK4.
    """
    mu, theta = 1 / aht, 1 / patience
    depth = 150  # waiting places kept; the chain's terms fall below 1e-40 long before this in the cases used
    weights = [1.0]
    for k in range(1, servers + depth + 1):
        weights.append(weights[-1] * lam / (min(k, servers) * mu + max(k - servers, 0) * theta))
    total = sum(weights)
    probs = [w / total for w in weights]
    p_wait = sum(probs[servers:])
    p_abandon = theta * sum((k - servers) * p for k, p in enumerate(probs) if k > servers) / lam

    rates = [servers * mu + j * theta for j in range(depth + 1)]

    def slope(u: list[float]) -> list[float]:
        return [r * ((u[j - 1] if j else 1.0) - u[j]) - theta * u[j] for j, r in enumerate(rates)]

    steps = 800
    dt = target / steps
    u = [0.0] * (depth + 1)
    for _ in range(steps):
        k1 = slope(u)
        k2 = slope([x + dt / 2 * k for x, k in zip(u, k1, strict=True)])
        k3 = slope([x + dt / 2 * k for x, k in zip(u, k2, strict=True)])
        k4 = slope([x + dt * k for x, k in zip(u, k3, strict=True)])
        u = [x + dt / 6 * (a + 2 * b + 2 * c + d) for x, a, b, c, d in zip(u, k1, k2, k3, k4, strict=True)]
    service_level = sum(probs[:servers]) + sum(probs[servers + j] * u[j] for j in range(depth + 1))
    return p_wait, p_abandon, service_level


@pytest.mark.parametrize(
    ("servers", "lam", "aht", "patience", "target"),
    [(3, 1.2, 3.0, 5.0, 2.0), (1, 0.5, 1.0, 2.0, 1.5), (10, 10 / 3, 3.0, 10.0, 1.0)],
)
def test_erlang_a_matches_an_independent_birth_death_solution(
    servers: int, lam: float, aht: float, patience: float, target: float
) -> None:
    p_wait, p_abandon, service_level = _birth_death(servers, lam, aht, patience, target)
    m = evaluate_erlang_a(servers, lam, aht, patience, target)
    assert m.p_wait == pytest.approx(p_wait, rel=1e-9)
    assert m.p_abandon == pytest.approx(p_abandon, rel=1e-9)
    assert m.service_level == pytest.approx(service_level, abs=1e-8)


# ---------------------------------------------------------------------------------------------- simulation


@dataclass(frozen=True, slots=True)
class Simulated:
    p_wait: float
    mean_wait: float
    service_level: float
    p_abandon: float


def _simulate(
    servers: int, lam: float, aht: float, target: float, *, patience: float | None, customers: int, seed: int
) -> Simulated:
    """M/M/c FIFO (+M with exponential patience), by the Kiefer–Wolfowitz recursion on server free times.

    In FIFO order each arrival's offered wait is the earliest server free time minus its arrival; it is served if
    that is within its patience and then holds that server for an exponential service; otherwise it leaves and the
    servers are untouched. The first 2 % of customers are a warm-up and not counted.
    """
    rng = random.Random(seed)
    free = [0.0] * servers  # a heap: when each server next becomes free
    clock = 0.0
    warmup = customers // 50
    waited = within = abandoned = 0
    wait_sum = 0.0
    for i in range(customers):
        clock += rng.expovariate(lam)
        offered = max(0.0, free[0] - clock)
        tolerance = math.inf if patience is None else rng.expovariate(1 / patience)
        served = offered <= tolerance
        if served:
            heapq.heapreplace(free, clock + offered + rng.expovariate(1 / aht))
        if i < warmup:
            continue
        waited += offered > 0
        abandoned += not served
        within += served and offered <= target
        wait_sum += min(offered, tolerance)  # those who leave waited until they left
    counted = customers - warmup
    return Simulated(waited / counted, wait_sum / counted, within / counted, abandoned / counted)


SIMULATION_CASES = [
    # (servers, λ per min, AHT, target, patience, seed)
    (14, 10 / 3, 3.0, 1 / 3, None, 1),  # the pyworkforce vector: P(wait) 0.174, SL 0.888
    (8, 0.5, 12.0, 5.0, None, 2),  # a hall queue at occupancy 0.75
    (2, 0.3, 5.0, 2.0, None, 3),  # M/M/2, ρ = 0.75
    (10, 10 / 3, 3.0, 1.0, 10.0, 4),  # research §4.4 Erlang A case (A = N)
    (3, 1.2, 3.0, 2.0, 5.0, 5),  # Erlang A, overloaded (A = 3.6 > 3)
]


@pytest.mark.parametrize(("servers", "lam", "aht", "target", "patience", "seed"), SIMULATION_CASES)
def test_simulation_agrees(
    servers: int, lam: float, aht: float, target: float, patience: float | None, seed: int
) -> None:
    sim = _simulate(servers, lam, aht, target, patience=patience, customers=200_000, seed=seed)
    m: ErlangC | ErlangA
    if patience is None:
        m = evaluate_erlang_c(servers, lam, aht, target)
        assert sim.p_abandon == 0
    else:
        m = evaluate_erlang_a(servers, lam, aht, patience, target)
        assert sim.p_abandon == pytest.approx(m.p_abandon, rel=0.05)
    # Across 10 seeds at 200,000 customers the estimates of P(wait) and mean wait spread by about 2–3 % (one sd).
    assert sim.p_wait == pytest.approx(m.p_wait, rel=0.05)
    assert sim.mean_wait == pytest.approx(m.mean_wait, rel=0.08)
    assert sim.service_level == pytest.approx(m.service_level, abs=0.01)


# ---------------------------------------------------------------------------------------------- summary and CLI


def test_recommendation_reports_recommended_and_current() -> None:
    s = recommend_staffing(200, 3.0, 0.33, 0.8, current_servers=12)
    assert s.model is Model.ERLANG_C and s.recommended_servers == 14 and s.load == pytest.approx(10.0)
    assert s.recommended == evaluate_erlang_c(14, 200 / 60, 3.0, 0.33)
    assert s.current == evaluate_erlang_c(12, 200 / 60, 3.0, 0.33)
    assert s.current_meets_target is False
    a = recommend_staffing(40, 12.0, 15.0, 0.8, patience_min=30.0)
    assert a.model is Model.ERLANG_A and isinstance(a.recommended, ErlangA) and a.current_meets_target is None
    assert a.recommended_servers == servers_for_target(40 / 60, 12.0, 15.0, 0.8, patience=30.0)
    capped = recommend_staffing(40, 12.0, 15.0, 0.8, patience_min=30.0, max_abandonment=0.05, current_servers=8)
    assert isinstance(capped.recommended, ErlangA) and capped.recommended.p_abandon <= 0.05
    assert capped.recommended_servers > a.recommended_servers and capped.current_meets_target is False


BAD_INPUTS = [
    (lambda: erlang_b(-1, 1.0), "servers must be ≥ 0"),
    (lambda: erlang_c(3, -0.5), "load must be a finite number ≥ 0"),
    (lambda: evaluate_erlang_c(0, 1.0, 1.0, 1.0), "servers must be ≥ 1"),
    (lambda: evaluate_erlang_c(2, -1.0, 1.0, 1.0), "arrival_rate must be a finite number ≥ 0"),
    (lambda: evaluate_erlang_c(2, 1.0, 0.0, 1.0), "aht must be a finite number > 0"),
    (lambda: evaluate_erlang_c(2, 1.0, math.nan, 1.0), "aht must be a finite number > 0"),
    (lambda: evaluate_erlang_c(2, 1.0, 1.0, -1.0), "target_wait must be a finite number ≥ 0"),
    (lambda: evaluate_erlang_a(2, 1.0, 1.0, 0.0, 1.0), "patience must be a finite number > 0"),
    (lambda: servers_for_target(1.0, 1.0, 1.0, 1.0), r"service_level must be a fraction in \(0, 1\)"),
    (lambda: servers_for_target(1.0, 1.0, 1.0, 80), "e.g. 0.8 for 80 %"),
    (lambda: servers_for_target(1.0, 1.0, 1.0, 0.8, max_occupancy=0), "max_occupancy must be a fraction"),
    (lambda: recommend_staffing(-5, 3.0, 1.0, 0.8), "arrivals_per_hour must be a finite number ≥ 0"),
    (lambda: recommend_staffing(5, 3.0, 1.0, 0.8, current_servers=0), "current_servers must be ≥ 1"),
    (lambda: recommend_staffing(5, 3.0, 1.0, 0.8, max_abandonment=0.05), "max_abandonment needs patience_min"),
    (lambda: servers_for_target(1.0, 1.0, 1.0, 0.8, patience=5.0, max_abandonment=2), "max_abandonment must be"),
    (lambda: recommend_staffing(5, 3.0, 1.0, 0.8, patience_min=math.inf), "patience_min must be a finite number"),
]


@pytest.mark.parametrize(("call", "message"), BAD_INPUTS)
def test_bad_input_is_a_plain_value_error(call: object, message: str) -> None:
    assert callable(call)
    with pytest.raises(ValueError, match=message):
        call()
