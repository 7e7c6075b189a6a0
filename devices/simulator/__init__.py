"""The hall simulator: a scenario file in, contract-valid MQTT traffic out.

    scenario.py   the scenario YAML as validated pydantic models (`load_scenario`)
    model.py      a pure, deterministic discrete-event simulation of the hall (`HallSimulation`)
    publisher.py  plays a simulation's timeline onto a broker, one MQTT connection per device
    cli.py        `hallops simulate …`

Nothing here connects or spawns at import time; only `publisher` does I/O. Other packages import from
`devices.simulator` only what `__all__` names.
"""

from devices.simulator.model import HallSimulation, HallTruth, SimMessage, day_bounds
from devices.simulator.publisher import run_simulation
from devices.simulator.scenario import Scenario, ZoneKind, load_scenario
from devices.simulator.scenario import Window as ScenarioWindow

__all__ = [
    "HallSimulation",
    "HallTruth",
    "Scenario",
    "ScenarioWindow",
    "SimMessage",
    "ZoneKind",
    "day_bounds",
    "load_scenario",
    "run_simulation",
]
