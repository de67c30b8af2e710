"""Texts translated from a value at run time, listed for the extractor.

A status, a decision, an event name or a KPI is kept as an English word and translated where
it is shown, with ``_(value)``; no literal call names it, so ``N_()`` marks it here and
``scripts/i18n extract`` puts it in the catalog. Nothing imports this module.
"""

from __future__ import annotations

from engine.i18n import N_

WORDS = (
    # Event names (audit trail, timeline, CSV)
    N_('instance:started'),
    N_('task:created'),
    N_('task:completed'),
    N_('task:approved'),
    N_('task:rejected'),
    N_('task:claimed'),
    N_('task:released'),
    N_('task:reassigned'),
    N_('task:cancelled'),
    N_('instance:cancelled'),
    N_('instance:completed'),
    N_('data:corrected'),
    N_('deadline:reminder'),
    N_('deadline:missed'),
    N_('deadline:escalated'),
    N_('route:taken'),
    N_('spawn:requested'),
    N_('join:completed'),
    N_('wait:woken'),
    N_('approval:opened'),
    N_('approval:added'),
    N_('approval:decided'),
    N_('task:transferred'),
    N_('task:returned'),
    N_('task:recalled'),
    N_('task:urged'),
    N_('instance:withdrawn'),
    N_('cc:sent'),
    N_('cc:read'),
    N_('files:recorded'),
    # Statuses of instances, tasks, approvals, notifications and procedure versions; decisions
    N_('running'),
    N_('Escalated'),
    N_('reject'),
    N_('assigned'),
    N_('missed'),
    N_('escalated'),
    N_('transferred'),
    N_('returned'),
    N_('urged'),
    N_('cc'),
    N_('pending'),
    N_('failed'),
    N_('sent'),
    N_('draft'),
    N_('in_review'),
    N_('published'),
    N_('retired'),
    N_('withdrawn'),
    # KPI measures, periods and search modes
    N_('before'),
    N_('after'),
    N_('starts with'),
    N_('contains'),
    N_('prefix'),
    N_('exact'),
    N_('week'),
    N_('month'),
    N_('on_time'),
    N_('first_pass'),
    N_('overdue'),
    N_('on time'),
    N_('late'),
    # Changes to the organisation chart (engine/app/org.py)
    N_('imported'),
    N_('user_changed'),
    N_('department_added'),
    N_('department_changed'),
    # How conditions read as words (engine/language/condition_words.py)
    N_('{left} or {right}'),
    N_('{left} and {right}'),
    # Page texts the code passes as values
    N_('Not allowed'),
    N_('Language'),
    N_('Upload'),
    N_('Uploaded files'),
    N_('Back'),
    N_('You do not hold a role in this procedure.'),
)

# Moved from the dicts by scripts/i18n absorb at the merge of issue 19 (approvals, the condition
# builder's operators: engine/language/condition_builder.py OPERATORS, shown with _(words)).
ABSORBED = (
    N_('approvals'),
    N_('rejections'),
    N_('is'),
    N_("isn't"),
    N_('greater than'),
    N_('at least'),
    N_('less than'),
    N_('at most'),
    N_('between'),
    N_('is one of'),
    N_('is none of'),
    N_('is empty'),
    N_('is filled in'),
    N_('is yes'),
    N_('is no'),
)

# Moved from a dict by scripts/i18n absorb: check that each is translated at run time.
ABSORBED = (
    N_("Once the State Council's notice of the next year is out, upgrade the holiday data on the server ({command}, then restart), or list the days off and the make-up working days under {lists} in {file}."),
)

# Moved from a dict by scripts/i18n absorb: check that each is translated at run time.
ABSORBED = (
    N_("Once the State Council's notice of the next year is out, upgrade the holiday data on the server ({command}, then restart), or list the days off and the make-up working days under {lists} in {file} and set {until} to the last day they cover."),
)

# Moved from a dict by scripts/i18n absorb: check that each is translated at run time.
ABSORBED = (
    N_('Add {key} back to {file} (then restart), or publish a version of the procedure that names another calendar.'),
)
