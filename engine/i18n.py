"""Messages in Simplified Chinese and English, one mechanism for the whole product.

The catalogue is keyed by the English text, so a missing entry still reads well.
``gettext("Inbox")`` gives the text in the current locale: the web sets it per request (the
signed-in user's choice, else config ``locale``), the API from ``Accept-Language``, the CLI
from config. Errors raised by the engine carry text translated the same way, so an engine
message reaches the Chinese UI in Chinese. Placeholders use ``str.format`` names:
``gettext("{n} tasks", n=3)``.
"""

from __future__ import annotations

from collections.abc import Mapping
from contextvars import ContextVar
from datetime import UTC, datetime, tzinfo
from typing import Any, TypedDict

LOCALES = ("zh", "en")

# English text -> Chinese text. English is the key, so a missing entry still reads well.
ZH: dict[str, str] = {
    # Messages of the engine (runtime and application layer) that reach people.
    "task '{title}' is claimed by {user}; ask them to release it or a supervisor to reassign it":
        "任务“{title}”已由 {user} 领取；请其释放，或请主管转派",
    "task '{title}' is for role '{role}' ({id}); you do not hold that role":
        "任务“{title}”属于角色“{role}”（{id}）；您不担任该角色",
    "you may not start '{title}': it is started by {roles}": "您不能发起“{title}”：该流程由 {roles} 发起",
    "only the person who claimed a task can release it": "只有领取任务的人可以释放它",
    "the instance is already {status}": "该流程实例的状态已是“{status}”",
    "only those who may start this procedure (or an admin) may cancel an instance":
        "只有可发起此流程的人员（或管理员）可以取消流程实例",
    "say why the instance is cancelled": "请填写取消原因",
    "a correction needs a reason (e.g. 笔误, 复核后更正)": "更正必须填写原因（如：笔误、复核后更正）",
    "corrections to '{step}' are made by {roles}": "“{step}”的数据由 {roles} 更正",
    "the instance is {status}; its tasks can no longer be changed": "该流程实例的状态是“{status}”，其任务不能再更改",
    "task '{title}' is already {status}{by}; reload to see the current state":
        "任务“{title}”的状态已是“{status}”{by}；请刷新页面查看当前状态",
    " by {user}": "（{user}）",
    "step '{title}' needs your electronic signature ({meaning}): enter your password to sign":
        "步骤“{title}”需要您的电子签名（{meaning}）：请输入密码签名",
    "this signature means '{meaning}', not '{given}'": "此签名的含义是“{meaning}”，不是“{given}”",
    "a signature must be given by the person who acts": "签名必须由办理人本人完成",
    "the password does not match; your signature was not recorded": "密码不正确，签名未记录",
    "the instance changed since you loaded it (version {was}, now {now}); reload and try again":
        "您打开页面后该流程已有变化（版本 {was}，现为 {now}）；请刷新后重试",
    "auditors read records and change nothing; this action is refused (use an account without the auditors group to work on tasks)":
        "审计员只能查阅记录，不能做任何更改；此操作被拒绝（请使用不属于审计组的账号办理任务）",
    "an approval needs 'decision': 'approve' or 'reject'": "审批需要给出决定：approve（同意）或 reject（驳回）",
    "'comment' must be text": "“意见”应为文本",
    "'password' must be text": "“密码”应为文本",
    "You may not download this file.": "您无权下载此文件。",
    "The password must have at least {n} characters.": "密码至少需要 {n} 个字符。",
    "The password must not be only spaces.": "密码不能只有空格。",
    "The password must not contain your user name.": "密码不能包含您的用户名。",
    "This password is one of the most common ones and is guessed first; choose another (a short sentence is easy to remember).":
        "这是最常见的密码之一，会被最先猜到；请换一个（一句短句既好记又安全）。",
    "The password must differ from your last {n} passwords.": "新密码不能与您最近 {n} 次使用的密码相同。",
    "Too many wrong passwords; try again after {time} (UTC).": "密码错误次数过多，请在 {time}（UTC）之后再试。",
    "The current password is wrong; your password was not changed.": "当前密码不正确，密码未修改。",
    "The new password must differ from the current one.": "新密码必须与当前密码不同。",
    "Your password has expired: choose a new one to continue.": "您的密码已过期：请设置新密码后继续。",
    "The two new passwords differ; type the same one twice.": "两次输入的新密码不一致，请输入相同的密码。",
    "Your password has been changed; your other sessions have ended.": "密码已修改；您在其他地方的登录已全部退出。",
    "Current password": "当前密码",
    "New password": "新密码",
    "New password again": "再次输入新密码",
    "At least {n} characters, not your user name, not a common password and not one of your last passwords. Changing it signs you out everywhere else.":
        "至少 {n} 个字符，不能包含用户名，不能是常见密码，也不能与最近用过的密码相同。修改后，您在其他地方的登录将全部退出。",
    "Change password": "修改密码",
    "'{target}' is not a recorded value of this procedure; choose the value to correct from the list.":
        "“{target}”不是该流程记录的值；请从列表中选择要更正的值。",
    "The field '{field}' contains a NUL character (\\0), which no field can hold; remove it (it often comes from pasting binary data) and send again.":
        "字段“{field}”含有 NUL 字符（\\0），任何字段都不能保存它；请删除（常由粘贴二进制数据带入）后重新提交。",
    "You may not filter, sort or search by '{title}' ({field}): it is a sensitive field and you are not cleared to see its values. Remove it from the query, or ask an administrator for clearance (data-officers).":
        "您不能按“{title}”（{field}）筛选、排序或搜索：这是敏感字段，您无权查看其值。请从查询中去掉该条件，或请管理员授予查看权限（data-officers 组）。",
    "QualityFlow": "质量流程",
    # The server under load (engine/app/database.py, web/errors.py, templates/error.html).
    "The server is busy and did not record this; nothing was lost. Try again in a few seconds.":
        "服务器繁忙，本次操作未记录，已填写的内容未丢失。请几秒钟后重试。",
    "Page not found": "页面不存在",
    "There is no page at this address. Check the link, or start again from the inbox.":
        "此地址没有页面。请检查链接，或从待办事项重新开始。",
    "Something went wrong": "出错了",
    "The server could not complete this request; it has been logged. Nothing you had recorded was changed. Try again, and tell your administrator if it happens again.":
        "服务器未能完成此请求，已记录日志；您已记录的内容没有改变。请重试；如再次发生，请联系管理员。",
    "Server busy": "服务器繁忙",
    "Not allowed": "不允许",
    "Request refused": "请求被拒绝",
    "Back to the inbox": "返回待办事项",
    "Inbox": "待办",
    "Instances": "流程记录",
    "Sign in": "登录",
    "Sign out": "退出",
    "User name": "用户名",
    "Password": "密码",
    "Signed in as {name}": "当前用户：{name}",
    "The user name or password is wrong.": "用户名或密码错误。",
    "Too many failed sign-ins for this account from your address. Try again after {time} ({minutes} min).":
        "该账号在您的地址登录失败次数过多，请在 {time}（{minutes} 分钟后）再试。",
    "You have been signed out.": "您已退出登录。",
    "Please sign in to continue.": "请先登录。",
    "The form has expired or was not sent by this site (missing or wrong CSRF token). Reload the page and try again.":
        "表单已过期或不是由本站提交的（CSRF 令牌缺失或不符）。请刷新页面后重试。",
    "Language": "语言",
    "My tasks": "我的待办",
    "No tasks for you right now.": "目前没有您的待办任务。",
    "Procedure": "流程",
    "Step": "步骤",
    "Role": "角色",
    "Due": "期限",
    "Overdue": "已逾期",
    "Claimed by me": "已由我领取",
    "Claimed by {user}": "已由 {user} 领取",
    "Claim": "领取",
    "Release": "释放",
    "Open": "打开",
    "Start a new instance": "发起新流程",
    "Start": "发起",
    "You may not start any procedure.": "您没有可发起的流程。",
    "Instance": "实例",
    "Started": "发起时间",
    "Started by": "发起人",
    "Status": "状态",
    "Outcome": "结果",
    "running": "进行中",
    "completed": "已完成",
    "cancelled": "已取消",
    "All": "全部",
    "Filter": "筛选",
    "No instances.": "没有流程记录。",
    "Submit": "提交",
    "Save draft": "保存草稿",
    "Draft saved at {time}.": "草稿已于 {time} 保存。",
    "Resumed your draft saved at {time}.": "已恢复您于 {time} 保存的草稿。",
    "Approve": "批准",
    "Reject": "驳回",
    "Comment": "意见",
    "Signature": "电子签名",
    "Meaning of the signature: {meaning}": "签名含义：{meaning}",
    "Enter your password again to sign.": "请再次输入密码以签名。",
    "Signed by {name} at {time} ({meaning})": "{name} 于 {time} 签名（{meaning}）",
    "Earlier steps": "前序步骤记录",
    "Instructions": "作业说明",
    "Add row": "添加行",
    "Remove": "删除",
    "required": "必填",
    "Specification": "规格",
    "Out of specification": "超出规格",
    "Upload": "上传",
    "Uploaded files": "已上传文件",
    "yes": "是",
    "Yes": "是",
    "Record number": "流水号",
    "{n} events verified; the chain ends in {head}": "已核验 {n} 个事件；链尾哈希 {head}",
    "Change": "修改",
    "Change step {title}": "修改步骤 {title}",
    "This step's deadline is computed from the data; change it in the text editor.": "此步骤的期限按数据计算，请在文本编辑器中修改。",
    "Remind before (e.g. 4wh)": "提前提醒（如 4wh）",
    "(several levels: keep them; change them in the text editor)": "（多级升级：保持不变；请在文本编辑器中修改）",
    "Step {step} changed; saved as draft {version}.": "已修改步骤 {step}；已保存为草稿 {version}。",
    "{field} is {value}": "{field} 是 {value}",
    "{field} is not {value}": "{field} 不是 {value}",
    "{field}: yes": "{field}：是",
    "{field}: no": "{field}：否",
    "{field} is one of {values}": "{field} 是 {values} 之一",
    "{field} is none of {values}": "{field} 不是 {values} 中的任何一个",
    "{left} or {right}": "{left}，或 {right}",
    "{left} and {right}": "{left}，且 {right}",
    "What changes": "变更内容",
    "No change to steps, roles or forms that can be said in words; see the text below.": "步骤、角色和表单没有可用文字说明的变更，请看下面的文本差异。",
    "from the data": "按数据计算",
    "by case": "按情形",
    "title": "名称",
    "type": "类型",
    "role": "角色",
    "form": "表单",
    "signature": "签名",
    "deadline": "期限",
    "escalation": "升级",
    "next step": "去向",
    "when rejected": "驳回后",
    "approvers": "审批人",
    "step {step}: {what} {old} → {new}": "步骤 {step} 的{what} {old} → {new}",
    "form {form}: title {old} → {new}": "表单 {form} 的名称 {old} → {new}",
    "form {form}: field {field} added": "表单 {form} 增加字段 {field}",
    "form {form}: field {field} removed": "表单 {form} 删除字段 {field}",
    "form {form}: field {old} renamed {new}": "表单 {form} 的字段 {old} 改名为 {new}",
    "form {form}: field {field} is now required": "表单 {form} 的字段 {field} 改为必填",
    "form {form}: field {field} is now optional": "表单 {form} 的字段 {field} 改为选填",
    "form {form}: field {field} specification {old} → {new}": "表单 {form} 的字段 {field} 的规格 {old} → {new}",
    "form {form}: field {field} choices {old} → {new}": "表单 {form} 的字段 {field} 的选项 {old} → {new}",
    "form {form}: field {field} computed as {old} → {new}": "表单 {form} 的字段 {field} 的计算式 {old} → {new}",
    "new procedure {title}: {n} steps, roles {roles}": "新流程 {title}：{n} 个步骤，角色 {roles}",
    "procedure title {old} → {new}": "流程名称 {old} → {new}",
    "role {role} added": "增加角色 {role}",
    "role {old} renamed {new}": "角色 {old} 改名为 {new}",
    "role {role} removed": "删除角色 {role}",
    "who starts it: {old} → {new}": "发起人 {old} → {new}",
    "step {step} added": "增加步骤 {step}",
    "step {step} removed": "删除步骤 {step}",
    "form {form} added": "增加表单 {form}",
    "form {form} no longer used": "不再使用表单 {form}",
    "Rename or delete a step": "重命名或删除步骤",
    "New id (lower_snake_case)": "新标识（小写英文和下划线）",
    "Renaming updates every reference: where other steps go, rejections, returns, conditions and the ledger. Deleting a step leads the steps before it to where it led; a step still named elsewhere is not deleted.": "重命名会同时更新所有引用：其他步骤的去向、驳回、退回、条件和台帐。删除步骤时，前面的步骤改为流向它原来的下一步；仍被其他地方引用的步骤不会被删除。",
    "Rename": "重命名",
    "Delete": "删除",
    "Step {step} deleted; saved as draft {version}.": "已删除步骤 {step}；已保存为草稿 {version}。",
    "Step {step} is now {new}; saved as draft {version}.": "步骤 {step} 已改名为 {new}；已保存为草稿 {version}。",
    "New procedure": "新建流程",
    "Id (lower-case words joined by '-')": "标识（小写英文单词，用 - 连接）",
    "Start from": "起点",
    "a blank page (a record step and its review)": "空白流程（一个记录步骤及其审核）",
    "a copy of {title}": "复制“{title}”",
    "Create": "创建",
    "write the id in lower-case words joined by '-', e.g. incoming-inspection": "标识请用小写英文单词并以 - 连接，例如 incoming-inspection",
    "give the procedure a title, e.g. 来料检验": "请填写流程名称，例如 来料检验",
    "a procedure '{id}' exists already; choose another id or open it": "流程“{id}”已存在；请换一个标识，或打开它",
    "no procedure '{id}' to copy": "没有可复制的流程“{id}”",
    "New procedure saved as draft {version}; change its steps and forms, try it, then send it for approval.": "新流程已保存为草稿 {version}；修改步骤和表单、试运行后提交审批。",
    "Several approvers (approval steps: 会签, 或签, 依次)": "多人审批（审批步骤：会签、或签、依次）",
    "Mode": "方式",
    "all must approve (会签)": "全部同意（会签）",
    "any one approves (或签)": "一人同意即可（或签）",
    "one after another (依次)": "依次审批",
    "at least N approve": "至少 N 人同意",
    "With several approvers the role above is where an approver who resolves to nobody goes.": "选择多人审批时，上面的角色用于找不到审批人时转交。",
    "Correct or cancel": "更正或取消",
    "Sent back from “{step}” by {who}": "被“{step}”退回（{who}）",
    "(no reason given)": "（未填写原因）",
    "Found in": "匹配字段",
    "Record number, customer, serial number…": "流水号、客户、产品编号……",
    "Nothing found for “{q}” among the records you may read.": "在您可查看的记录中没有找到“{q}”。",
    "Type a record number (e.g. ASI-202612-0007), or any part of a customer, serial number or other recorded text. Sensitive fields are not searched.": "输入流水号（如 ASI-202612-0007），或客户、产品编号等已记录文字的任意部分。敏感字段不参与搜索。",
    "search for at most {n} characters": "搜索内容最多 {n} 个字符",
    "Find": "查找",
    "No record numbered {number} that you may read.": "没有您可查看的流水号为 {number} 的记录。",
    "No": "否",
    "no": "否",
    "The form has {n} error(s); see the marked fields.": "表单有 {n} 处错误，请查看标出的字段。",
    "Recorded.": "已记录。",
    "Recorded; {n} value(s) are out of specification.": "已记录；有 {n} 个数值超出规格。",
    "Instance {id} started.": "流程 {id} 已发起。",
    "Task claimed.": "任务已领取。",
    "Task released.": "任务已释放。",
    "This task is already {status}.": "该任务已{status}。",
    "done": "完成",
    "open": "待处理",
    "Timeline": "时间线",
    "Procedure version": "流程版本",
    "Time": "时间",
    "Actor": "操作人",
    "Event": "事件",
    "Details": "详情",
    "Deadline met": "按期完成",
    "Deadline missed": "逾期完成",
    "Corrections": "更正记录",
    "Correct a value": "更正数据",
    "Field": "字段",
    "New value": "新值",
    "Reason": "原因",
    "Correct": "更正",
    "Cancel instance": "取消流程",
    "Cancel": "取消",
    "Origin": "来源",
    "Spawned instances": "派生流程",
    "Open tasks": "待处理任务",
    "Data": "数据",
    "by {who} at {time}, reason: {reason}": "{who} 于 {time} 更正，原因：{reason}",
    "Value corrected.": "数据已更正。",
    "Instance cancelled.": "流程已取消。",
    "Back": "返回",
    "Error": "错误",
    "You do not hold a role in this procedure.": "您在该流程中没有角色。",
    "You may not act on this task: it is for role '{role}'.": "您不能处理此任务：它属于角色“{role}”。",
    "You may not start '{title}'.": "您不能发起“{title}”。",
    "The file is larger than {limit}.": "文件超过 {limit} 的大小限制。",
    "Files of type {type} are not accepted here (allowed: {allowed}).": "此处不接受 {type} 类型的文件（允许：{allowed}）。",
    "Start form": "发起表单",
    "This procedure has no start form.": "该流程没有发起表单。",
    "Due {time}": "期限 {time}",
    "Escalated": "已升级",
    # event types
    "instance:started": "发起流程",
    "task:created": "生成任务",
    "task:completed": "完成步骤",
    "task:approved": "批准",
    "task:rejected": "驳回",
    "task:claimed": "领取任务",
    "task:released": "释放任务",
    "task:reassigned": "转派任务",
    "task:cancelled": "任务取消",
    "instance:cancelled": "取消流程",
    "instance:completed": "流程结束",
    "data:corrected": "更正数据",
    "deadline:reminder": "期限提醒",
    "deadline:missed": "逾期",
    "deadline:escalated": "逾期升级",
    "route:taken": "路由",
    "spawn:requested": "派生流程",
    "join:completed": "汇合",
    "wait:woken": "等待结束",
    "approval:opened": "发起会签",
    "approval:added": "加签",
    "approval:decided": "会签结果",
    "{approvals} of {need} approvals needed, {rejections} rejection(s)": "需 {need} 人同意，已同意 {approvals} 人，驳回 {rejections} 人",
    "{user} added {position}: {reason}": "加签 {user}（{position}）：{reason}",
    "before": "在前",
    "after": "在后",
    "no approver found for {source}: {reason} (to {to})": "{source} 未找到审批人：{reason}（转 {to}）",
    "skipped {user}: {reason}": "跳过 {user}：{reason}",
    "decision": "决定",
    "approve": "批准",
    "reject": "驳回",
    "to {step}": "转至 {step}",
    "Escalated to {role} (level {level})": "升级至 {role}（第 {level} 级）",
    "was due {time}": "期限 {time}",
    # audit, dossiers, ledgers, KPIs
    "90th percentile": "90 分位时长",
    "Access log": "访问日志",
    "Any field": "任意字段",
    "Attachments": "附件",
    "Audit search": "审计检索",
    "Audit": "审计",
    "BROKEN": "已被破坏",
    "By period": "按周期",
    "By step": "按步骤",
    "By {field}": "按{field}",
    "By": "操作人",
    "Dashboard": "统计看板",
    "Date and time": "日期时间",
    "Dossier": "记录档案",
    "Duration of completed instances (hours)": "已完成流程的用时（小时）",
    "Ended": "结束时间",
    "Every view of sensitive fields in clear: who, when, which record, which fields.": "每次以明文查看敏感字段的记录：谁、何时、哪条记录、哪些字段。",
    "Export (JSON Lines)": "导出（JSON Lines）",
    "Fields": "字段",
    "File": "文件",
    "First-pass rate ({field} = {value})": "一次合格率（{field} = {value}）",
    "From": "自",
    "Hash chain": "哈希链",
    "Hash": "哈希",
    "Instances by {period}": "按{period}统计的流程",
    "Item": "项目",
    "KPIs": "统计",
    "KPI drill-down": "统计明细",
    "Ledger": "台帐",
    "Ledgers": "台帐",
    "Mean score (max {top})": "平均分（满分 {top}）",
    "Meaning": "签名含义",
    "Next": "下一页",
    "No events match.": "没有符合条件的事件。",
    "No procedure you may read declares a ledger.": "您可查看的流程中没有定义台帐。",
    "Note": "说明",
    "Nothing logged.": "暂无记录。",
    "Old value": "原值",
    "On-time rate per step": "各步骤按期完成率",
    "Page {n}": "第 {n} 页",
    "Period": "周期",
    "Periods are UTC weeks (from Monday) or months of the start of each instance (of the creation of each task for steps).":
        "周期按 UTC 计：以流程发起时间（步骤统计以任务生成时间）所在的周（周一起）或月归类。",
    "Previous": "上一页",
    "Print": "打印",
    "Printed name": "签名人姓名",
    "Printed": "打印时间",
    "Score table": "评分表",
    "Search": "检索",
    "Sensitive fields are masked (no clearance).": "敏感字段已遮盖（无查看权限）。",
    "'{mask}' only stands for a hidden sensitive value; enter the real value or leave the field empty.":
        "“{mask}”只代表一个被遮盖的敏感值，不是数值本身：请填写实际值或留空。",
    "Show": "显示",
    "Signatures": "电子签名",
    "Size": "大小",
    "Started from": "发起日期自",
    "The access log is for auditors and administrators.": "访问日志仅供审计员和管理员查看。",
    "The audit export holds every value unmasked: it needs the auditors group and clearance (data-officers), or an administrator.":
        "审计导出包含全部明文数据：需要审计员组及敏感数据权限（data-officers），或管理员。",
    "The audit search is for auditors, administrators and data officers.": "审计检索仅供审计员、管理员和数据专员使用。",
    "To": "至",
    "Uploaded": "上传",
    "User": "用户",
    "Value": "值",
    "View": "查看方式",
    "You hold no role in any procedure.": "您在任何流程中都没有角色。",
    "answers": "答复数",
    "created": "生成",
    "first-pass rate": "一次合格率",
    "intact": "完整",
    "mean": "平均分",
    "median duration": "用时中位数",
    "median": "中位数",
    "on-time rate": "按期率",
    "overdue now": "当前逾期",
    "registered {time}": "登记于 {time}",
    "started": "发起",
    "to": "至",
    "whole ledger": "完整台帐",
    "starts with": "开头为",
    "Match": "匹配",
    "contains": "包含",
    "prefix": "开头为",
    "exact": "等于",
    "week": "周",
    "month": "月",
    "on_time": "按期完成",
    "first_pass": "一次合格",
    "overdue": "逾期",
    "on time": "按期",
    "late": "逾期",
    # notifications and the worker (issue 5)
    "Notifications": "通知",
    "Show all": "显示全部",
    "Show unread only": "只看未读",
    "What happened": "内容",
    "Mark selected read": "所选标为已读",
    "Mark all read": "全部标为已读",
    "No notifications.": "没有通知。",
    "{n} notifications marked read": "{n} 条通知已标为已读",
    "assigned": "新任务",
    "reminder": "提醒",
    "missed": "超期",
    "escalated": "升级",
    "transferred": "转交", "returned": "退回", "urged": "催办", "cc": "抄送",
    "Deliveries not yet made": "尚未送达的通知",
    "Channel": "渠道",
    "Recipient": "发往",
    "Attempts": "尝试次数",
    "Next attempt": "下次尝试",
    "Last error": "最近错误",
    "pending": "待发送",
    "failed": "发送失败",
    "sent": "已发送",
    "Retry failed deliveries": "重新发送失败的通知",
    "{n} deliveries queued again": "{n} 条通知已重新排队",
    "Only administrators may retry deliveries.": "只有管理员可以重新发送。",
    "Escalated to {user}, manager of {holder} (level {level})": "升级至 {holder} 的主管 {user}（第 {level} 级）",
    "no manager known: escalated to {role} instead ({reason})": "未找到主管，改为升级至 {role}（{reason}）",
    "Escalated (level {level})": "已升级（第 {level} 级）",
    "Needs attention: {problem}": "需要处理：{problem}",
    "Not opened yet": "尚未发起",
    "{procedure} could not be started; the worker tries again": "{procedure} 未能发起，系统将自动重试",
    # Procedure editor
    "See the change (side-by-side difference)": "查看更改内容（并排对比）",
    "Edit": "修改",
    "Save": "保存",
    "A zip with procedures/ID.yaml and forms/*.yaml is accepted too.": "也可导入含 procedures/ID.yaml 和 forms/*.yaml 的 zip 文件。",
    "Change where a step goes": "修改步骤去向",
    "line": "行",
    "No problems.": "没有问题。",
    "Procedures": "流程管理",
    "Current version": "现行版本",
    "Newest version": "最新版本",
    "Owner": "负责人",
    "files": "文件",
    "draft": "草稿",
    "in_review": "审批中",
    "published": "已发布",
    "retired": "已停用",
    "Import a bundle": "导入流程包",
    "Import": "导入",
    "One YAML file: the procedure, then each of its forms, separated by lines of ---. It is saved as a new draft.":
        "一个 YAML 文件：先是流程，再是各表单，用 --- 行分隔。导入后保存为新草稿。",
    "Imported as draft {version}.": "已导入为草稿 {version}。",
    "Overview": "概览",
    "Text editor": "文本编辑",
    "Steps": "步骤",
    "Try it": "试运行",
    "Versions": "版本",
    "Saved by {user} at {time}": "{user} 保存于 {time}",
    "Step graph": "步骤图",
    "Roles": "角色",
    "Title": "名称",
    "Groups": "用户组",
    "Steps, deadlines and escalations": "步骤、时限与升级",
    "Forms": "表单",
    "Form builder": "表单设计",
    "Type": "类型",
    "Form": "表单",
    "Deadline": "时限",
    "Escalation": "升级",
    "remind {d} before": "提前 {d} 提醒",
    "rejected": "驳回",
    "otherwise": "否则",
    "procedure": "流程",
    "line {line}, column {col}": "第 {line} 行第 {col} 列",
    "Note on this change": "本次修改说明",
    "Saved as draft {version}.": "已保存为草稿 {version}。",
    "Working copy v{version}": "工作版本 v{version}",
    "unit": "单位",
    "limits": "限值",
    "shown if": "显示条件",
    "Add a field": "添加字段",
    "Name (letters, digits, _)": "字段名（字母、数字、下划线）",
    "Label": "标签",
    "Required": "必填",
    "Options (comma separated)": "选项（逗号分隔）",
    "Unit": "单位",
    "Lower limit": "下限",
    "Upper limit": "上限",
    "Shown only if (expression)": "仅在以下条件时显示（表达式）",
    "Table columns, one per line: name:type:label": "表格列，每行一个：字段名:类型:标签",
    "Place after": "放在其后",
    "(at the end)": "（末尾）",
    "Add field": "添加字段",
    "As the operator sees it": "操作人员看到的表单",
    "Field {name} added; saved as draft {version}.": "已添加字段 {name}，保存为草稿 {version}。",
    "Add a step": "添加步骤",
    "Step id (lower_snake_case)": "步骤标识（小写加下划线）",
    "task": "任务",
    "approval": "审批",
    "Signature meaning (e.g. 审核)": "签名含义（如 审核）",
    "Deadline (e.g. 8h, 2wd)": "时限（如 8h、2wd）",
    "Escalate to": "逾期升级至",
    "Insert after step": "插入到此步骤之后",
    "Next step": "下一步骤",
    "(what the step above led to)": "（沿用上一步骤原来的去向）",
    "Only if (condition, optional)": "条件（可选）",
    "Otherwise go to": "否则转到",
    "Add step": "添加步骤",
    "Step {step} added; saved as draft {version}.": "已添加步骤 {step}，保存为草稿 {version}。",
    "Runs this version in memory with the answers below: nothing is recorded and no task reaches anyone. Change values to take other branches; 'advance: 2wd' lets time pass.":
        "按下面的示例答案在内存中运行此版本：不产生任何记录，也不会给任何人派发任务。修改数值可走其他分支；“advance: 2wd” 表示时间推进。",
    "Run": "运行",
    "Path taken": "经过的步骤",
    "Tasks and deadlines": "任务与期限",
    "Events": "事件",
    "Version": "版本",
    "Saved by": "保存人",
    "Note / reason": "说明 / 原因",
    "current": "现行",
    "change control": "更改审批",
    "Bundle": "流程包",
    "Compare A and B": "比较 A 与 B",
    "Restore": "恢复",
    "Restore as a new draft": "恢复为新草稿",
    "Restored as draft {version}.": "已恢复为草稿 {version}。",
    "Send for approval": "提交审批",
    "Draft v{version} goes to review and approval (electronic signatures, by people other than you). When approved it is published as the next major version; running instances stay on their version.":
        "草稿 v{version} 将提交审核和批准（电子签名，须由您以外的人员完成）。批准后发布为新的主版本；进行中的流程实例保持原版本。",
    "Reason for the change": "更改原因",
    "Compare": "比较",
    "no change": "无变化",
    "Choose two versions to compare.": "请选择两个版本进行比较。",
    "Write the reason for the change; it is kept with the version.": "请填写更改原因，它将与版本一起保存。",
    "Only a draft can be sent for approval; this version is {status}.":
        "只有草稿可以提交审批；此版本状态为 {status}。",
    "Draft {version} sent for review and approval.": "草稿 {version} 已提交审核和批准。",
    # Records that cannot lie: corrections under signature, signed-before marks, verify.
    "the record is {status}: only {roles} may correct it now": "记录已{status}：现在只有 {roles} 可以更正",
    "nobody": "任何人都不能",
    "'{field}' is covered by the signature of {names}; correcting it needs your electronic signature "
    "({meaning}): enter your password":
        "“{field}”已由 {names} 签名确认；更正它需要您的电子签名（{meaning}）：请输入密码",
    "a change request cannot be corrected once submitted; reject it and send the draft again with "
    "the right details": "变更申请提交后不能更正；请驳回后以正确内容重新提交草稿",
    "signed before correction": "签于更正之前",
    "the start": "发起",
    "'{title}' must be done by someone other than whoever did '{other}' (separation of duties), and you "
    "did; another holder of the role must do it":
        "“{title}”须由“{other}”的完成人以外的人员办理（职责分离），而您办理了后者；请由该角色的其他人员办理",
    "{user} may not {act} this change: {user} is {parts}, and config.yaml (change_control.distinct: "
    "{level}) wants different people ({who}); another member of the group must do it (document control)":
        "{user} 不能{act}此更改：{user} 是{parts}，而 config.yaml（change_control.distinct: {level}）"
        "要求由不同的人担任（{who}）；须由该组的其他成员办理（文件控制）",
    "the draft's author": "草稿编写人", "the sender": "提交人", "the reviewer": "审核人",
    "the approver": "批准人", " and ": "和", "send": "提交", "review": "审核",
    "draft {version} no longer has the content that was sent for approval ({approved}…, now {actual}…); "
    "reject this change and send the draft again":
        "草稿 {version} 的内容已不是提交审批时的内容（{approved}…，现为 {actual}…）；请驳回此更改并重新提交草稿",
    "the record shown differs from its audit trail: {difference}": "所显示的记录与其审计轨迹不一致：{difference}",
    # Kept in records (``keep``) and shown in the reader's language (``shown``).
    "no due time: 'due_expr: {expr}' gave {value}, not a date; correct that field to set one":
        "没有截止时间：“due_expr: {expr}”得到 {value}，不是日期；更正该字段后即可设定",
    "did not wait: 'until: {expr}' gave {value}, not a date":
        "未等待：“until: {expr}”得到 {value}，不是日期",
    "{holder} has no manager": "{holder} 没有登记上级",
    "nobody held the task": "任务无人领取",
    "Password (electronic signature: 更正)": "密码（电子签名：更正）",
    "Values marked ✍ are covered by a signature: correcting one needs your signature.":
        "标有 ✍ 的数据已签名确认：更正需要您的电子签名。",
    # Computed fields (x-compute) and what a step shows of earlier data (hide/edit).
    "'{field}' is computed from other fields; correct the fields it is computed from":
        "“{field}”由其他字段计算得出；请更正计算它所用的字段",
    "computed: {expr}": "计算公式：{expr}",
    "recomputed after correcting '{field}': {reason}": "更正“{field}”后重新计算：{reason}",
    "step '{title}' may not change '{field}'; it may change: {fields}":
        "步骤“{title}”不能修改“{field}”；它可以修改：{fields}",
    "nothing": "无",
    "say why the earlier values are changed": "请填写修改前面步骤数据的原因",
    "'data' must be an object of the form's fields": "“data”应为由表单字段组成的对象",
    "'edits' must map STEP.FIELD to the new value": "“edits”应为“步骤.字段”到新值的对应",
    "Computed automatically": "自动计算",
    "Change earlier values": "修改前面步骤的数据",
    "A change is recorded as a correction: the earlier value, who, when and why stay in the record.":
        "修改将记为更正：原值、修改人、时间和原因都保留在记录中。",
    "signed: changing it needs your signature (更正)": "已签名：修改需要您的电子签名（更正）",
    "A change of a signed value is signed as a correction (更正).": "修改已签名的数据时，以“更正”的含义签名。",
    "computed:": "计算：",
    "Computed as (expression)": "计算公式（表达式）",
    # Multi-party approvals and 加签 (issue 17)
    "no active user '{user}' to add as approver": "没有可加签的有效用户“{user}”",
    "task '{title}' was given to you as a holder of role '{role}', which you no longer hold":
        "任务“{title}”是按角色“{role}”指派给您的，您已不再担任该角色",
    "task '{title}' is {user}'s own approval; only they decide it": "任务“{title}”是 {user} 本人的审批，只能由其本人决定",
    "{user} was added to decide before you (加签); wait for their decision": "{user} 已被加签在您之前审批，请等待其决定",
    "step '{title}' does not allow adding approvers (add_approver)": "步骤“{title}”不允许加签（未声明 add_approver）",
    "add the approver 'before' or 'after' yourself": "请选择加签在您之前（before）还是之后（after）",
    "say why you add an approver": "请填写加签原因",
    "name another person to add as approver": "请指定另一位加签审批人",
    "{user} cannot be added: approvers added here must hold role '{role}'": "不能加签 {user}：此处加签的审批人必须担任角色“{role}”",
    "{user} is already an approver of this step": "{user} 已是此步骤的审批人",
    "this approval was given to you by name; it cannot be released to a pool": "此审批是指名给您的，不能释放回角色待办",
    "Approver added.": "已加签。",
    "Approvers of this step": "本步骤审批人",
    "you": "您",
    "Approved": "已同意",
    "Rejected": "已驳回",
    "not needed any more": "无需再审批",
    "waiting for the decision": "待审批",
    "Add an approver (加签)": "加签",
    "Approver": "审批人",
    "Approver to add": "加签审批人",
    "When they decide": "审批顺序",
    "Before me (I wait for their decision)": "在我之前（我等待其决定）",
    "After me": "在我之后",
    "Add approver": "加签",
    "Yours by name": "指名给我",
    "you have already decided in this approval; each approver decides once": "您已在本次会签中审批过；每位审批人只审批一次",
    # Task actions (转交、退回、撤回、收回、催办、抄送): engine/runtime/access.py and actions.py
    "no user '{name}' to send the instance to": "没有用户“{name}”，无法抄送",
    "this task cannot be transferred": "此任务不能转交",
    "step '{title}' does not allow transfer ('transfer: false'); do it yourself or release it":
        "步骤“{title}”不允许转交（transfer: false）；请自行办理或释放任务",
    "only the person holding task '{title}' may transfer it": "只有任务“{title}”的办理人可以转交",
    "{user} does not hold role '{role}' and cannot take this task; choose someone who does":
        "{user} 不担任角色“{role}”，不能接手此任务；请选择担任该角色的人员",
    "{user} did '{other}' and may not do this step too (separation of duties)":
        "{user} 办理了“{other}”，不能再办理此步骤（职责分离）",
    "this step cannot be returned to an earlier one (it declares no 'return_to')":
        "此步骤不能退回（未声明 return_to）",
    "only the person holding task '{title}' may return it": "只有任务“{title}”的办理人可以退回",
    "none of the steps this one may return to has been done in this instance":
        "此步骤可退回的步骤在本流程中都尚未办理",
    "'{title}' cannot be withdrawn ('withdraw: false'); ask to have it cancelled":
        "“{title}”不允许撤回（withdraw: false）；请申请取消",
    "only {user}, who started this instance, may withdraw it": "只有发起人 {user} 可以撤回此流程",
    "{user} has already done '{title}'; the instance can no longer be withdrawn (ask to have it cancelled)":
        "{user} 已办理“{title}”，流程不能再撤回（请申请取消）",
    "this step cannot be recalled (it does not declare 'recall: true')": "此步骤不能收回（未声明 recall: true）",
    "only the person who completed '{title}' may recall it": "只有“{title}”的办理人可以收回",
    "a later step has been done since '{title}'; it can no longer be recalled":
        "“{title}”之后已有步骤办理，不能再收回",
    "'{title}' opened a linked instance; it can no longer be recalled": "“{title}”已发起关联流程，不能再收回",
    "'{title}' has been taken up already; the submission can no longer be recalled":
        "“{title}”已有人接手，不能再收回",
    "someone has saved a draft on the next step; the submission can no longer be recalled":
        "下一步已有人保存草稿，不能再收回",
    "only an open task can be urged": "只能催办尚未办理的任务",
    "the system does not urge; deadlines remind and escalate": "系统不催办；期限到时自动提醒和升级",
    "you hold this task yourself; do it or transfer it": "此任务由您本人办理；请办理或转交",
    "only the starter and those who did a step of this instance may urge it": "只有发起人和办理过本流程步骤的人员可以催办",
    "this step does not let you add CC recipients ('cc_add: true' is not declared)":
        "此步骤不能添加抄送人（未声明 cc_add: true）",
    "only the person holding task '{title}' may send it to others": "只有任务“{title}”的办理人可以抄送",
    "choose how the returned step comes back: 'here' (straight back to this step) or 'again' (along the path)":
        "请选择退回后的流转方式：here（补正后直接回到本步骤）或 again（按流程重新流转）",
    "a return from this step always comes back '{resume}'": "从此步骤退回后总是按“{resume}”方式流转",
    "say why the instance is withdrawn": "请填写撤回原因",
    "'{title}' was urged less than an hour ago; you may urge it again after {time}":
        "“{title}”一小时内已催办过；{time} 之后可再次催办",
    "say to whom the instance is sent (roles or users)": "请选择抄送对象（角色或用户）",
    "unknown recipient(s) {names}: give role ids of this procedure or user:NAME":
        "未知的抄送对象 {names}：请填写本流程的角色或 user:用户名",
    "this instance was not sent to you (抄送), so there is nothing to mark read": "此流程未抄送给您，无需标记已阅",
    "say why the task is transferred": "请填写转交原因",
    "choose someone else to transfer the task to": "请选择其他人员接收转交",
    "'{title}' may be returned only to: {steps}": "“{title}”只能退回到：{steps}",
    "say why the task is returned and what must change": "请填写退回原因和需要修改的内容",
    "withdrawn": "已撤回",
    # Task actions on the pages (web/html/task_actions.py, _task_actions.html, _instance_actions.html)
    "task:transferred": "转交", "task:returned": "退回", "task:recalled": "收回", "task:urged": "催办",
    "instance:withdrawn": "撤回", "cc:sent": "抄送", "cc:read": "已阅",
    "to {user}": "转交给 {user}",
    "comes straight back here once redone": "补正后直接回到此步骤",
    "Instance withdrawn.": "流程已撤回。",
    "Marked read (已阅).": "已标记为已阅。",
    "Task transferred to {user}.": "任务已转交给 {user}。",
    "Returned; the earlier step is open again.": "已退回，前面的步骤已重新打开。",
    "Sent for information (抄送).": "已抄送。",
    "Recalled: the task is yours again.": "已收回，任务重新由您办理。",
    "Urged.": "已催办。",
    "Sent for information (抄送)": "抄送",
    "read": "已阅",
    "Read by": "已阅人",
    "Mark read (已阅)": "标记已阅",
    "Recall": "收回",
    "may be urged again after {time}": "{time} 之后可再次催办",
    "Recall my submission": "收回我的提交",
    "nobody has taken up the next step yet": "下一步尚无人接手",
    "Withdraw instance": "撤回流程",
    "Withdraw": "撤回",
    "Note (optional)": "附言（可选）",
    "Urge": "催办",
    "Transfer": "转交",
    "Nobody else may hold this task.": "没有其他人可以接手此任务。",
    "Return to an earlier step": "退回到前面的步骤",
    "Reason and what must change": "退回原因及需修改的内容",
    "Once redone": "补正后",
    "come straight back to this step": "直接回到此步骤",
    "walk the steps in between again": "重新经过中间的步骤",
    "Return": "退回",
    "More actions": "更多操作",
    "Send for information (抄送)": "抄送",
    "Users (names, separated by commas)": "用户（用户名，以逗号分隔）",
    "Send": "发送",
    "Sent to me for information (抄送)": "抄送我的",
    "{n} unread": "{n} 条未读",
    "unread": "未读",
    "Nothing has been sent to you.": "暂无抄送给您的流程。",
    # The form builder's field kinds, settings and visibility picker (issue 19).
    "a table or a group needs at least one column; write one per line as id:type:label": "表格或分组至少需要一列；每行写一列：标识:类型:名称",
    "two columns are named '{name}'; give each its own id": "有两列都叫“{name}”；请给每列不同的标识",
    "a choice needs at least two options, separated by commas": "选择题至少需要两个选项，用逗号分隔",
    "a computed value needs its expression, e.g. sum_of(lines, 'amount')": "计算值需要表达式，例如 sum_of(lines, 'amount')",
    "the smallest and largest possible values apply to number fields only": "最小可能值和最大可能值只适用于数字字段",
    "the smallest possible value {low} is above the largest {high}; swap them": "最小可能值 {low} 大于最大可能值 {high}；请对调",
    "the number of files must be a whole number from 1, not '{value}'": "文件个数必须是不小于 1 的整数，不能是“{value}”",
    "the form changed meanwhile; reload the page and move the field again": "表单已被他人修改；请刷新页面后再移动字段",
    "there is no field '{field}' to show this one by; choose one from the list": "没有字段“{field}”可作为显示条件；请从列表中选择",
    "choose a condition that fits the field '{field}'": "请选择适合字段“{field}”的条件",
    "'{value}' is not a number; write e.g. 12.5": "“{value}”不是数字；请填写如 12.5",
    "choose the field this one depends on, or 'Always'": "请选择此字段所依据的字段，或选择“始终显示”",
    "give the field a label (its id is made from it)": "请填写字段名称（标识由名称生成）",
    "equals": "等于",
    "is not": "不等于",
    "is less than": "小于",
    "is at most": "不大于",
    "is more than": "大于",
    "is at least": "不小于",
    "includes": "包含",
    "does not include": "不包含",
    "is answered Yes": "选“是”",
    "is answered No": "选“否”",
    "say where to move the field (its new place, 0 is first)": "请指明字段移动到的位置（0 为第一个）",
    "column line {n} '{line}': write name:type:label, e.g. qty:number:数量": "列第 {n} 行“{line}”：请写成 标识:类型:名称，例如 qty:number:数量",
    "'{name}' is not a table or a group; add fields to the form instead": "“{name}”不是表格或分组；请直接在表单中添加字段",
    "Add columns, one per line: id:type:label (id may be empty)": "添加列，每行一列：标识:类型:名称（标识可留空）",
    "Existing columns are changed in the text editor.": "已有的列请在文本编辑器中修改。",
    "Field id (made from the label when left empty)": "字段标识（留空则由名称生成）",
    "Settings of this type": "此类型的设置",
    "Example text shown when empty": "输入框为空时显示的示例文字",
    "Smallest possible value": "最小可能值",
    "Largest possible value": "最大可能值",
    "Whole numbers only": "只允许整数",
    "Several people": "可选多人",
    "Open the camera on phones": "手机上直接打开相机",
    "Accepted kinds (comma separated, e.g. .pdf, image/png)": "允许的文件类型（逗号分隔，如 .pdf, image/png）",
    "At most this many files": "最多文件数",
    "Columns, one per line: id:type:label (id may be empty)": "列，每行一列：标识:类型:名称（标识可留空）",
    "Types": "类型",
    "When is it shown?": "何时显示？",
    "Always": "始终显示",
    "Only if": "仅当",
    "(choose a field)": "（选择字段）",
    "Condition": "条件",
    "Expression (for experts)": "表达式（高级）",
    "Computation": "计算方式",
    "(write the expression)": "（自行填写表达式）",
    "Total of a table column": "表格某列合计",
    "Average of a table column": "表格某列平均值",
    "Number of rows": "行数",
    "Days between two dates": "两个日期相隔天数",
    "Table": "表格",
    "Column": "列",
    "Drag a field by ⠿ to move it (or use ↑ and ↓); every change is saved as a new draft.": "按住 ⠿ 拖动字段可调整顺序（也可用 ↑ 和 ↓）；每次修改都保存为新草稿。",
    "Drag to move": "拖动以移动",
    "Move down": "下移",
    "Move up": "上移",
    # Try it as a click-through (issue 19).
    "the answers must be a mapping with start and steps (see the example)": "答案必须是包含 start 和 steps 的映射（参见示例）",
    "the run has more than {n} entries; start again": "本次试运行已超过 {n} 步；请重新开始",
    "the run sent with the page cannot be read; start again": "页面带回的试运行记录无法读取；请重新开始",
    "the procedure has already been started; start again to begin anew": "流程已发起；如需从头开始，请点“重新开始”",
    "start the procedure first": "请先发起流程",
    "'{value}' is not a date and time; choose one in the picker": "“{value}”不是日期时间；请在选择器中选择",
    "choose how much time passes: {choices}": "请选择要经过的时间：{choices}",
    "unknown action '{action}'": "未知操作“{action}”",
    "Answer script (for experts)": "答案脚本（高级）",
    "Runs this version in memory: nothing is recorded and no task reaches anyone. Fill each form as the role it is for, let time pass with the clock, and follow the path on the diagram.": "在内存中运行此版本：不产生任何记录，也不会有任务发给任何人。以各任务所属角色填写表单，用时钟让时间流逝，并在流程图上查看走过的路径。",
    "Click through": "逐步试运行",
    "Now": "当前时间",
    "+1 day": "+1 天",
    "+1 hour": "+1 小时",
    "+1 working day": "+1 个工作日",
    "Go": "前往",
    "Undo the last step": "撤销上一步",
    "Start again": "重新开始",
    "Act as": "操作人",
    "Finished": "已结束",
    "Escalated to": "已升级至",
    "Act as role": "以角色",
    "Waiting: let time pass with the clock.": "等待中：请用时钟让时间流逝。",
    "Would start {procedure}": "将发起关联流程 {procedure}",
}

