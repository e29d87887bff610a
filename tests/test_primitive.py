"""Registration: the public mechanism checks each primitive eagerly and names the problem."""
import numpy as np
import pytest

import ad
from ad.errors import RegistrationError


def _id(t, out, x):
    return t


def test_duplicate_name():
    with pytest.raises(RegistrationError, match="'sin' is already registered"):
        ad.defelementwise("sin", np.sin, (np.cos,))


def test_missing_rules_named():
    with pytest.raises(RegistrationError, match="'lonely' has no VJP rule"):
        ad.defprimitive("lonely", lambda x: x, jvp=(_id,), vjp=(None,),
                        cost=ad.PerElement(1, 1, 1, 0))


def _any(t, *rest):
    return t


def test_rule_count_must_match_arity():
    with pytest.raises(RegistrationError, match="takes 2 arguments but has 1 JVP rules"):
        ad.defprimitive("pair", lambda x, y: x + y, jvp=(_any,), vjp=(_any,),
                        cost=ad.PerElement(1, 1, 1, 0))


def test_rule_signature_checked():
    def bad_rule(t):
        return t
    with pytest.raises(RegistrationError, match="bad_rule.*cannot take 3 positional"):
        ad.defprimitive("badsig", lambda x: x, jvp=(bad_rule,), vjp=(_id,),
                        cost=ad.PerElement(1, 1, 1, 0))


def test_cost_entry_required():
    with pytest.raises(RegistrationError, match="no cost entry"):
        ad.defprimitive("nocost", lambda x: x, jvp=(_id,), vjp=(_id,), cost=None)


def test_a_user_primitive_works_everywhere():
    def logistic(x):
        return 1.0 / (1.0 + np.exp(-x))

    def logistic_partial(x, y):
        return y * (1.0 - y)
    sigmoid = ad.defelementwise("logistic_for_test", logistic, (logistic_partial,),
                                flops=22, partial_flops=2)
    x = np.array([-1.0, 0.0, 2.0])
    ad.check_grads(lambda x: sigmoid(x), (x,), order=3)
    assert ad.grad(lambda x: ad.numpy.sum(sigmoid(x)))(np.zeros(1))[0] == 0.25


def test_symbolic_zero_skips_rules():
    calls = []

    def jvp_rule(t, out, x, y):
        calls.append("x")
        return t * y
    def vjp_rule(ct, out, x, y):
        return ct * y
    mul = ad.defprimitive("mul_counting", np.multiply, jvp=(jvp_rule, jvp_rule),
                          vjp=(vjp_rule, vjp_rule), cost=ad.PerElement(1, 1, 1, 2))
    ad.jvp(lambda x: mul(x, 3.0), (2.0,), (1.0,))
    assert calls == ["x"]   # no rule ran for the constant argument
