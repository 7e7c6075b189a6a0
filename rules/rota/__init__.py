"""The hall's people (排班与技能): who can serve what (`skills`), when each pauses (`breaks`)
and how the day's plan stands live (`keeper`).

Owns the skills model and the break planner; pure, like the rest of `rules`. The tidal recommender
(rules/tidal/) asks the skills model whom it can send where; edge/ and the bench carry the break plan out.
"""

from rules.rota.breaks import BreakNeed, BreakPlan, BreakSettings, PlannedBreak, plan_breaks, plan_slots
from rules.rota.keeper import BreakEvent, BreakEventKind, BreakKeeper, BreakState, BreakStatus, HoldSettings
from rules.rota.skills import PostKind, SkillBook, SkillLearner, StaffSkills

__all__ = [
    "BreakEvent",
    "BreakEventKind",
    "BreakKeeper",
    "BreakNeed",
    "BreakPlan",
    "BreakSettings",
    "BreakState",
    "BreakStatus",
    "HoldSettings",
    "PlannedBreak",
    "PostKind",
    "SkillBook",
    "SkillLearner",
    "StaffSkills",
    "plan_breaks",
    "plan_slots",
]
