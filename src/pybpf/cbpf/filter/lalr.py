"""A small LALR(1) table builder with Bison's conflict and default-reduction rules.

libpcap's filter grammar is a Bison grammar that leans on Bison's behaviour: 38 shift/reduce
conflicts resolved by precedence or by "shift wins", reductions that run before an error is
noticed (so which message a bad filter gets depends on them), and mid-rule access to the
value below the rule (``$<blk>0``) to carry qualifiers from left to right. Rather than
imitate all of that by hand, the grammar module writes its productions down and this module
builds the same kind of tables Bison does:

* LR(0) item sets, LALR(1) lookaheads by propagation;
* a rule's precedence is that of its *last terminal* (or its ``%prec`` symbol); a
  shift/reduce conflict is resolved by precedence only when both the rule's symbol and the
  token have one (left: reduce, right: shift, nonassoc: explicit error), otherwise shift;
  reduce/reduce goes to the earlier rule;
* each state's most common reduction becomes its default, and a state whose every action
  is that default reduces without reading a lookahead token.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

END = "$end"
ACCEPT = "$accept"


@dataclass
class Production:
    lhs: str
    rhs: tuple[str, ...]
    action: Callable[..., Any] | None = None
    prec: str | None = None          # %prec symbol
    index: int = 0


@dataclass
class Tables:
    """Parse tables. ``actions[state]`` maps a token to ``("s", state)``, ``("r", rule)`` or
    ``("e",)``; ``default[state]`` is a rule index or None; ``needs_token[state]`` is False
    where Bison reduces by the default without reading a token."""

    productions: list[Production]
    actions: list[dict[str, tuple]]
    default: list[int | None]
    needs_token: list[bool]
    gotos: list[dict[str, int]]
    final: int
    sr_conflicts: int = 0
    rr_conflicts: int = 0
    expected: dict[str, Any] = field(default_factory=dict)


def build(start: str, productions: Sequence[Production],
          precedence: Sequence[tuple[str, Sequence[str]]]) -> Tables:
    """LALR(1) tables for ``productions`` (the first one's lhs need not be ``start``)."""
    prods = [Production(ACCEPT, (start, END))] + list(productions)
    for i, p in enumerate(prods):
        p.index = i
    nonterms = {p.lhs for p in prods}
    by_lhs: dict[str, list[int]] = {}
    for p in prods:
        by_lhs.setdefault(p.lhs, []).append(p.index)
    prec_of: dict[str, tuple[int, str]] = {}
    for level, (assoc, toks) in enumerate(precedence, start=1):
        for t in toks:
            prec_of[t] = (level, assoc)
    rule_prec: list[str | None] = []
    for p in prods:
        sym = p.prec
        if sym is None:
            for s in p.rhs:
                if s not in nonterms:
                    sym = s
        rule_prec.append(sym)

    # nullable and FIRST
    nullable: set[str] = set()
    first: dict[str, set[str]] = {n: set() for n in nonterms}
    changed = True
    while changed:
        changed = False
        for p in prods:
            if p.lhs not in nullable and all(s in nullable for s in p.rhs):
                nullable.add(p.lhs)
                changed = True
            acc = first[p.lhs]
            before = len(acc)
            for s in p.rhs:
                if s in nonterms:
                    acc |= first[s]
                    if s not in nullable:
                        break
                else:
                    acc.add(s)
                    break
            if len(acc) != before:
                changed = True

    def first_of(seq: Sequence[str], la: str) -> set[str]:
        out: set[str] = set()
        for s in seq:
            if s in nonterms:
                out |= first[s]
                if s not in nullable:
                    return out
            else:
                out.add(s)
                return out
        out.add(la)
        return out

    # LR(0) item sets
    def closure0(items: frozenset) -> list[tuple[int, int]]:
        out = list(items)
        seen = set(items)
        i = 0
        while i < len(out):
            pi, dot = out[i]
            i += 1
            rhs = prods[pi].rhs
            if dot < len(rhs) and rhs[dot] in nonterms:
                for q in by_lhs[rhs[dot]]:
                    if (q, 0) not in seen:
                        seen.add((q, 0))
                        out.append((q, 0))
        return out

    kernels: list[frozenset] = [frozenset({(0, 0)})]
    index = {kernels[0]: 0}
    transitions: list[dict[str, int]] = []
    closures: list[list[tuple[int, int]]] = []
    s = 0
    while s < len(kernels):
        items = closure0(kernels[s])
        closures.append(items)
        moves: dict[str, set] = {}
        order: list[str] = []
        for pi, dot in items:
            rhs = prods[pi].rhs
            if dot < len(rhs):
                sym = rhs[dot]
                if sym == END:
                    continue
                if sym not in moves:
                    moves[sym] = set()
                    order.append(sym)
                moves[sym].add((pi, dot + 1))
        trans: dict[str, int] = {}
        for sym in order:
            k = frozenset(moves[sym])
            if k not in index:
                index[k] = len(kernels)
                kernels.append(k)
            trans[sym] = index[k]
        transitions.append(trans)
        s += 1

    # LALR(1) lookaheads by spontaneous generation and propagation (Dragon book 4.7.5)
    HASH = "#"
    la: dict[tuple[int, tuple[int, int]], set[str]] = {}
    for st, k in enumerate(kernels):
        for item in k:
            la[(st, item)] = set()
    la[(0, (0, 0))].add(END)            # never read: $end is in the rule itself
    propagate: dict[tuple[int, tuple[int, int]], list[tuple[int, tuple[int, int]]]] = {}

    def closure1(seed: list[tuple[int, int, str]]) -> set[tuple[int, int, str]]:
        out = set(seed)
        work = list(seed)
        while work:
            pi, dot, a = work.pop()
            rhs = prods[pi].rhs
            if dot < len(rhs) and rhs[dot] in nonterms:
                for b in first_of(rhs[dot + 1:], a):
                    for q in by_lhs[rhs[dot]]:
                        it = (q, 0, b)
                        if it not in out:
                            out.add(it)
                            work.append(it)
        return out

    for st, k in enumerate(kernels):
        for kitem in k:
            for pi, dot, a in closure1([(kitem[0], kitem[1], HASH)]):
                rhs = prods[pi].rhs
                if dot >= len(rhs) or rhs[dot] == END:
                    continue
                target = (transitions[st][rhs[dot]], (pi, dot + 1))
                if a == HASH:
                    propagate.setdefault((st, kitem), []).append(target)
                else:
                    la[target].add(a)
    changed = True
    while changed:
        changed = False
        for src, dsts in propagate.items():
            srcla = la[src]
            for d in dsts:
                if not srcla <= la[d]:
                    la[d] |= srcla
                    changed = True

    # reductions per state, with lookaheads
    nterm = set(nonterms)
    actions: list[dict[str, tuple]] = []
    default: list[int | None] = []
    needs: list[bool] = []
    gotos: list[dict[str, int]] = []
    sr_total = rr_total = 0
    final = -1
    for st, k in enumerate(kernels):
        seed = [(pi, dot, a) for (pi, dot) in k for a in la[(st, (pi, dot))]]
        reds: dict[int, set[str]] = {}
        for pi, dot, a in closure1(seed):
            if dot == len(prods[pi].rhs):
                reds.setdefault(pi, set()).add(a)
        trans = transitions[st]
        shifts = {t: d for t, d in trans.items() if t not in nterm}
        gotos.append({t: d for t, d in trans.items() if t in nterm})
        if (0, 1) in k:
            shifts = dict(shifts)
            shifts[END] = -1            # accept on $end
        red_rules = sorted(reds)
        consistent = not red_rules or (len(red_rules) == 1 and not shifts)
        errors: set[str] = set()
        # precedence resolution
        for r in red_rules:
            sym = rule_prec[r]
            if sym is None or sym not in prec_of:
                continue
            rlevel, _ = prec_of[sym]
            for t in sorted(reds[r] & set(shifts)):
                if t not in prec_of:
                    continue
                tlevel, assoc = prec_of[t]
                if tlevel < rlevel or (tlevel == rlevel and assoc == "left"):
                    del shifts[t]
                elif tlevel > rlevel or assoc == "right":
                    reds[r].discard(t)
                else:                    # nonassoc
                    del shifts[t]
                    reds[r].discard(t)
                    errors.add(t)
        union: set[str] = set()
        for r in red_rules:
            union |= reds[r]
        sr_total += len(union & set(shifts))
        row: dict[str, tuple] = {}
        for t, d in shifts.items():
            row[t] = ("a",) if d == -1 else ("s", d)
        for r in red_rules:
            for t in reds[r]:
                if t in row:
                    if row[t][0] == "r":
                        rr_total += 1
                    continue
                row[t] = ("r", r)
        for t in errors:
            row[t] = ("e",)
        dflt = None
        if red_rules:
            if consistent:
                dflt = red_rules[0]
            else:
                best = 0
                for r in red_rules:
                    cnt = sum(1 for a in row.values() if a == ("r", r))
                    if cnt > best:
                        best, dflt = cnt, r
        if dflt is not None:
            row = {t: a for t, a in row.items() if a != ("r", dflt)}
        else:
            row = {t: a for t, a in row.items() if a != ("e",)}
        if (0, 1) in k:
            final = st
        actions.append(row)
        default.append(dflt)
        needs.append(bool(row))
    return Tables(prods, actions, default, needs, gotos, final, sr_total, rr_total)