CATALOGUE: dict[str, dict[str, str]] = {"zh": ZH, "en": {}}



def add(locale: str, pairs: dict[str, str]) -> None:
    """Texts of one area (form validation messages, say) joining the catalogue of ``locale``;
    an English text already there with another translation is a mistake, refused."""
    catalogue = CATALOGUE[locale]
    clash = sorted(k for k, v in pairs.items() if catalogue.get(k, v) != v)
    if clash:
        raise ValueError(f"translated twice, differently: {clash}")
    catalogue.update(pairs)


_current: ContextVar[str] = ContextVar("locale", default="en")


def current_locale() -> str:
    return _current.get()


def set_locale(locale: str | None) -> None:
    """The locale of what runs next in this context (a request, a command); unknown: zh.
    Outside a request (the worker, a command, tests of the engine) it is English."""
    _current.set(locale if locale in LOCALES else "zh")


def reset() -> None:
    """Back to the default (English) once a request is over, so nothing that runs next in
    this thread (the worker, another test) speaks the last user's language by accident."""
    _current.set("en")


def gettext(text: str, locale: str | None = None, **params: Any) -> str:
    """``text`` in ``locale`` (default: the current one), with ``params`` filled in."""
    out = CATALOGUE.get(locale or _current.get(), {}).get(text, text)
    return out.format(**params) if params else out


