"""An SVG-path vocabulary, its EBNF and a reference automaton: the fixture the constraint tests share."""

from gfx.backbones.constraints import AutomatonConstraint

# <col_k> tokens are never allowed
VOCAB = (
    ["<pad>", "<bos>", "<eos>", "M", "L", "C", "Q", "Z"]
    + [f"<coord_{i}>" for i in range(200)]
    + [f"<col_{i}>" for i in range(93)]
)
EOS, M, L, C, Q, Z, COORDS = 2, 3, 4, 5, 6, 7, range(8, 208)
EBNF = r"""
root  ::= path+
path  ::= "M" pt seg* "Z"?
seg   ::= "L" pt | "C" pt pt pt | "Q" pt pt
pt    ::= coord coord
coord ::= "<coord_" num ">"
num   ::= [0-9] | [1-9] [0-9] | "1" [0-9] [0-9]
"""
NEED = {M: 2, L: 2, C: 6, Q: 4}


def allowed(state):
    kind, k = state
    if kind == "start":
        return [M]
    if kind == "need":
        return COORDS
    if kind == "seg":
        return [L, C, Q, Z, M, EOS]
    if kind == "closed":
        return [M, EOS]
    return []


def step(state, token):
    kind, k = state
    if kind == "need":
        return ("need", k - 1) if k > 1 else ("seg", 0)
    if token == EOS:
        return ("done", 0)
    return ("closed", 0) if token == Z else ("need", NEED[token])


def automaton():
    return AutomatonConstraint(("start", 0), allowed, step, len(VOCAB), final=lambda s: s[0] == "done")


def is_valid(tokens):
    c = automaton()
    return all(c.advance(t) for t in tokens) and c.is_done()
