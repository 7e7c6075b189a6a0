"""The hall simulator: a scenario file in, contract-valid MQTT traffic out.

    scenario.py   the scenario YAML as validated pydantic models (`load_scenario`)
    model.py      a pure, deterministic discrete-event simulation of the hall (`HallSimulation`)
    publisher.py  plays a simulation's timeline onto a broker, one MQTT connection per device
    cli.py        `hallops simulate …`

Nothing here connects or spawns at import time; only `publisher` does I/O.
"""

from devices.simulator.model import HallSimulation, HallTruth, SimMessage
from devices.simulator.scenario import Scenario, load_scenario

__all__ = ["HallSimulation", "HallTruth", "Scenario", "SimMessage", "load_scenario"]
