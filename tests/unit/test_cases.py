import json
from pathlib import Path

import pytest
from pydantic import ValidationError

from ferryman.cases.schema import case_from_json

CORPUS = Path(__file__).resolve().parents[3] / "shared" / "corpus" / "calls"


@pytest.mark.parametrize("path", sorted(CORPUS.glob("*.json")), ids=lambda p: p.stem)
def test_every_corpus_case_validates(path):
    case = case_from_json(json.loads(path.read_text(encoding="utf-8")))
    assert case.case_id and case.customer.name


def _d01() -> dict:
    return json.loads((CORPUS / "d01.json").read_text(encoding="utf-8"))["case"]


@pytest.mark.parametrize("mutate, field", [
    (lambda c: c["debt"].update(total="lots"), "debt.total"),
    (lambda c: c["debt"].update(principal=-5), "debt.principal"),
    (lambda c: c["debt"].update(min_payment=10**9), "debt.min_payment"),
    (lambda c: c.update(complaint_risk="extreme"), "complaint_risk"),
    (lambda c: c["customer"].pop("name"), "customer.name"),
    (lambda c: c.update(case_id="bad id with spaces"), "case_id"),
    (lambda c: c["plans"].append(dict(c["plans"][0])), "plans"),
])
def test_bad_cases_name_the_field(mutate, field):
    data = _d01()
    mutate(data)
    with pytest.raises(ValidationError) as err:
        case_from_json(data)
    locs = {".".join(str(p) for p in e["loc"]) for e in err.value.errors()}
    assert field in locs


def test_extra_fields_are_kept():
    data = _d01() | {"crm_ref": "X-1"}
    assert case_from_json(data).model_dump()["crm_ref"] == "X-1"
