"""Staffing maths (人员配置测算): how many windows a queue needs, and what a given number of windows achieves.

Owns Erlang B, Erlang C (M/M/c) and Erlang A (M/M/c+M: exponential patience, people who give up and leave) for a
single FIFO queue in steady state, the search for the fewest servers that meet a service-level target, and
`recommend_staffing`, the summary the `hallops staffing` command and the tidal-window (潮汐窗口) recommender use.
Pure: no I/O, no clock, standard library only.

Units: rates are **per minute**, times are **minutes**, load is in Erlangs (A = λ·AHT). `recommend_staffing` takes
arrivals per hour, as a hall manager counts them, and converts.

Formulas and sources
- Erlang B by the recursion B(0) = 1, B(k) = A·B(k−1) / (k + A·B(k−1)) — stable for any size (no factorials).
- Erlang C: C(n, A) = n·B / (n − A·(1 − B)); P(W > t) = C·exp(−(n − A)·t / AHT); ASA = C·AHT / (n − A);
  Lq = λ·ASA (Little). Standard results, e.g. Gross & Harris, *Fundamentals of Queueing Theory*, §2.3; the form
  via Erlang B as in research/queue-and-staffing.md §4.1.
- Erlang A: Garnett, Mandelbaum & Reiman (2002), "Designing a call center with impatient customers", *MSOM*
  4(3):208–227; Mandelbaum & Zeltyn, "The M/M/n+G queue: summary of performance measures". The stationary
  distribution of the birth–death chain with death rate min(k, n)·μ + max(k − n, 0)·θ is summed in closed form:
  with a = nμ/θ and y = λ/θ the queue part π(n+j)/π(n) = y^j / ((a+1)(a+2)…(a+j)), whose sum S(y) is the series
  of the confluent hypergeometric ₁F₁(1; a+1; y) (the incomplete-gamma form of the papers). We sum it ourselves in
  log space, outward from its largest term, with a geometric bound on the tail: exact to rounding, no special
  functions, and the same numbers the truncated chain gives. The waiting-time tail uses the density of the
  offered wait V (the wait of a customer who would never leave; Baccelli & Hébuterne 1981, as in M&Z):
  v(x) ∝ exp(λ·(1 − e^{−θx})/θ − nμx), which integrates to the S(y) series again (see `_erlang_a`).

Conventions (state the population of every KPI — research §4.4 and §6.3)
- P(wait): the share of *all arrivals* that find every server busy.
- Service level SL(T): the share of *all arrivals* that are served and wait at most T. In Erlang A a customer who
  gives up — even after one minute — is *not* within the service level (the strict, call-centre convention), so as
  patience → ∞ it is exactly Erlang C's SL.
- Mean wait: over *all arrivals*; in Erlang A it includes the time spent waiting by those who then gave up
  (E[min(V, patience)] = Lq / λ by Little's law).
- Occupancy: busy servers ÷ servers. In Erlang A only served customers keep a server busy.
- Erlang C with n ≤ A has no steady state (the queue grows without limit): P(wait) = 1, SL = 0, waits infinite,
  occupancy 1. Erlang A is stable for every n because people leave.

Why about 540 lines: the two models share their numerics (the S(y) series, stable recursions, the search for the
fewest servers) and their conventions above; DESIGN.md keeps this maths ours, in one module that can be read
against the papers it cites.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import StrEnum

MAX_SERVERS = 10_000  # the staffing search gives up beyond this
_MAX_TERMS = 5_000_000  # series terms for one Erlang A evaluation; only absurd patience × overload gets here
_EPS = 1e-17  # relative size at which a series term no longer matters


class Model(StrEnum):
    """Which queueing model produced the numbers."""

    ERLANG_C = "erlang_c"  # M/M/c: everyone waits as long as it takes
    ERLANG_A = "erlang_a"  # M/M/c+M: exponential patience, people leave the queue


# ---------------------------------------------------------------------------------------------- validation


def _require_servers(servers: int, *, minimum: int = 1, name: str = "servers") -> None:
    if isinstance(servers, bool) or not isinstance(servers, int):
        raise ValueError(f"{name} must be a whole number, got {servers!r}")
    if servers < minimum:
        raise ValueError(f"{name} must be ≥ {minimum}, got {servers}")


def _require_non_negative(name: str, value: float) -> None:
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"{name} must be a finite number ≥ 0, got {value!r}")


def _require_positive(name: str, value: float) -> None:
    if not math.isfinite(value) or value <= 0:
        raise ValueError(f"{name} must be a finite number > 0, got {value!r}")


def _require_fraction(name: str, value: float, *, allow_one: bool = False) -> None:
    upper_ok = value <= 1 if allow_one else value < 1
    if not (math.isfinite(value) and value > 0 and upper_ok):
        interval = "(0, 1]" if allow_one else "(0, 1)"
        raise ValueError(f"{name} must be a fraction in {interval}, e.g. 0.8 for 80 %, got {value!r}")


# ---------------------------------------------------------------------------------------------- Erlang B and C


def erlang_b(servers: int, load: float) -> float:
    """Blocking probability of M/M/n/n (Erlang B) for `servers` servers and `load` Erlangs.

    B(0) = 1, B(k) = A·B(k−1) / (k + A·B(k−1)): every step is a ratio of numbers below k + A, so it neither
    overflows nor loses precision for hundreds or thousands of servers.
    """
    _require_servers(servers, minimum=0)
    _require_non_negative("load", load)
    blocking = 1.0
    for k in range(1, servers + 1):
        blocking = load * blocking / (k + load * blocking)
    return blocking


def _erlang_c_from_b(servers: int, load: float, blocking: float) -> float:
    if load == 0:
        return 0.0
    if servers <= load:
        return 1.0
    return servers * blocking / (servers - load * (1.0 - blocking))


def erlang_c(servers: int, load: float) -> float:
    """Probability that an arrival must wait in M/M/n (Erlang C): C = n·B / (n − A·(1 − B)).

    1.0 when servers ≤ load: the system is unstable and, in the long run, everyone waits.
    """
    return _erlang_c_from_b(servers, load, erlang_b(servers, load))


@dataclass(frozen=True, slots=True)
class ErlangC:
    """Steady-state performance of an M/M/n queue (rates per minute, times in minutes)."""

    servers: int
    arrival_rate: float  # λ, arrivals per minute
    aht: float  # mean handling time, minutes
    target_wait: float  # T of the service level, minutes
    load: float  # A = λ·AHT, Erlangs
    p_wait: float  # share of arrivals that wait at all
    service_level: float  # share of arrivals served within target_wait
    mean_wait: float  # ASA, minutes; inf when unstable
    mean_queue_length: float  # Lq, people waiting; inf when unstable
    occupancy: float  # busy servers ÷ servers

    @property
    def stable(self) -> bool:
        """Whether a steady state exists (servers > load)."""
        return self.load == 0 or self.servers > self.load

    def to_dict(self) -> dict[str, object]:
        """JSON-ready numbers (infinite waits become null), rounded to 6 decimals."""
        return {
            "servers": self.servers,
            "stable": self.stable,
            "p_wait": _rounded(self.p_wait),
            "service_level": _rounded(self.service_level),
            "mean_wait_min": _rounded(self.mean_wait),
            "mean_queue_length": _rounded(self.mean_queue_length),
            "occupancy": _rounded(self.occupancy),
        }


def _erlang_c(servers: int, arrival_rate: float, aht: float, target_wait: float, blocking: float) -> ErlangC:
    load = arrival_rate * aht
    p_wait = _erlang_c_from_b(servers, load, blocking)
    if load > 0 and servers <= load:
        return ErlangC(servers, arrival_rate, aht, target_wait, load, 1.0, 0.0, math.inf, math.inf, 1.0)
    drain = (servers - load) / aht  # rate at which the queue ahead of a waiting customer empties
    mean_wait = p_wait / drain if load > 0 else 0.0
    return ErlangC(
        servers=servers,
        arrival_rate=arrival_rate,
        aht=aht,
        target_wait=target_wait,
        load=load,
        p_wait=p_wait,
        service_level=1.0 - p_wait * math.exp(-drain * target_wait),
        mean_wait=mean_wait,
        mean_queue_length=arrival_rate * mean_wait,
        occupancy=load / servers,
    )


def evaluate_erlang_c(servers: int, arrival_rate: float, aht: float, target_wait: float) -> ErlangC:
    """Erlang C performance of `servers` servers for `arrival_rate` per minute and `aht` minutes per customer.

    P(wait) = C(n, A); SL(T) = 1 − C·exp(−(n − A)·T / AHT); ASA = C·AHT / (n − A); Lq = λ·ASA; occupancy A / n.
    """
    _require_servers(servers)
    _require_non_negative("arrival_rate", arrival_rate)
    _require_positive("aht", aht)
    _require_non_negative("target_wait", target_wait)
    return _erlang_c(servers, arrival_rate, aht, target_wait, erlang_b(servers, arrival_rate * aht))


# ---------------------------------------------------------------------------------------------- Erlang A


@dataclass(frozen=True, slots=True)
class ErlangA:
    """Steady-state performance of an M/M/n+M queue (exponential patience; rates per minute, times in minutes)."""

    servers: int
    arrival_rate: float  # λ, arrivals per minute
    aht: float  # mean handling time, minutes
    patience: float  # mean patience 1/θ, minutes
    target_wait: float  # T of the service level, minutes
    load: float  # A = λ·AHT, Erlangs (offered, before abandonment)
    p_wait: float  # share of arrivals that find every server busy
    p_abandon: float  # share of arrivals that leave before being served
    service_level: float  # share of arrivals served within target_wait (abandoned = not within)
    mean_wait: float  # minutes, over all arrivals, including the wait of those who left
    mean_queue_length: float  # people waiting
    occupancy: float  # busy servers ÷ servers

    def to_dict(self) -> dict[str, object]:
        """JSON-ready numbers, rounded to 6 decimals."""
        return {
            "servers": self.servers,
            "p_wait": _rounded(self.p_wait),
            "p_abandon": _rounded(self.p_abandon),
            "service_level": _rounded(self.service_level),
            "mean_wait_min": _rounded(self.mean_wait),
            "mean_queue_length": _rounded(self.mean_queue_length),
            "occupancy": _rounded(self.occupancy),
        }


@dataclass(frozen=True, slots=True)
class _Series:
    """S(y) = Σ_{j≥0} y^j / ((a+1)…(a+j)) in logs, with the j ≥ 1 part and the mean of j under the terms."""

    log_total: float  # log S
    log_tail: float  # log (S − 1): the j ≥ 1 terms, summed on their own to avoid cancellation
    mean_j: float  # Σ j·t_j / S


def _queue_series(a: float, y: float) -> _Series:
    """Sum the queue part of the Erlang A chain, t_j = y^j / ((a+1)…(a+j)) = π(n+j)/π(n).

    t_{j+1}/t_j = y/(a+j+1) falls with j, so the terms rise to a single peak at j* = ⌊y − a⌋ (0 if y ≤ a) and
    then fall ever faster. We start at the peak (log t_j* from lgamma), walk both ways multiplying ratios, and stop
    when the remaining terms, bounded by a geometric series with the current ratio, are below 1e-17 of the sum.
    """
    if y == 0:
        return _Series(0.0, -math.inf, 0.0)
    peak = max(0, math.floor(y - a))
    log_peak = peak * math.log(y) - (math.lgamma(a + peak + 1) - math.lgamma(a + 1)) if peak else 0.0
    total = 1.0  # sums are relative to t_peak
    tail = 1.0 if peak else 0.0  # the j ≥ 1 terms only
    weighted = float(peak)
    terms = 0
    term, j = 1.0, peak
    while True:  # rightwards: j = peak+1, peak+2, …
        ratio = y / (a + j + 1)
        term *= ratio
        j += 1
        total += term
        tail += term
        weighted += j * term
        terms += 1
        if ratio < 1 and term * ratio / (1 - ratio) < _EPS * total:
            break
        if terms > _MAX_TERMS:
            raise ValueError("Erlang A: patience is too long for this overload to sum; use a shorter patience")
    term, j = 1.0, peak
    while j > 0:  # leftwards: j = peak−1, …, 0
        term *= (a + j) / y
        j -= 1
        total += term
        if j >= 1:
            tail += term
        weighted += j * term
        terms += 1
        ratio = (a + j) / y  # the next step's ratio; smaller still further left
        if ratio < 1 and term * ratio / (1 - ratio) < _EPS * total:
            break
        if terms > _MAX_TERMS:
            raise ValueError("Erlang A: patience is too long for this overload to sum; use a shorter patience")
    return _Series(log_peak + math.log(total), log_peak + math.log(tail), weighted / total)


def _erlang_a(
    servers: int, arrival_rate: float, aht: float, patience: float, target_wait: float, blocking: float
) -> ErlangA:
    """Erlang A from the birth–death chain; `blocking` is Erlang B for (servers, load).

    With E = Σ_{k<n} π(k)/π(n) = 1/B − 1, S = S(y) and D = E + S (π(n)·D = 1):
      P(wait)    = S / D                              (PASTA: arrivals see time averages)
      Lq         = (Σ j·t_j) / D,   P(abandon) = θ·Lq / λ,   mean wait = Lq / λ
      SL(T)      = E/D + (nμ/λ)·[(S − 1) − f(T)·(S(y·e^{−θT}) − 1)] / D,
                   f(T) = exp(y·(1 − e^{−θT}) − nμT)
    The SL line is 1 − P(wait) plus ∫_0^T v(x)·e^{−θx} dx, the offered-wait density times the chance of still being
    there at x; integrating by parts (λ·e^{−θx}·f = f′ + nμ·f) and substituting u = e^{−θx} turns the integral
    into the same series with y shrunk to y·e^{−θT}. As θ → 0 every line tends to its Erlang C counterpart.
    """
    load = arrival_rate * aht
    if arrival_rate == 0:
        return ErlangA(servers, arrival_rate, aht, patience, target_wait, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0)
    mu, theta = 1.0 / aht, 1.0 / patience
    a, y = servers * mu / theta, arrival_rate / theta
    if blocking == 0:  # Erlang B underflowed: so many idle servers that nobody waits
        return ErlangA(servers, arrival_rate, aht, patience, target_wait, load, 0.0, 0.0, 1.0, 0.0, 0.0, load / servers)
    log_e = math.log1p(-blocking) - math.log(blocking) if blocking < 1 else -math.inf
    series = _queue_series(a, y)
    log_d = _log_add(log_e, series.log_total)
    p_wait = math.exp(series.log_total - log_d)
    p_idle_server = math.exp(log_e - log_d) if log_e > -math.inf else 0.0  # 1 − P(wait) without cancellation
    queue_length = series.mean_j * p_wait
    p_abandon = min(1.0, theta * queue_length / arrival_rate)

    log_f = y * -math.expm1(-theta * target_wait) - servers * mu * target_wait
    later = _queue_series(a, y * math.exp(-theta * target_wait))
    served_late = math.exp(series.log_tail - log_d) - math.exp(log_f + later.log_tail - log_d)
    service_level = p_idle_server + servers * mu / arrival_rate * served_late
    return ErlangA(
        servers=servers,
        arrival_rate=arrival_rate,
        aht=aht,
        patience=patience,
        target_wait=target_wait,
        load=load,
        p_wait=p_wait,
        p_abandon=p_abandon,
        service_level=min(1.0, max(0.0, service_level)),
        mean_wait=queue_length / arrival_rate,
        mean_queue_length=queue_length,
        occupancy=min(1.0, load * (1.0 - p_abandon) / servers),
    )


def evaluate_erlang_a(servers: int, arrival_rate: float, aht: float, patience: float, target_wait: float) -> ErlangA:
    """Erlang A performance of `servers` servers when waiting customers leave after an exponential `patience`.

    `arrival_rate` per minute; `aht`, `patience` (the mean, 1/θ) and `target_wait` in minutes.
    """
    _require_servers(servers)
    _require_non_negative("arrival_rate", arrival_rate)
    _require_positive("aht", aht)
    _require_positive("patience", patience)
    _require_non_negative("target_wait", target_wait)
    return _erlang_a(servers, arrival_rate, aht, patience, target_wait, erlang_b(servers, arrival_rate * aht))


def _log_add(x: float, y: float) -> float:
    """log(e^x + e^y) without overflow."""
    if x == -math.inf:
        return y
    if y == -math.inf:
        return x
    high, low = max(x, y), min(x, y)
    return high + math.log1p(math.exp(low - high))


# ---------------------------------------------------------------------------------------------- staffing search


def servers_for_target(  # noqa: PLR0913 - the queue's parameters and the target, each a keyword
    arrival_rate: float,
    aht: float,
    target_wait: float,
    service_level: float,
    *,
    patience: float | None = None,
    max_occupancy: float = 1.0,
    max_abandonment: float | None = None,
    min_servers: int = 1,
    max_servers: int = MAX_SERVERS,
) -> int:
    """The fewest servers with SL(target_wait) ≥ service_level (and occupancy ≤ max_occupancy).

    Erlang C without `patience`, Erlang A with it (mean patience in minutes). Rates per minute, times in minutes.
    With patience, `max_abandonment` also caps P(abandon): under overload people who leave shorten everyone
    else's wait, so an SL target alone can be met with a fifth of the hall walking out. Never fewer than
    `min_servers` (default 1: a service that is offered keeps a window). Raises ValueError when even `max_servers`
    do not meet the target. Exact: every candidate is evaluated, no square-root approximation (research §4.4 shows
    it off by one counter at small loads).
    """
    _require_non_negative("arrival_rate", arrival_rate)
    _require_positive("aht", aht)
    _require_non_negative("target_wait", target_wait)
    _require_fraction("service_level", service_level)
    _require_fraction("max_occupancy", max_occupancy, allow_one=True)
    if patience is not None:
        _require_positive("patience", patience)
    if max_abandonment is not None:
        if patience is None:
            raise ValueError("max_abandonment needs a patience: without one (Erlang C) nobody abandons")
        _require_fraction("max_abandonment", max_abandonment)
    _require_servers(min_servers, name="min_servers")
    _require_servers(max_servers, minimum=min_servers, name="max_servers")
    load = arrival_rate * aht
    blocking = erlang_b(min_servers, load)
    for servers in range(min_servers, max_servers + 1):
        if servers > min_servers:
            blocking = load * blocking / (servers + load * blocking)  # one more step of the Erlang B recursion
        metrics = _evaluate(servers, arrival_rate, aht, target_wait, patience, blocking)
        if _meets(metrics, service_level, max_occupancy, max_abandonment):
            return servers
    raise ValueError(
        f"no staffing up to {max_servers} servers reaches a service level of {service_level:g} within "
        f"{target_wait:g} min (load {load:g} Erlang)"
    )


def _meets(
    metrics: ErlangC | ErlangA, service_level: float, max_occupancy: float, max_abandonment: float | None
) -> bool:
    if metrics.service_level < service_level or metrics.occupancy > max_occupancy:
        return False
    if isinstance(metrics, ErlangC):
        return metrics.stable
    return max_abandonment is None or metrics.p_abandon <= max_abandonment


def _evaluate(
    servers: int, arrival_rate: float, aht: float, target_wait: float, patience: float | None, blocking: float
) -> ErlangC | ErlangA:
    if patience is None:
        return _erlang_c(servers, arrival_rate, aht, target_wait, blocking)
    return _erlang_a(servers, arrival_rate, aht, patience, target_wait, blocking)


# ---------------------------------------------------------------------------------------------- summary


@dataclass(frozen=True, slots=True)
class Staffing:
    """A staffing recommendation for one queue: how many servers, and what they and the current ones achieve."""

    model: Model
    arrivals_per_hour: float
    aht_min: float
    target_wait_min: float
    service_level_target: float
    patience_min: float | None
    max_occupancy: float
    max_abandonment: float | None
    recommended_servers: int
    recommended: ErlangC | ErlangA
    current: ErlangC | ErlangA | None  # the metrics at the current number of servers, when given

    @property
    def load(self) -> float:
        """Offered load, Erlangs: the average number of servers the work would keep busy."""
        return self.arrivals_per_hour / 60.0 * self.aht_min

    @property
    def current_meets_target(self) -> bool | None:
        """Whether the current servers already meet the target (None when the current number was not given)."""
        if self.current is None:
            return None
        return _meets(self.current, self.service_level_target, self.max_occupancy, self.max_abandonment)

    def to_dict(self) -> dict[str, object]:
        """The recommendation as JSON-ready data (keys name their units)."""
        return {
            "model": str(self.model),
            "inputs": {
                "arrivals_per_hour": self.arrivals_per_hour,
                "aht_min": self.aht_min,
                "target_wait_min": self.target_wait_min,
                "service_level": self.service_level_target,
                "patience_min": self.patience_min,
                "max_occupancy": self.max_occupancy,
                "max_abandonment": self.max_abandonment,
            },
            "load_erlang": _rounded(self.load),
            "recommended_servers": self.recommended_servers,
            "recommended": self.recommended.to_dict(),
            "current": None if self.current is None else self.current.to_dict(),
            "current_meets_target": self.current_meets_target,
        }


def recommend_staffing(  # noqa: PLR0913 - the queue's parameters and the target, each a keyword
    arrivals_per_hour: float,
    aht_min: float,
    target_wait_min: float,
    service_level: float,
    *,
    patience_min: float | None = None,
    current_servers: int | None = None,
    max_occupancy: float = 1.0,
    max_abandonment: float | None = None,
    max_servers: int = MAX_SERVERS,
) -> Staffing:
    """Recommend servers for "service_level of arrivals served within target_wait_min", hall units in.

    Erlang A when `patience_min` is given, Erlang C otherwise; `max_occupancy` and (Erlang A) `max_abandonment`
    are further caps, as in `servers_for_target`. With `current_servers`, also reports what the current staffing
    achieves, so a caller can say "open 2 more windows: SL now 0.60, then 0.88".
    """
    _require_non_negative("arrivals_per_hour", arrivals_per_hour)
    _require_positive("aht_min", aht_min)
    _require_non_negative("target_wait_min", target_wait_min)
    _require_fraction("service_level", service_level)
    _require_fraction("max_occupancy", max_occupancy, allow_one=True)
    if patience_min is not None:
        _require_positive("patience_min", patience_min)
    if max_abandonment is not None:
        if patience_min is None:
            raise ValueError("max_abandonment needs patience_min: without it (Erlang C) nobody abandons")
        _require_fraction("max_abandonment", max_abandonment)
    if current_servers is not None:
        _require_servers(current_servers, name="current_servers")
    rate = arrivals_per_hour / 60.0
    servers = servers_for_target(
        rate,
        aht_min,
        target_wait_min,
        service_level,
        patience=patience_min,
        max_occupancy=max_occupancy,
        max_abandonment=max_abandonment,
        max_servers=max_servers,
    )

    def measure(n: int) -> ErlangC | ErlangA:
        return _evaluate(n, rate, aht_min, target_wait_min, patience_min, erlang_b(n, rate * aht_min))

    return Staffing(
        model=Model.ERLANG_C if patience_min is None else Model.ERLANG_A,
        arrivals_per_hour=arrivals_per_hour,
        aht_min=aht_min,
        target_wait_min=target_wait_min,
        service_level_target=service_level,
        patience_min=patience_min,
        max_occupancy=max_occupancy,
        max_abandonment=max_abandonment,
        recommended_servers=servers,
        recommended=measure(servers),
        current=None if current_servers is None else measure(current_servers),
    )


def _rounded(value: float) -> float | None:
    return round(value, 6) if math.isfinite(value) else None


__all__ = [
    "MAX_SERVERS",
    "ErlangA",
    "ErlangC",
    "Model",
    "Staffing",
    "erlang_b",
    "erlang_c",
    "evaluate_erlang_a",
    "evaluate_erlang_c",
    "recommend_staffing",
    "servers_for_target",
]
