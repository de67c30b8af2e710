"""Operator-facing messages for form validation, in Chinese (``zh``) and English (``en``).

Kept apart from the checks so that wording can be reviewed in one place; they are
translated by the product's one catalogue (``engine.i18n``). Every message is a
``str.format`` template; unknown locales fall back to Chinese.
"""

from __future__ import annotations

from typing import Any

from engine import i18n

# Keyed by what each message is about; the English text is the catalogue's key.
MESSAGES: dict[str, str] = {
    'required': 'This field is required',
    'unknown': 'This is an unknown field',
    'enum': 'Choose one of: {options}',
    'const': 'Must be {value}',
    'const.tick': 'Tick this box to confirm',
    'type.string': 'Enter text',
    'type.number': 'Enter a number',
    'type.integer': 'Enter a whole number',
    'type.boolean': 'Choose yes or no',
    'type.array': 'Must be a list',
    'type.object': 'Must be a group of fields',
    'type.null': 'Must be empty',
    'type.any': 'Wrong kind of value; expected: {types}',
    'minimum': 'Must be at least {limit}',
    'maximum': 'Must be at most {limit}',
    'exclusiveMinimum': 'Must be greater than {limit}',
    'exclusiveMaximum': 'Must be less than {limit}',
    'multipleOf': 'Must be a multiple of {limit}',
    'minLength': 'Enter at least {limit} character{s}',
    'maxLength': 'Enter at most {limit} character{s}',
    'pattern': 'The format is not valid',
    'format.date': 'Write the date as YYYY-MM-DD',
    'format.date-time': 'Write the date and time as YYYY-MM-DD HH:MM',
    'format.time': 'Write the time as HH:MM',
    'format.email': 'Enter a valid e-mail address',
    'format.other': 'The format is not valid',
    'minItems.table': 'Fill in at least {limit} row{s}',
    'minItems.file': 'Upload at least {limit} file{s}',
    'minItems.other': 'Choose at least {limit} item{s}',
    'maxItems.table': 'Fill in at most {limit} row{s}',
    'maxItems.file': 'Upload at most {limit} file{s}',
    'maxItems.other': 'Choose at most {limit} item{s}',
    'uniqueItems': 'Entries must not repeat',
    'minProperties': 'Fill in at least {limit} field{s}',
    'maxProperties': 'Fill in at most {limit} field{s}',
    'not_object': 'The submitted data must be a set of fields',
    'other': 'The value is not allowed',
    'limits.below': 'Below the lower limit {limit}{unit}',
    'limits.above': 'Above the upper limit {limit}{unit}',
}

# Their Chinese, in the one catalogue (engine.i18n).
ZH: dict[str, str] = {
    'This field is required': '必填项',
    'This is an unknown field': '未知字段',
    'Choose one of: {options}': '请从以下选项中选择：{options}',
    'Must be {value}': '应为 {value}',
    'Tick this box to confirm': '请勾选此项以确认',
    'Enter text': '应填写文本',
    'Enter a number': '应填写数字',
    'Enter a whole number': '应填写整数',
    'Choose yes or no': '应选择是或否',
    'Must be a list': '应为列表',
    'Must be a group of fields': '应为一组字段',
    'Must be empty': '应为空',
    'Wrong kind of value; expected: {types}': '类型不正确，应为：{types}',
    'Must be at least {limit}': '应不小于 {limit}',
    'Must be at most {limit}': '应不大于 {limit}',
    'Must be greater than {limit}': '应大于 {limit}',
    'Must be less than {limit}': '应小于 {limit}',
    'Must be a multiple of {limit}': '应为 {limit} 的整数倍',
    'Enter at least {limit} character{s}': '至少填写 {limit} 个字',
    'Enter at most {limit} character{s}': '最多填写 {limit} 个字',
    'The format is not valid': '格式不正确',
    'Write the date as YYYY-MM-DD': '日期格式应为 YYYY-MM-DD',
    'Write the date and time as YYYY-MM-DD HH:MM': '日期时间格式应为 YYYY-MM-DD HH:MM',
    'Write the time as HH:MM': '时间格式应为 HH:MM',
    'Enter a valid e-mail address': '请填写有效的电子邮件地址',
    'Fill in at least {limit} row{s}': '至少填写 {limit} 行',
    'Upload at least {limit} file{s}': '至少上传 {limit} 个文件',
    'Choose at least {limit} item{s}': '至少选择 {limit} 项',
    'Fill in at most {limit} row{s}': '最多填写 {limit} 行',
    'Upload at most {limit} file{s}': '最多上传 {limit} 个文件',
    'Choose at most {limit} item{s}': '最多选择 {limit} 项',
    'Entries must not repeat': '不能有重复项',
    'Fill in at least {limit} field{s}': '至少填写 {limit} 项',
    'Fill in at most {limit} field{s}': '最多填写 {limit} 项',
    'The submitted data must be a set of fields': '提交的数据应为一组字段',
    'The value is not allowed': '填写的值不符合要求',
    'Below the lower limit {limit}{unit}': '低于规格下限 {limit}{unit}',
    'Above the upper limit {limit}{unit}': '高于规格上限 {limit}{unit}',
}
i18n.add("zh", ZH)

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
    text = MESSAGES[key]
    if "{s}" in text:
        params = {**params, "s": "" if params.get("limit") in ("1", 1) else "s"}
    return i18n.gettext(text, locale if locale in i18n.LOCALES else "zh", **params)


def join_options(values: list[Any], locale: str = "zh") -> str:
    return LIST_SEPARATOR.get(locale, "、").join(fmt_value(v) for v in values)
