// The UI's words in Chinese (default) and English. Keys are stable; t(key, vars) fills {name} placeholders.
const zh = {
  skip: "跳到内容", loading: "加载中…", logout: "退出", login: "登录", user: "用户名", password: "密码",
  signIn: "登录", wrongLogin: "用户名或密码错误", signInTitle: "登录 hallops", openMode: "未配置用户：本机访问即管理员",
  nav_floor: "大厅", nav_wall: "大屏", nav_tech: "工单", nav_admin: "管理", nav_reports: "报表",
  role_manager: "大厅负责人", role_technician: "运维", role_administrator: "管理员",
  live_on: "实时", live_off: "重新连接中…", forbidden: "当前角色无权访问此页面",
  // KPIs
  kpis: "今日指标", sl: "{n}分钟内叫号率", p95: "P95 等待", noShow: "过号率", util: "窗口利用率",
  kiosk: "自助终端", kioskSessions: "{n} 次，成功 {pct}", avail: "设备可用率", satisfaction: "满意度",
  ratings: "{n} 条评价", issued: "取号", served: "办结", waitingNow: "等待人数", longestNow: "最长等待",
  // floor
  floor: "大厅平面", legend: "图例", area: "{name}区", otherArea: "其他",
  ws_serving: "办理中", ws_idle: "空闲", ws_idle_waiting: "空闲·有人等", ws_paused: "暂停", ws_closed: "关闭",
  ws_offline: "离线", ws_nostaff: "无人在岗", noTicket: "—", staff: "工作人员", forMin: "{n} 分钟",
  queues: "排队（按业务）", service: "业务", waiting: "等待", longest: "最长等待", projected: "预计等待",
  capable: "可办窗口", arrivals15: "近15分钟取号", noWindow: "无可办窗口", minutes: "{n} 分",
  zones: "区域人数", zone: "区域", people: "人数", noZones: "无摄像头数据",
  devices: "设备状况", deviceHealthy: "{ok}/{n} 台设备正常", device: "设备", type: "类型", health: "状态",
  problems: "问题", location: "位置", lastSeen: "最后上报", allHealthy: "全部设备正常",
  dt_ticket_machine: "取号机", dt_window: "窗口终端", dt_call_screen: "叫号屏", dt_kiosk: "自助终端",
  dt_evaluator: "评价器", dt_camera: "摄像头", dt_qms: "排队系统",
  h_ok: "正常", h_degraded: "需关注", h_fault: "故障", h_offline: "离线", h_unknown: "未知",
  // alerts
  alerts: "告警", noAlerts: "暂无告警", noAlarms: "暂无需处理的告警", prompts: "现场提示 {n} 条（差评、求助、过号等）", ack: "确认", acked: "已确认（{by}）", silence: "静默",
  silenceFor: "静默时长", silenceWhy: "原因", silenceOk: "静默", cancel: "取消", evidence: "依据",
  st_firing: "告警中", st_pending: "待定", st_acknowledged: "已确认", st_resolved: "已恢复",
  sev_critical: "紧急", sev_major: "重要", sev_warning: "提示", sev_info: "信息", muted: "已静默",
  escalated: "已升级 {n} 级",
  // tidal
  tidal: "潮汐窗口建议", noRecs: "暂无建议", approve: "批准", reject: "驳回", rejectWhy: "驳回原因",
  rec_open: "开放 {n} 个窗口", rec_close: "关闭窗口", windowsList: "窗口", staffList: "人员", serves: "可办业务",
  recNow: "现等待 {w} 人，预计等待 {p}", recLate: "超时人数 {a} → {b}", recErlang: "稳态需 {n} 个窗口（{model}）",
  recExpires: "{t} 前有效", approved: "已批准", rejected: "已驳回",
  // charts
  charts: "今日趋势", chWaiting: "全天等待人数", chArrivals: "取号量与预测（每15分钟）", chWaits: "各业务等待时长分布",
  actual: "实际", forecast: "预测", noData: "暂无数据", bucketUpTo: "≤{n}分", bucketOver: ">{n}分",
  // technician
  myTickets: "我的工单", unassigned: "待接单", otherTickets: "其他进行中", noTickets: "暂无工单",
  t_open: "待响应", t_acknowledged: "已响应", t_in_progress: "处理中", t_resolved: "已解决", t_closed: "已关闭",
  ackDue: "响应时限 {t}", resolveDue: "解决时限 {t}", overdue: "已超时", priority: "优先级",
  tAcknowledge: "响应", tStart: "开始处理", tResolve: "解决", note: "处理说明", noteNeeded: "请填写处理说明",
  recent: "最近上报", history: "故障历史", details: "详情", opened: "创建于 {t}", tDevice: "设备 {d}",
  // admin
  adminDevices: "设备登记", adminRules: "规则", adminUsers: "用户", rulesInForce: "生效规则",
  ruleYaml: "规则 YAML", ruleFileToCheck: "规则文件（当前生效内容，可修改后校验）", validate: "校验", valid: "校验通过：{n} 条规则", invalid: "发现 {n} 个问题",
  line: "第 {n} 行", enabled: "启用", severity: "级别", kind: "类型", subject: "对象", description: "说明",
  name: "姓名", role: "角色", userSource: "来源", source_config: "配置文件", source_database: "数据库", auditLog: "审计日志", auditIntact: "哈希链完整：没有记录被修改或删除",
  auditBroken: "哈希链断裂：发现 {n} 处修改或删除", auditWhen: "时间", auditAction: "操作", auditSubject: "对象", rulesNote: "校验只检查不生效；“保存为新版本”存为不可修改的新版本，启用、影子运行与回测在“规则版本”和“回测”中进行。",
  // rule versions, shadow, backtest
  ruleVersions: "规则版本", vNumber: "版本", vCreated: "创建时间", vAuthor: "作者", vComment: "备注", vRules: "规则数",
  vActions: "操作", vActive: "在用", vShadow: "影子", inForce: "当前生效", vDiff: "查看差异", vActivate: "启用",
  vShadowRun: "影子运行", vBacktest: "回测", vDiffN: "查看差异：版本 {n}", vActivateN: "启用版本 {n}",
  vShadowRunN: "影子运行版本 {n}", vBacktestN: "回测版本 {n}", rollback: "回滚到上一版本",
  activations: "最近启用记录", noActivations: "暂无启用记录", vKind: "操作", vBy: "操作人",
  ak_activate: "启用", ak_rollback: "回滚", ak_promote: "影子转正", ak_shadow: "影子运行", ak_shadow_off: "停止影子",
  diffTitle: "版本 {new} 与版本 {old}（在用）的差异", dAdded: "新增规则", dRemoved: "删除规则", dChanged: "修改规则",
  dSettings: "时段或抑制设置也有变化", unifiedDiff: "YAML 差异", noDiff: "内容相同", none: "无",
  askActivate: "启用版本 {n}", askShadow: "影子运行版本 {n}（只评估，不告警、不派单）", askRollback: "回滚到上一个生效版本",
  askComment: "备注（记入审计日志）", activated: "版本 {n} 已启用", shadowStarted: "版本 {n} 开始影子运行",
  rolledBack: "已回滚，版本 {n} 生效", promoted: "影子版本 {n} 已转为在用", shadowStopped: "影子运行已停止",
  versionComment: "版本备注", saveVersion: "保存为新版本", versionSaved: "已保存为版本 {n}",
  versionExists: "内容与版本 {n} 相同，未新建版本", notSaved: "未保存：发现 {n} 个问题",
  shadowTitle: "影子运行", shadowSince: "版本 {n} 自 {t} 起影子运行", shadowSame: "与在用版本触发相同",
  shadowDiffers: "与在用版本触发不同", perRule: "各规则触发次数", ruleCol: "规则", colActive: "在用版本",
  colShadow: "影子版本", colCandidate: "候选版本", colBoth: "两者都触发", colOnlyActive: "仅在用触发",
  colOnlyCandidate: "仅候选触发", noFirings: "期间没有告警触发", onlyShadow: "仅影子版本会触发",
  onlyActive: "仅在用版本触发", onlyCandidate: "仅候选版本会触发", shadowFiring: "影子版本当前告警中：{list}",
  promoteComment: "转正备注", promote: "转为在用", stopShadow: "停止影子",
  backtest: "回测", btNote: "用记录的设备事件重放一段时间，比较候选版本与在用版本会触发的告警、工单与建议（只计算，不生效）。时间为大厅时间。",
  btFrom: "开始", btTo: "结束", btCandidate: "候选", optActive: "版本 {n}（在用）", optVersion: "版本 {n} {c}",
  optEditor: "编辑器中的规则文本", btRun: "运行回测", btRunning: "回测中…", btDone: "回测完成，用时 {s} 秒",
  btBusy: "另一个回测正在运行，请稍后再试", btSummary: "{from} 至 {to}：{events} 条事件，用时 {s} 秒（{eps} 条/秒）",
  btSame: "两版本结果相同", btDiffers: "两版本结果不同", btTotals: "合计", btAlerts: "告警", btTickets: "工单",
  btRecs: "潮汐建议",
  usersNote: "用户由 hallops users add|remove --db 管理（或写在配置文件的 users: 段）；API 令牌用 hallops tokens create。",
  // reports
  reports: "报表", day: "日期", daily: "日报", hourly: "分时报表", downloadCsv: "下载 CSV", print: "打印",
  hall: "全厅", hour: "时段", cancelled: "取消", waitMean: "平均等待", waitMax: "最长等待",
  // wall
  wallTitle: "实时大屏", wallWaiting: "等待人数", wallOpen: "开放窗口",
};

