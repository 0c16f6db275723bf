"""``$filter`` and ``$orderby`` of run queries, compiled to SQL.

Grammar (OData-like, as run history accepts it):
``expr := term (('and'|'or') term)*``, ``term := '(' expr ')' | field op literal``,
``op := eq|ne|gt|ge|lt|le``, fields ``Status, RunType, Target, RunId, ParentRunId, Name, ExperimentId,
RunNumber, CreatedUtc, StartTimeUtc, EndTimeUtc, Tags/<key>, Properties/<key>``; literals are
'quoted strings', numbers, ISO 8601 times, ``null``, ``true``/``false``.
"""

from __future__ import annotations

import operator
import re
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, or_

from amlite.errors import BadRequest
from amlite.runs.tables import Run

_COLUMNS = {
    "status": Run.status, "runtype": Run.run_type, "target": Run.target, "runid": Run.run_id,
    "parentrunid": Run.parent_run_id, "name": Run.name, "experimentid": Run.experiment_id,
    "runnumber": Run.run_number, "createdutc": Run.created_at, "starttimeutc": Run.start_time,
    "endtimeutc": Run.end_time, "rootrunid": Run.root_run_id, "scriptname": Run.script_name,
}
_TIMES = {"createdutc", "starttimeutc", "endtimeutc"}
_OPERATORS = {"eq": operator.eq, "ne": operator.ne, "gt": operator.gt, "ge": operator.ge,
              "lt": operator.lt, "le": operator.le}
_TOKEN = re.compile(r"\s*(?:(\()|(\))|'((?:[^']|'')*)'|([^\s()']+))")


def _tokens(text: str) -> list[tuple[str, str]]:
    tokens, position = [], 0
    while position < len(text):
        match = _TOKEN.match(text, position)
        if match is None or match.end() == position:
            if text[position:].strip():
                raise _error(text, f"unexpected text at position {position}")
            break
        position = match.end()
        if match.group(1):
            tokens.append(("(", "("))
        elif match.group(2):
            tokens.append((")", ")"))
        elif match.group(3) is not None:
            tokens.append(("string", match.group(3).replace("''", "'")))
        else:
            tokens.append(("word", match.group(4)))
    return tokens


def _error(text: str, why: str) -> BadRequest:
    return BadRequest(f"Invalid $filter '{text}': {why}.", code="InvalidFilter", target="$filter")


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = _tokens(text)
        self.index = 0

    def _next(self) -> tuple[str, str]:
        if self.index >= len(self.tokens):
            raise _error(self.text, "it ends too early")
        token = self.tokens[self.index]
        self.index += 1
        return token

    def parse(self) -> ColumnElement[bool]:
        expression = self._expression()
        if self.index != len(self.tokens):
            raise _error(self.text, f"unexpected '{self.tokens[self.index][1]}'")
        return expression

    def _expression(self) -> ColumnElement[bool]:
        result = self._term()
        while self.index < len(self.tokens) and self.tokens[self.index][1].lower() in ("and", "or"):
            joiner = self._next()[1].lower()
            right = self._term()
            result = and_(result, right) if joiner == "and" else or_(result, right)
        return result

    def _term(self) -> ColumnElement[bool]:
        kind, value = self._next()
        if kind == "(":
            inner = self._expression()
            if self._next()[0] != ")":
                raise _error(self.text, "a '(' is not closed")
            return inner
        if kind != "word":
            raise _error(self.text, f"expected a field name, found '{value}'")
        column, is_time = self._field(value)
        op_kind, op = self._next()
        if op_kind != "word" or op.lower() not in _OPERATORS:
            raise _error(self.text, f"'{op}' is not one of {', '.join(_OPERATORS)}")
        literal = self._literal(is_time)
        compare = _OPERATORS[op.lower()]
        if literal is None:
            return column.is_(None) if op.lower() == "eq" else column.is_not(None)
        return compare(column, literal)

    def _field(self, name: str) -> tuple[Any, bool]:
        prefix, _, key = name.partition("/")
        if key and prefix.lower() == "tags":
            return Run.tags[key].as_string(), False
        if key and prefix.lower() == "properties":
            return Run.properties[key].as_string(), False
        column = _COLUMNS.get(name.lower())
        if column is None:
            raise _error(self.text, f"unknown field '{name}'")
        return column, name.lower() in _TIMES

    def _literal(self, is_time: bool) -> Any:
        kind, value = self._next()
        if kind not in ("string", "word"):
            raise _error(self.text, f"expected a value, found '{value}'")
        if kind == "word" and value.lower() == "null":
            return None
        if is_time:
            try:
                return datetime.fromisoformat(value.replace("Z", "+00:00"))
            except ValueError:
                raise _error(self.text, f"'{value}' is not an ISO 8601 time") from None
        if kind == "word":
            if value.lower() in ("true", "false"):
                return value.lower()
            try:
                return int(value)
            except ValueError:
                try:
                    return float(value)
                except ValueError:
                    raise _error(self.text, f"'{value}' is not a value (quote strings)") from None
        return value


def parse_filter(text: str | None) -> ColumnElement[bool] | None:
    return _Parser(text).parse() if text and text.strip() else None


def parse_order(text: str | None) -> list[Any]:
    """``$orderby`` such as ``CreatedUtc desc, RunNumber``; newest first when absent."""
    if not text or not text.strip():
        return [Run.created_at.desc(), Run.id.desc()]
    clauses = []
    for part in text.split(","):
        words = part.split()
        column = _COLUMNS.get(words[0].lower()) if words else None
        if column is None or len(words) > 2 or (len(words) == 2 and words[1].lower() not in ("asc", "desc")):
            raise BadRequest(f"Invalid $orderby '{text}'.", code="InvalidOrderBy", target="$orderby")
        clauses.append(column.desc() if len(words) == 2 and words[1].lower() == "desc" else column.asc())
    return [*clauses, Run.id.asc()]
