"""Facts and decisions: the live hall model, the rule language, alert/ticket lifecycles, staffing maths.

Pure: models in, decisions out, time injected. No asyncio, no I/O, nothing imported from `edge`.
"""