_ = gettext


def local_time(value: Any, zone: tzinfo, *, named: bool = False) -> str:
    """An instant (aware datetime, or ISO text as records keep it) as people read it:
    ``YYYY-MM-DD HH:MM`` in ``zone``; ``named`` adds the zone, as files and printouts read
    apart from the page need (``2026-12-01 08:30 (Asia/Shanghai)``). A naive time is UTC
    (as stored); text that is not a time is returned as it is. The one formatting of times
    (pages reach it through ``web.i18n.fmt_time``)."""
    if value in (None, ""):
        return ""
    if isinstance(value, str):
        text: str = value
        try:
            value = datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            return text
    if not isinstance(value, datetime):
        return str(value)
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    text = value.astimezone(zone).strftime("%Y-%m-%d %H:%M")
    return f"{text} ({getattr(zone, 'key', None) or zone})" if named else text


class StoredMessage(TypedDict):
    """A message kept in a record (an instance's state, an event): its catalogue key (the
    English text with ``{name}`` placeholders) and the values of the placeholders."""

    key: str
    params: dict[str, str]


def keep(text: str, **params: Any) -> tuple[str, StoredMessage]:
    """A message to store with a record, such as why a task has no due time: its English
    text (what older readers, logs and the API's ``problem`` show) and its key and parameters
    (``*_message`` beside it), so that :func:`shown` gives each reader their language."""
    values = {k: str(v) for k, v in params.items()}
    return text.format(**values), {"key": text, "params": values}


def shown(text: str | None, message: Mapping[str, Any] | None = None, locale: str | None = None) -> str:
    """A stored message in ``locale`` (default: the current one): from its key and
    parameters when the record keeps them; else the text as stored (records written before
    keys were kept), translated when it is a whole text of the catalogue."""
    if message and isinstance(message.get("key"), str):
        params = message.get("params") or {}
        try:
            return gettext(message["key"], locale, **params) if params else gettext(message["key"], locale)
        except (KeyError, IndexError, ValueError):
            pass  # a key whose placeholders changed since: the stored text still says it
    return gettext(text, locale) if text else ""
