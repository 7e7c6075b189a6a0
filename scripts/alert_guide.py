"""Write "What each alert means and what to do" of docs/operator.md from the built-in rule pack and the guidance here.

.venv/bin/python scripts/alert_guide.py          # rewrite the generated part of docs/operator.md
.venv/bin/python scripts/alert_guide.py --check  # exit 1 if it is stale, or a rule of the pack has no guidance here
                                                 # (or guidance names a rule the pack no longer has); the tests run this

The rule's id, its title on the screen (zh, en), severity, who is told and when it escalates come from the pack
(rules/pack/builtin.yaml), so they cannot drift; what it means in plain words and what the manager or technician
does are written here, one entry per rule.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

from generated_section import update  # noqa: E402

from rules.language import Rule, builtin_rules  # noqa: E402

DOC = ROOT / "docs" / "operator.md"
BEGIN, END = "<!-- BEGIN generated: scripts/alert_guide.py -->", "<!-- END generated -->"

ROLES = {
    "hall_manager": "hall manager 值班长",
    "director": "director 中心主任",
    "floor_guide": "floor guide 导办员",
    "technician": "technician 运维",
    "window_staff": "window staff 窗口人员",
    "security": "security 安保",
    "citizen": "the ticket's holder 办事群众 (SMS)",
    "administrator": "administrator 管理员",
}
SEVERITY = {"critical": "critical 紧急", "major": "major 重要", "warning": "warning 一般", "info": "info 提示"}

# rule id -> (what it means, in plain words; what to do). Keep each to a few sentences: the table is read on a phone.
GUIDE: dict[str, tuple[str, str]] = {
    "wait-30": (
        "Someone has held a ticket for 30 minutes and is still waiting.",
        "Floor guide: find the person (the ticket number is in the alert), say how long it will be, check they are in "
        "the right queue and have their documents ready (容缺受理 if one is missing).",
    ),
    "wait-45": (
        "A ticket has waited 45 minutes; the director is told 15 minutes later if nobody acknowledges it.",
        "Manager: acknowledge it (确认) to take it, then open a window for that service (a tidal recommendation may "
        "already be on the page) or move a clerk from a quiet service.",
    ),
    "wait-60": (
        "A ticket has waited an hour — the complaint halls hear most (排队超1小时).",
        "Manager: open a window for the service now (Approve the tidal card, or Assign a window); apologise to the "
        "person; note the cause for the day report.",
    ),
    "tidal-open": (
        "The projected wait for a service has been 15 minutes or more for 2 minutes: one more window would bring it "
        "down.",
        "Manager: read the tidal card (窗口 / staff / wait now → after) and press Approve (批准), or Reject (驳回) "
        "with a reason. Unanswered for 10 minutes, it goes to the director.",
    ),
    "tidal-close": (
        "(Off in the built-in pack.) The wait has stayed under 5 minutes for 15 minutes with two or more windows open.",
        "Manager: approve closing the tidal window, and send the clerk back to their own service.",
    ),
    "queue-without-window": (
        "People are waiting for a service that no open window serves — often over lunch (午间空岗).",
        "Manager: call the AB partner (B岗) the recommendation names, or open a window that serves the service.",
    ),
    "arrival-surge": (
        "Tickets are coming in at twice the rate of the last 45 minutes (突发高峰).",
        "Manager: expect longer waits soon; send a floor guide or the mobile post (流动岗) to the queue, and watch for "
        "the tidal card.",
    ),
    "no-show-rate-high": (
        "More than 1 in 10 numbers called in the last hour did not come (过号/漏听).",
        "Manager: check that the call screens and the broadcast work and can be heard in the waiting area; technician: "
        "check the call screens' volume and the PA.",
    ),
    "idle-window-nudge": (
        "An open window has called nobody for 3 minutes while people wait for its services (窗口闲置).",
        "Nothing for the manager: the window's terminal gets a reminder. The clerk calls the next number.",
    ),
    "idle-window-manager": (
        "The same window has been idle for 10 minutes with people waiting.",
        "Manager: go to the window or call the clerk; if they are away, pause the window in the queue system so the "
        "numbers go elsewhere.",
    ),
    "pause-overlong": (
        "A window has been paused for more than 20 minutes in opening hours (暂停过长).",
        "Manager: ask why; end the pause or have the AB partner cover it.",
    ),
    "window-not-open-on-time": (
        "A window with its own hours (lunch, evening or weekend service, 延时服务) is still not open 5 minutes in.",
        "Manager: call the clerk on that shift or its AB partner; if the service is cancelled, tell the floor guides.",
    ),
    "empty-post": (
        "The window is open, but the camera has seen nobody in the clerk's seat for 5 minutes (空岗).",
        "Manager: check the window; if the clerk left, pause the window. If someone is there, the camera's seat zone "
        "is wrong: ask IT to check it (`hallops vision snapshot`).",
    ),
    "abnormal-handling-time": (
        "One ticket has been at a counter for over 30 minutes and three times the service's usual time (异常办件).",
        "Manager: go and see whether the clerk needs help (a difficult case, a system problem, a dispute).",
    ),
    "rating-participation-low": (
        "Fewer than 60% of today's services at a window were rated (评价器流于形式).",
        "Manager: remind the clerk to invite a rating; technician: check the rating pad is on and connected.",
    ),
    "call-unanswered": (
        "A number was called a minute ago and nobody came to the counter.",
        "Nothing to do: the number is called again on the window screen, every call screen, the broadcast and by SMS "
        "where the queue system has a phone (三维提醒). A floor prompt (现场提示) on the page.",
    ),
    "missed-ticket": (
        "A number was called three times and its holder did not come (漏号).",
        "Floor guide: when the person turns up, check their ID and send them to the green channel (二次办理绿色通道).",
    ),
    "call-system-down": (
        "Half or more of the call screens are offline (叫号系统故障): people cannot see their number called.",
        "Manager: call numbers by voice / the PA now. Technician: a P1 fault ticket is open — check the screens' power "
        "and network, then the queue system.",
    ),
    "gateway-storage-error": (
        "hallops itself cannot write to its database: the disk is full, another program holds it, or the disk fails. "
        "It keeps the devices' messages at the broker and loses nothing while this lasts.",
        "IT / technician: `df -h /var/lib/hallops`, free space; stop any other process using the file; then "
        "[troubleshooting.md](troubleshooting.md#the-gateways-database). It recovers by itself once the cause is gone.",
    ),
    "gateway-disk-budget": (
        "hallops' database (the file and its -wal) uses 80 % of the disk it may use (`storage.disk_budget_mb`; "
        "backups beside it are not counted). Nothing is lost yet; at 100 % the oldest events are deleted to stay "
        "within it.",
        "IT: raise `storage.disk_budget_mb` if the disk has room, or shorten `storage.retention_days` — "
        "[deploy.md](deploy.md#sizing-the-disk). `/api/health` shows the `disk` section.",
    ),
    "gateway-disk-critical": (
        "hallops' database uses 95 % of its disk budget: the oldest events (the device log) are being deleted to "
        "stay within it, so reports and backtests reach back fewer days. Tickets, the audit log and what waits for "
        "the cloud are never deleted for space.",
        "IT: raise `storage.disk_budget_mb` if the disk has room; `/api/health` says how many "
        "events were deleted (`disk.budget_pruned`) and how far back the log goes.",
    ),
    "broker-session-lost": (
        "The message broker restarted without what it held for hallops: messages sent while hallops was away may be "
        "lost (the numbers on the page can be short for that time).",
        "IT: check mosquitto's persistence (`persistence true`, its data file) — "
        "[troubleshooting.md](troubleshooting.md#the-broker).",
    ),
    "device-offline": (
        "A device (ticket machine, call screen, kiosk, window terminal, rating pad, camera) said goodbye or has missed "
        "three heartbeats.",
        "Technician: a fault ticket is open; check the device's power and network cable, then that it can reach the "
        "broker (its password, the CA). Unacknowledged for 15 minutes, the manager is told.",
    ),
    "ticket-machines-down": (
        "No ticket machine can issue tickets (取号中断): nobody new can queue.",
        "Manager: hand out numbers by hand or from the counter, at once. Technician: paper, power, network of each "
        "machine.",
    ),
    "printer-paper-low": (
        "A ticket machine or kiosk printer is low on paper.",
        "Floor guide: put in a new roll before it runs out (a P3 ticket records it).",
    ),
    "printer-paper-out": (
        "A printer is out of paper or jammed: that machine prints no tickets or receipts.",
        "Floor guide: new roll, or clear the jam; technician if it does not come back.",
    ),
    "call-screen-blank": (
        "A call screen shows nothing, has no signal or is frozen (叫号屏黑屏).",
        "Nothing at first: hallops restarts it. If the alert stays, technician: the fault ticket — power, HDMI, the "
        "screen's player.",
    ),
    "kiosk-error-burst": (
        "A kiosk reported five or more errors in 15 minutes.",
        "Technician: hallops runs the kiosk's remote self-test (线上测试); read its result in the device's page and "
        "the ticket; take the kiosk out of service if it keeps failing.",
    ),
    "kiosk-abandon-high": (
        "More than 30% of a kiosk's sessions in the last hour were abandoned: people give up on it.",
        "Floor guide: the self-service coach (自助服务辅导员) goes to the kiosk and helps.",
    ),
    "kiosk-low-utilisation": (
        "An online kiosk had no session for two hours of opening time (自助终端使用率低).",
        "Manager: is it in the right place, switched to the right screen, signposted? Nothing urgent.",
    ),
    "kiosk-help-requested": (
        "Someone pressed the help button on a kiosk (自助服务辅导).",
        "Floor guide: go to the kiosk. Acknowledging it on the page ends it.",
    ),
    "command-unacknowledged": (
        "A device did not confirm a command (a nudge, a restart, a call) after every re-send: it may not be listening.",
        "Technician: check the device is online and subscribed; restart it. A fault ticket is open.",
    ),
    "command-failed": (
        "A device answered that it could not carry out a command (指令执行失败).",
        "Technician: the alert says which command and the device's reason; fix that, or do the action by hand.",
    ),
    "bad-rating": (
        "A citizen gave a rating of 1 or 2 (差评): a rectification ticket (整改) is open, to be revisited in 2 working "
        "days.",
        "Manager: 差评整改 on the page — Start (开始整改), find out what happened, revisit the citizen (回访), then "
        "Rectified (已整改回访) with a note.",
    ),
    "crowding": (
        "A camera zone holds more people than it should (拥挤).",
        "Manager and security: spread people to other waiting areas, open a window, stop letting people into the zone.",
    ),
    "camera-vs-tickets": (
        "Ten or more tickets are waiting but the cameras count nobody for 10 minutes: either people left without "
        "cancelling, or a camera no longer sees.",
        "Manager: look at the waiting area. Nobody there: the tickets are stale (call them through). People there: "
        "technician checks the cameras (`hallops vision snapshot`).",
    ),
}


def _who(rule: Rule) -> str:
    told: list[str] = []
    for action in rule.then:
        if action.alert is not None:
            told += [ROLES.get(r, r) for r in action.alert.to if ROLES.get(r, r) not in told]
    out = ", ".join(told) or "—"
    for step in rule.escalate:
        out += f"; after {int(step.after.total_seconds() // 60)} min: " + ", ".join(ROLES.get(r, r) for r in step.to)
    tickets = [a.ticket for a in rule.then if a.ticket is not None]
    if tickets:
        out += "; opens a ticket" + (f" ({tickets[0].priority})" if tickets[0].priority != "auto" else "")
    return out


def problems() -> list[str]:
    """Rules without guidance here, and guidance for rules the pack does not have."""
    ids = [r.id for r in builtin_rules().rules]
    return [
        f"no guidance for the rule {i!r}: add it to GUIDE in scripts/alert_guide.py" for i in ids if i not in GUIDE
    ] + [f"guidance for {i!r}, which the built-in pack does not have" for i in GUIDE if i not in ids]


def render() -> str:
    lines = [
        BEGIN,
        "",
        "| rule | on the screen | severity | who is told | what it means | what to do |",
        "|---|---|---|---|---|---|",
    ]
    for rule in builtin_rules().rules:
        meaning, action = GUIDE.get(rule.id, ("", ""))
        title = f"{rule.title.zh} / {rule.title.en}" if rule.title is not None else ""
        off = " (off)" if not rule.enabled else ""
        lines.append(
            f"| `{rule.id}`{off} | {title} | {SEVERITY.get(rule.severity, rule.severity)} | {_who(rule)} "
            f"| {meaning} | {action} |"
        )
    lines += ["", END]
    return "\n".join(lines)


def main() -> int:
    if missing := problems():
        for line in missing:
            print(line, file=sys.stderr)
        return 1
    return update(DOC, BEGIN, END, render, "scripts/alert_guide.py")


if __name__ == "__main__":
    raise SystemExit(main())
