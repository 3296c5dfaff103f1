"""The LR driver: Bison's parse loop over the tables built from the grammar.

Like Bison's skeleton it reads a lookahead token only when the state needs one, so the
reductions (and the errors code generation raises in them) happen in the same order as in
libpcap. The parse is iterative: nesting depth is bounded by memory, not the C stack.
"""

from __future__ import annotations

import functools

from pybpf.cbpf.filter import lalr
from pybpf.cbpf.filter.errors import FilterError
from pybpf.cbpf.filter.grammar import DEEP_ACTIONS, PRECEDENCE, PRODUCTIONS, Abort
from pybpf.cbpf.filter.lexer import Lexer

SYNTAX_ERROR = "can't parse filter expression: syntax error"
EXHAUSTED = "can't parse filter expression: memory exhausted"
MAXDEPTH = 10000          # Bison's YYMAXDEPTH: libpcap gives up at this nesting


@functools.lru_cache(maxsize=1)
def tables():
    """The parse tables (built once per process, ~0.1 s)."""
    t = lalr.build("prog", PRODUCTIONS, PRECEDENCE)
    info = [(len(p.rhs), p.lhs, p.action, p.action in DEEP_ACTIONS) for p in t.productions]
    return t, info


def parse(text: str, g) -> None:
    """Parse ``text``, driving the code generator ``g`` (which records the result).

    Raises FilterError with libpcap's message; ``column`` is where the parser was (the
    lookahead token for syntax errors, the first token of the rule being reduced for
    errors raised while generating code)."""
    t, info = tables()
    actions, default, needs, gotos = t.actions, t.default, t.needs_token, t.gotos
    errors: list[str] = []

    def set_error(msg: str) -> None:
        if not errors:
            errors.append(msg)
    g.set_error = set_error
    lexer = Lexer(text, set_error)
    states = [0]
    values: list = [None]
    cols: list[int] = [1]
    tok = None
    while True:
        state = states[-1]
        if needs[state]:
            if tok is None:
                tok = lexer.next()
            act = actions[state].get(tok.type)
            if act is None:
                rule = default[state]
                if rule is None:
                    set_error(SYNTAX_ERROR)
                    raise FilterError(errors[0], tok.column, text)
            elif act[0] == "s":
                states.append(act[1])
                values.append(tok.value)
                cols.append(tok.column)
                if len(states) >= MAXDEPTH:
                    set_error(EXHAUSTED)
                    raise FilterError(errors[0], tok.column, text)
                tok = None
                continue
            elif act[0] == "a":
                return
            elif act[0] == "r":
                rule = act[1]
            else:
                set_error(SYNTAX_ERROR)
                raise FilterError(errors[0], tok.column, text)
        else:
            rule = default[state]
            if rule is None:
                set_error(SYNTAX_ERROR)
                raise FilterError(errors[0], tok.column if tok else None, text)
        n, lhs, action, deep = info[rule]
        if n:
            args = values[-n:]
            col = cols[-n]
        else:
            args = []
            col = tok.column if tok is not None else lexer.pos + 1
        below = values[-n - 1]
        try:
            if deep:
                value = action(g, below, *args, values[-n - 2])
            elif action is not None:
                value = action(g, below, *args)
            else:
                value = None
        except FilterError as e:
            raise FilterError(e.message, col, text) from None
        except Abort:
            raise FilterError(errors[0] if errors else SYNTAX_ERROR, col, text) from None
        except RecursionError:
            raise FilterError("expression too complex", col, text) from None
        if n:
            del states[-n:]
            del values[-n:]
            del cols[-n:]
        states.append(gotos[states[-1]][lhs])
        values.append(value)
        cols.append(col)
        if len(states) >= MAXDEPTH:
            set_error(EXHAUSTED)
            raise FilterError(errors[0], col, text)
