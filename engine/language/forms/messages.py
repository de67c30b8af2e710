"""Operator-facing messages for form validation, in Chinese (``zh``) and English (``en``).

Kept apart from the checks so that wording can be reviewed in one place; they are
translated by the product's one catalog (``engine.i18n``, engine/translations). Every message is a
``str.format`` template; unknown locales fall back to Chinese.
"""

from __future__ import annotations

from typing import Any

from engine import i18n
from engine.i18n import N_

# Keyed by what each message is about; the English text is the catalog's msgid, marked with
# N_() for the extractor (its Chinese: engine/translations/zh/LC_MESSAGES/messages.po).
MESSAGES: dict[str, str] = {
    'required': N_('This field is required'),
    'unknown': N_('This is an unknown field'),
    'enum': N_('Choose one of: {options}'),
    'const': N_('Must be {value}'),
    'const.tick': N_('Tick this box to confirm'),
    'type.string': N_('Enter text'),
    'type.number': N_('Enter a number'),
    'type.finite': N_('Enter a finite number (NaN and infinity are not numbers a record can hold)'),
    'type.integer': N_('Enter a whole number'),
    'type.boolean': N_('Choose yes or no'),
    'type.array': N_('Must be a list'),
    'type.object': N_('Must be a group of fields'),
    'type.null': N_('Must be empty'),
    'type.any': N_('Wrong kind of value; expected: {types}'),
    'minimum': N_('Must be at least {limit}'),
    'maximum': N_('Must be at most {limit}'),
    'exclusiveMinimum': N_('Must be greater than {limit}'),
    'exclusiveMaximum': N_('Must be less than {limit}'),
    'multipleOf': N_('Must be a multiple of {limit}'),
    'minLength': N_('Enter at least {limit} character{s}'),
    'maxLength': N_('Enter at most {limit} character{s}'),
    'pattern': N_('The format is not valid'),
    'format.date': N_('Write the date as YYYY-MM-DD'),
    'format.date-time': N_('Write the date and time as YYYY-MM-DD HH:MM'),
    'format.time': N_('Write the time as HH:MM'),
    'format.email': N_('Enter a valid e-mail address'),
    'format.other': N_('The format is not valid'),
    'minItems.table': N_('Fill in at least {limit} row{s}'),
    'minItems.file': N_('Upload at least {limit} file{s}'),
    'minItems.other': N_('Choose at least {limit} item{s}'),
    'maxItems.table': N_('Fill in at most {limit} row{s}'),
    'maxItems.file': N_('Upload at most {limit} file{s}'),
    'maxItems.other': N_('Choose at most {limit} item{s}'),
    'uniqueItems': N_('Entries must not repeat'),
    'minProperties': N_('Fill in at least {limit} field{s}'),
    'maxProperties': N_('Fill in at most {limit} field{s}'),
    'not_object': N_('The submitted data must be a set of fields'),
    'other': N_('The value is not allowed'),
    'unresolvable': N_('This form cannot be checked: it refers to {ref}, which is not part of it; '
                       'ask the procedure\'s author to correct the form and publish it again'),
    'limits.below': N_('Below the lower limit {limit}{unit}'),
    'limits.above': N_('Above the upper limit {limit}{unit}'),
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
    text = MESSAGES[key]
    if "{s}" in text:
        params = {**params, "s": "" if params.get("limit") in ("1", 1) else "s"}
    return i18n.gettext(text, locale if locale in i18n.LOCALES else "zh", **params)


def join_options(values: list[Any], locale: str = "zh") -> str:
    return LIST_SEPARATOR.get(locale, "、").join(fmt_value(v) for v in values)
