"""Why one hypothesis ranks where it does: the features that put another above it (or it above another).

A trained ranker's score is a sum over features (each booster's tree paths, LightGBM's ``pred_contrib``:
SHAP values, exact for trees, plus the booster's bias), and the ensemble averages its boosters, so the gap
between two hypotheses' scores splits exactly into per-feature parts. Confidences are a per-incident softmax of
the scores (`rca.ranking.calibration`), so a gap ``g`` is a confidence ratio of ``exp(g / T)``.

For the team that looks into a miss ("the reviewers named service:db; why did it rank third?") and for a
reviewer who doubts a ranking. The heuristic scorer has no such split (`contrast` refuses it).
"""

from __future__ import annotations

import math

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, computed_field

from rca.contract.bundle import Bundle
from rca.contract.nodes import node_name
from rca.errors import InputError
from rca.generators.base import Candidates
from rca.generators.metrics import ordinal, uncompared_services
from rca.ranking.features import feature_matrix, incident_table

SHOWN_FEATURES = 8
"""How many features `contrast` names by default: the gap's largest parts."""


class Placed(BaseModel):
    """One hypothesis as the ranker placed it."""

    model_config = ConfigDict(frozen=True)

    node: str
    kind: str
    rank: int = Field(description="among every hypothesis of the incident, 1-based (the answer lists the first "
                                  "`top`)")
    confidence: float
    score: float = Field(description="the ranker's raw score (the mean of its boosters')")


class Part(BaseModel):
    """One feature's share of the score gap: its value on each hypothesis and its contribution to the gap."""

    model_config = ConfigDict(frozen=True)

    feature: str
    value: float | None = Field(description="on the hypothesis asked about (null: absent)")
    other_value: float | None = Field(description="on the one it is compared with (null: absent)")
    contribution: float = Field(description="to the score gap; positive raises the hypothesis asked about")


class Contrast(BaseModel):
    """Why a hypothesis ranks where it does: its score gap with another, split into feature parts
    (`rca.ranking.why`); the parts and ``rest`` sum to ``gap``, and exp(gap / temperature) is the ratio of the
    two confidences. The answer of `rca why --format json` and of ``GET /v1/incidents/{id}/why``."""

    model_config = ConfigDict(frozen=True)

    ranker: str = Field(description="the name of the ranker whose scores these are")
    asked: Placed
    other: Placed
    temperature: float
    parts: list[Part] = Field(description="the largest |contribution| first")
    rest: float = Field(description="the other features' parts together")

    @computed_field(description="asked.score - other.score")
    @property
    def gap(self) -> float:
        return self.asked.score - self.other.score


