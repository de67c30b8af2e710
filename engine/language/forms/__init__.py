"""Forms: a JSON Schema (draft 2020-12) plus ``x-`` presentation hints, loaded from YAML.

One module per reason to change: ``file_check`` checks a form file and reports every
problem where the author wrote it; ``model`` is the parsed :class:`Form`; ``submission``
validates what operators enter (messages from ``messages``, in Chinese or English, with
``quick_check`` answering first for valid data); ``visibility`` drops the fields that
``x-visible-if`` hides; ``limits`` flags numbers outside ``x-limits``; ``formats`` checks
dates, times and e-mail addresses; ``schema`` is the vocabulary they share. The file format
is described in ``docs/forms.md``.
"""

from engine.language.forms.file_check import load_form, parse_form
from engine.language.forms.model import FieldInfo, Form
from engine.language.forms.schema import HINTS, WIDGETS, default_widget

__all__ = ["FieldInfo", "Form", "load_form", "parse_form", "WIDGETS", "HINTS", "default_widget"]
