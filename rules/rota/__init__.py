"""The hall's people (排班与技能): who can serve what (`skills`) and when each pauses (`breaks`).

Owns the skills model and the break planner; pure, like the rest of `rules`. The tidal recommender
(rules/tidal/) asks the skills model whom it can send where; edge/ and the bench carry the break plan out.
"""

from rules.rota.breaks import BreakNeed, BreakPlan, BreakSettings, PlannedBreak, plan_breaks
from rules.rota.skills import PostKind, SkillBook, SkillLearner, StaffSkills

__all__ = [
    "BreakNeed",
    "BreakPlan",
    "BreakSettings",
    "PlannedBreak",
    "PostKind",
    "SkillBook",
    "SkillLearner",
    "StaffSkills",
    "plan_breaks",
]
