"""Operator-facing messages for form validation, in Chinese (``zh``) and English (``en``).

Kept apart from the checks so that wording can be reviewed (and translated) in one
place. Every message is a ``str.format`` template; unknown locales fall back to Chinese.
"""

from __future__ import annotations

from typing import Any

MESSAGES: dict[str, dict[str, str]] = {
    "required": {"zh": "必填项", "en": "This field is required"},
    "unknown": {"zh": "未知字段", "en": "This is an unknown field"},
    "enum": {"zh": "请从以下选项中选择：{options}", "en": "Choose one of: {options}"},
    "const": {"zh": "应为 {value}", "en": "Must be {value}"},
    "type.string": {"zh": "应填写文本", "en": "Enter text"},
    "type.number": {"zh": "应填写数字", "en": "Enter a number"},
    "type.integer": {"zh": "应填写整数", "en": "Enter a whole number"},
    "type.boolean": {"zh": "应选择是或否", "en": "Choose yes or no"},
    "type.array": {"zh": "应为列表", "en": "Must be a list"},
    "type.object": {"zh": "应为一组字段", "en": "Must be a group of fields"},
    "type.null": {"zh": "应为空", "en": "Must be empty"},
    "type.any": {"zh": "类型不正确，应为：{types}", "en": "Wrong kind of value; expected: {types}"},
    "minimum": {"zh": "应不小于 {limit}", "en": "Must be at least {limit}"},
    "maximum": {"zh": "应不大于 {limit}", "en": "Must be at most {limit}"},
    "exclusiveMinimum": {"zh": "应大于 {limit}", "en": "Must be greater than {limit}"},
    "exclusiveMaximum": {"zh": "应小于 {limit}", "en": "Must be less than {limit}"},
    "multipleOf": {"zh": "应为 {limit} 的整数倍", "en": "Must be a multiple of {limit}"},
    "minLength": {"zh": "至少填写 {limit} 个字", "en": "Enter at least {limit} character{s}"},
    "maxLength": {"zh": "最多填写 {limit} 个字", "en": "Enter at most {limit} character{s}"},
    "pattern": {"zh": "格式不正确", "en": "The format is not valid"},
    "format.date": {"zh": "日期格式应为 YYYY-MM-DD", "en": "Write the date as YYYY-MM-DD"},
    "format.date-time": {
        "zh": "日期时间格式应为 YYYY-MM-DD HH:MM",
        "en": "Write the date and time as YYYY-MM-DD HH:MM",
    },
    "format.time": {"zh": "时间格式应为 HH:MM", "en": "Write the time as HH:MM"},
    "format.email": {"zh": "请填写有效的电子邮件地址", "en": "Enter a valid e-mail address"},
    "format.other": {"zh": "格式不正确", "en": "The format is not valid"},
    "minItems.table": {"zh": "至少填写 {limit} 行", "en": "Fill in at least {limit} row{s}"},
    "minItems.file": {"zh": "至少上传 {limit} 个文件", "en": "Upload at least {limit} file{s}"},
    "minItems.other": {"zh": "至少选择 {limit} 项", "en": "Choose at least {limit} item{s}"},
    "maxItems.table": {"zh": "最多填写 {limit} 行", "en": "Fill in at most {limit} row{s}"},
    "maxItems.file": {"zh": "最多上传 {limit} 个文件", "en": "Upload at most {limit} file{s}"},
    "maxItems.other": {"zh": "最多选择 {limit} 项", "en": "Choose at most {limit} item{s}"},
    "uniqueItems": {"zh": "不能有重复项", "en": "Entries must not repeat"},
    "minProperties": {"zh": "至少填写 {limit} 项", "en": "Fill in at least {limit} field{s}"},
    "maxProperties": {"zh": "最多填写 {limit} 项", "en": "Fill in at most {limit} field{s}"},
    "not_object": {
        "zh": "提交的数据应为一组字段",
        "en": "The submitted data must be a set of fields",
    },
    "other": {"zh": "填写的值不符合要求", "en": "The value is not allowed"},
    # Out-of-specification flags (x-limits): warnings, not errors.
    "limits.below": {
        "zh": "低于规格下限 {limit}{unit}",
        "en": "Below the lower limit {limit}{unit}",
    },
    "limits.above": {
        "zh": "高于规格上限 {limit}{unit}",
        "en": "Above the upper limit {limit}{unit}",
    },
}

# How option lists are joined in each locale: 合格、不合格 / 合格, 不合格
LIST_SEPARATOR = {"zh": "、", "en": ", "}


def fmt_value(value: Any) -> str:
    """Render a limit or option the way an operator writes it: 10 not 10.0, text unquoted."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if value is None:
        return "null"
    return str(value)


def message(key: str, locale: str = "zh", **params: Any) -> str:
    """The message ``key`` in ``locale`` (``zh`` or ``en``; anything else gives Chinese).

    ``{s}`` in a template is the English plural ending, from ``limit``: 1 row, 2 rows.
    """
    texts = MESSAGES[key]
    text = texts.get(locale) or texts["zh"]
    if not params:
        return text
    if "{s}" in text:
        params = {**params, "s": "" if params.get("limit") in ("1", 1) else "s"}
    return text.format(**params)


def join_options(values: list[Any], locale: str = "zh") -> str:
    return LIST_SEPARATOR.get(locale, "、").join(fmt_value(v) for v in values)