const en = {
  skip: "Skip to content", loading: "Loading…", logout: "Sign out", login: "Sign in", user: "User name",
  password: "Password", signIn: "Sign in", wrongLogin: "Wrong user name or password", signInTitle: "Sign in to hallops",
  openMode: "No users configured: this machine has administrator access",
  nav_floor: "Floor", nav_wall: "Wall", nav_tech: "Tickets", nav_admin: "Admin", nav_reports: "Reports",
  role_manager: "hall manager", role_technician: "technician", role_administrator: "administrator",
  live_on: "live", live_off: "reconnecting…", forbidden: "Your role cannot open this page",
  kpis: "Today", sl: "Called within {n} min", p95: "P95 wait", noShow: "No-show", util: "Window utilisation",
  kiosk: "Kiosks", kioskSessions: "{n} sessions, {pct} succeeded", avail: "Device availability",
  satisfaction: "Satisfaction", ratings: "{n} ratings", issued: "Issued", served: "Served", waitingNow: "Waiting",
  longestNow: "Longest wait",
  floor: "Hall floor", legend: "Legend", area: "{name}", otherArea: "Other",
  ws_serving: "serving", ws_idle: "idle", ws_idle_waiting: "idle, people waiting", ws_paused: "paused",
  ws_closed: "closed", ws_offline: "offline", ws_nostaff: "no staff on camera", noTicket: "—", staff: "Staff",
  forMin: "{n} min",
  queues: "Queues by service", service: "Service", waiting: "Waiting", longest: "Longest wait",
  projected: "Projected wait", capable: "Open windows", arrivals15: "Tickets, last 15 min", noWindow: "no open window",
  minutes: "{n} min", zones: "People per zone", zone: "Zone", people: "People", noZones: "No camera data",
  devices: "Device health", deviceHealthy: "{ok} of {n} devices healthy", device: "Device", type: "Type",
  health: "Health", problems: "Problems", location: "Location", lastSeen: "Last seen", allHealthy: "All devices healthy",
  dt_ticket_machine: "ticket machine", dt_window: "window terminal", dt_call_screen: "call screen", dt_kiosk: "kiosk",
  dt_evaluator: "rating pad", dt_camera: "camera", dt_qms: "queue system",
  h_ok: "ok", h_degraded: "degraded", h_fault: "fault", h_offline: "offline", h_unknown: "unknown",
  alerts: "Alerts", noAlerts: "No alerts", noAlarms: "No alarms to handle",
  prompts: "{n} floor prompts (bad ratings, help requests, missed numbers…)", ack: "Acknowledge", acked: "acknowledged by {by}", silence: "Silence",
  silenceFor: "Silence for", silenceWhy: "Why", silenceOk: "Silence", cancel: "Cancel", evidence: "Evidence",
  st_firing: "firing", st_pending: "pending", st_acknowledged: "acknowledged", st_resolved: "resolved",
  sev_critical: "critical", sev_major: "major", sev_warning: "warning", sev_info: "info", muted: "silenced",
  escalated: "escalated {n}×",
  tidal: "Tidal window recommendations", noRecs: "No recommendations", approve: "Approve", reject: "Reject",
  rejectWhy: "Why reject", rec_open: "Open {n} window(s)", rec_close: "Close window", windowsList: "Windows",
  staffList: "Staff", serves: "Serves", recNow: "{w} waiting, projected wait {p}", recLate: "late tickets {a} → {b}",
  recErlang: "steady state needs {n} windows ({model})", recExpires: "valid until {t}", approved: "approved",
  rejected: "rejected",
  charts: "Today's trends", chWaiting: "People waiting over the day", chArrivals: "Tickets vs forecast (per 15 min)",
  chWaits: "Wait distribution per service", actual: "actual", forecast: "forecast", noData: "No data yet",
  bucketUpTo: "≤{n} min", bucketOver: ">{n} min",
  myTickets: "My tickets", unassigned: "Unassigned", otherTickets: "Others in progress", noTickets: "No tickets",
  t_open: "open", t_acknowledged: "acknowledged", t_in_progress: "in progress", t_resolved: "resolved",
  t_closed: "closed", ackDue: "respond by {t}", resolveDue: "resolve by {t}", overdue: "overdue", priority: "Priority",
  tAcknowledge: "Acknowledge", tStart: "Start work", tResolve: "Resolve", note: "What was done",
  noteNeeded: "Say what was done", recent: "Recent messages", history: "Fault history", details: "Details",
  opened: "opened {t}", tDevice: "device {d}",
  adminDevices: "Device registry", adminRules: "Rules", adminUsers: "Users", rulesInForce: "Rules in force",
  ruleYaml: "Rule YAML", ruleFileToCheck: "Rule file (the rules in force; edit and validate)", validate: "Validate", valid: "Valid: {n} rules", invalid: "{n} problem(s)", line: "line {n}",
  enabled: "Enabled", severity: "Severity", kind: "Kind", subject: "Subject", description: "Description",
  name: "Name", role: "Role", userSource: "Source", source_config: "config file", source_database: "database",
  auditLog: "Audit log", auditIntact: "Hash chain intact: no row edited or deleted",
  auditBroken: "Hash chain broken: {n} edit(s) or deletion(s) found", auditWhen: "When", auditAction: "Action",
  auditSubject: "Subject",
  rulesNote: "Validation does not apply anything; “Save as new version” stores an immutable version, which you activate, run in shadow or backtest under Rule versions and Backtest.",
  ruleVersions: "Rule versions", vNumber: "Version", vCreated: "Created", vAuthor: "Author", vComment: "Comment",
  vRules: "Rules", vActions: "Actions", vActive: "active", vShadow: "shadow", inForce: "in force", vDiff: "View diff",
  vActivate: "Activate", vShadowRun: "Shadow", vBacktest: "Backtest", vDiffN: "View diff of version {n}",
  vActivateN: "Activate version {n}", vShadowRunN: "Shadow version {n}", vBacktestN: "Backtest version {n}",
  rollback: "Roll back to the previous version", activations: "Recent activations", noActivations: "No activations yet",
  vKind: "What", vBy: "By", ak_activate: "activate", ak_rollback: "rollback", ak_promote: "promote shadow",
  ak_shadow: "shadow", ak_shadow_off: "shadow stopped",
  diffTitle: "Version {new} against version {old} (active)", dAdded: "Rules added", dRemoved: "Rules removed",
  dChanged: "Rules changed", dSettings: "Schedules or inhibitions changed too", unifiedDiff: "YAML diff",
  noDiff: "Same content", none: "None",
  askActivate: "Activate version {n}", askShadow: "Run version {n} in shadow (evaluated only: no alerts, no tickets)",
  askRollback: "Roll back to the version in force before", askComment: "Comment (kept in the audit log)",
  activated: "Version {n} is active", shadowStarted: "Version {n} runs in shadow", rolledBack: "Rolled back: version {n} is active",
  promoted: "Shadow version {n} is now active", shadowStopped: "Shadow stopped",
  versionComment: "Version comment", saveVersion: "Save as new version", versionSaved: "Version {n} saved",
  versionExists: "Already version {n}: nothing new saved", notSaved: "Not saved: {n} problem(s)",
  shadowTitle: "Shadow run", shadowSince: "Version {n} in shadow since {t}", shadowSame: "fires as the active version",
  shadowDiffers: "fires differently from the active version", perRule: "Firings per rule", ruleCol: "Rule",
  colActive: "Active", colShadow: "Shadow", colCandidate: "Candidate", colBoth: "Both", colOnlyActive: "Only active",
  colOnlyCandidate: "Only candidate", noFirings: "No alert fired in the period",
  onlyShadow: "Would fire only in shadow", onlyActive: "Fired only in the active version",
  onlyCandidate: "Would fire only with the candidate", shadowFiring: "Firing in shadow now: {list}",
  promoteComment: "Promotion comment", promote: "Promote", stopShadow: "Stop shadow",
  backtest: "Backtest", btNote: "Replays the recorded device events of a period and compares the alerts, tickets and recommendations of a candidate with the active version (computed only, nothing applied). Times are hall time.",
  btFrom: "From", btTo: "To", btCandidate: "Candidate", optActive: "version {n} (active)", optVersion: "version {n} {c}",
  optEditor: "the rule text in the editor", btRun: "Run backtest", btRunning: "Backtest running…",
  btDone: "Backtest done in {s} s", btBusy: "Another backtest is running; try again when it is done",
  btSummary: "{from} to {to}: {events} events in {s} s ({eps} events/s)", btSame: "same result",
  btDiffers: "the versions differ", btTotals: "Totals", btAlerts: "Alerts", btTickets: "Tickets",
  btRecs: "Tidal recommendations",
  usersNote: "Users are managed with hallops users add|remove --db (or listed in the config's users:); API tokens with hallops tokens create.",
  reports: "Reports", day: "Day", daily: "Daily report", hourly: "Hourly report", downloadCsv: "Download CSV",
  print: "Print", hall: "Whole hall", hour: "Hour", cancelled: "Cancelled", waitMean: "Mean wait",
  waitMax: "Longest wait",
  wallTitle: "Live wall", wallWaiting: "Waiting", wallOpen: "Windows open",
};

const WORDS = { zh, en };
let lang = localStorage.getItem("hallops.lang") === "en" ? "en" : "zh";

export function language() { return lang; }

export function setLanguage(next) {
  lang = next === "en" ? "en" : "zh";
  localStorage.setItem("hallops.lang", lang);
  document.documentElement.lang = lang === "en" ? "en" : "zh-CN";
}

export function t(key, vars) {
  let text = WORDS[lang][key] ?? WORDS.zh[key] ?? key;
  if (vars) for (const [k, v] of Object.entries(vars)) text = text.replaceAll(`{${k}}`, String(v));
  return text;
}

// A name from the config in the current language: `name` is Chinese, `name_en` English.
export function named(thing, fallback) {
  if (!thing) return fallback ?? "";
  return (lang === "en" ? thing.name_en || thing.name : thing.name || thing.name_en) || fallback || "";
}
