"""Exemplar selection: AN by action type, DD by difficulty, deterministic, never the query itself."""

import pytest

from fineparser.exemplars import ExemplarChooser, ExemplarRecord, select_exemplars

RECORDS = [ExemplarRecord("407C", 3.2, 80.0), ExemplarRecord("407C", 3.2, 75.5),
           ExemplarRecord("107B", 3.0, 60.0), ExemplarRecord("407C", 3.2, 90.0),
           ExemplarRecord("5253B", 3.2, 70.0), ExemplarRecord("107B", 3.0, 66.0)]


def test_an_picks_the_same_action_type_and_excludes_the_query():
    got = select_exemplars(RECORDS, RECORDS[0], m=10, setting="AN", seed=0, exclude=0)
    assert sorted(got) == [1, 3]


def test_dd_picks_the_same_difficulty():
    got = select_exemplars(RECORDS, ExemplarRecord("X", 3.2, 0.0), m=10, setting="DD", seed=0)
    assert sorted(got) == [0, 1, 3, 4]


def test_deterministic_with_seed_and_limited_to_m():
    a = select_exemplars(RECORDS, RECORDS[4], m=2, setting="DD", seed=7, exclude=4)
    assert a == select_exemplars(RECORDS, RECORDS[4], m=2, setting="DD", seed=7, exclude=4)
    assert len(a) == 2 and len(set(a)) == 2 and 4 not in a
    draws = {tuple(select_exemplars(RECORDS, RECORDS[4], m=2, setting="DD", seed=s, exclude=4)) for s in range(20)}
    assert len(draws) > 1


def test_no_candidates_and_bad_arguments():
    assert select_exemplars(RECORDS, ExemplarRecord("626B", 3.3, 0.0), m=3) == []
    with pytest.raises(ValueError, match="setting"):
        select_exemplars(RECORDS, RECORDS[0], m=3, setting="XX")
    with pytest.raises(ValueError, match="m expected"):
        select_exemplars(RECORDS, RECORDS[0], m=0)


def test_exemplar_plan_excludes_the_query_and_is_deterministic(tiny_table):
    _, table = tiny_table(masks="none")
    train, test = table.indices("train"), table.indices("test")
    chooser = ExemplarChooser(table, train, "AN")
    plan, fallback = chooser.plan(test + train, 10, seed=0)
    assert not fallback
    for row, ex in plan.items():
        assert row not in ex and len(ex) == len(set(ex))
        assert {table.action_types[z] for z in ex} == {table.action_types[row]}
    assert chooser.plan(test, 10, seed=0)[0] == {r: plan[r] for r in test}
    dd = ExemplarChooser(table, train, "DD").plan(test, 2, seed=0)[0]
    assert all(table.difficulties[z] == table.difficulties[r] for r, ex in dd.items() for z in ex)