def contrast(bundle: Bundle, candidates: Candidates, ranker, *, node: str, kind: str | None = None,
             versus: str | None = None, versus_kind: str | None = None,
             shown: int = SHOWN_FEATURES) -> Contrast:
    """Place the hypothesis ``node`` (of ``kind``; its highest-ranked kind when None) and split its score gap
    with ``versus`` (of ``versus_kind``; default: the first-ranked hypothesis, or the second when the one asked
    about is first) into per-feature contributions.

    Raises
    ------
    InputError
        When no hypothesis names the node (or that kind of it), ``versus_kind`` comes without ``versus``, or
        the ranker's scores do not split into feature contributions (the heuristic scorer).
    """
    if not node.strip():
        raise InputError("a node is needed, the one asked about (e.g. service:db)", field="node")
    if versus_kind is not None and versus is None:  # the default other hypothesis has its own kind
        raise InputError("versus_kind is the kind of the node named by versus; give versus too",
                         field="versus_kind")
    boosters = getattr(ranker, "boosters", None)
    if not boosters:
        raise InputError(f"the ranker in use ({ranker.name}) does not split its scores into feature "
                         "contributions; a trained LightGBM ranker does", field="ranker")
    it = incident_table(bundle, candidates)
    if not it.hypotheses:
        raise InputError("no hypotheses: no signal changed against its baseline", field="node")
    scores = ranker.score_table(it.rows)
    confidences = ranker.calibration.probabilities(scores)
    order = sorted(range(len(it.hypotheses)),    # the answer's order (`rca.ranking.rule.answer_from_scores`)
                   key=lambda i: (-confidences[i], it.hypotheses[i].node, str(it.hypotheses[i].kind)))
    rank_of = {i: r for r, i in enumerate(order, start=1)}

    def find(want_node: str, want_kind: str | None, what: str) -> int:
        hits = [i for i in order if it.hypotheses[i].node == want_node
                and (want_kind is None or str(it.hypotheses[i].kind) == want_kind)]
        if not hits:
            kinds = sorted({str(h.kind) for h in it.hypotheses if h.node == want_node})
            blind = uncompared_services(bundle).get(node_name(want_node)) if want_node.startswith("service:") else None
            if kinds:
                found = f"it has hypotheses of kind {', '.join(kinds)} only"
            elif blind:     # the likeliest reason: the engine could not see it
                found = f"its metric series {', '.join(blind)} had too few baseline points to be compared"
            else:
                found = "no generator proposed it (its signals did not change against the baseline, or it has none)"
            # the node has hypotheses, of other kinds: the kind asked for is what is wrong
            wrong = {"node": "kind", "versus": "versus_kind"}[what] if kinds and want_kind is not None else what
            raise InputError(f"no hypothesis names {want_node}" + (f" as {want_kind}" if want_kind else "")
                             + f": {found}", field=wrong)
        return hits[0]

    asked = find(node, kind, "node")
    if versus is None:
        other = order[1] if order[0] == asked and len(order) > 1 else order[0]
        if other == asked:
            raise InputError(f"{node} is the incident's only hypothesis: nothing to compare it with", field="node")
    else:
        other = find(versus, versus_kind, "versus")
        if other == asked:
            raise InputError("a hypothesis compared with itself; name another node or kind", field="versus")
    x = feature_matrix(it.rows.iloc[[asked, other]], ranker.feature_names)
    contributions = np.mean([b.predict(x, pred_contrib=True, num_threads=1) for b in boosters], axis=0)
    diff = contributions[0, :-1] - contributions[1, :-1]     # the last column is the bias: the same for both
    top = np.argsort(-np.abs(diff), kind="stable")[:max(0, shown)]
    parts = [Part(feature=ranker.feature_names[j], value=_present(x[0, j]), other_value=_present(x[1, j]),
                  contribution=float(diff[j])) for j in top]

    def placed(i: int) -> Placed:
        h = it.hypotheses[i]
        return Placed(node=h.node, kind=str(h.kind), rank=rank_of[i], confidence=float(confidences[i]),
                      score=float(scores[i]))

    return Contrast(ranker=ranker.name, asked=placed(asked), other=placed(other),
                    temperature=float(ranker.calibration.temperature), parts=parts,
                    rest=float(diff.sum() - sum(p.contribution for p in parts)))


def _present(v: float) -> float | None:
    return None if math.isnan(v) else float(v)


def render_contrast(c: Contrast) -> str:
    """``c`` as lines for a terminal."""
    a, o = c.asked, c.other
    where = "above" if a.rank < o.rank else "below"
    ratio = math.exp(c.gap / c.temperature) if c.temperature > 0 else math.nan
    lines = [f"{a.node} ({a.kind}) ranks {ordinal(a.rank)}, {where} {o.node} ({o.kind}, {ordinal(o.rank)})",
             f"confidence {_confidence(a.confidence)} vs {_confidence(o.confidence)}: score gap {c.gap:+.3f} "
             f"(confidence ratio exp(gap / {c.temperature:.3g}) = {ratio:.3g})",
             "",
             f"{'feature':<36} {'part of the gap':>15}  {'here':>10}  {'there':>10}"]
    for p in c.parts:
        lines.append(f"{p.feature:<36} {p.contribution:>+15.3f}  {_value(p.value):>10}  {_value(p.other_value):>10}")
    lines.append(f"{'(the other features)':<36} {c.rest:>+15.3f}")
    return "\n".join(lines)


def _confidence(p: float) -> str:
    return f"{p:.3f}" if p >= 0.001 else f"{p:.2g}"


def _value(v: float | None) -> str:
    return "absent" if v is None else f"{v:.4g}"
