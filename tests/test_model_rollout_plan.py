"""Rollout plans and the health judgement, and the model signature, without services."""
from __future__ import annotations

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from vigia.central.models.rollout import Health, make_plan, regression
from vigia.central.models.signing import public_key_b64
from vigia.inference.model_signature import SignatureRefused, sign_model, verify_model_signature


def test_plans_put_canaries_first_then_waves():
    devices = [f"d{i}" for i in range(1, 8)]
    assert make_plan(devices, canaries=["d3"], wave_size=4).stages == [["d3"], ["d1", "d2", "d4", "d5"], ["d6", "d7"]]
    assert make_plan(devices, canary_percent=20, wave_size=10).stages == [["d1", "d2"], ["d3", "d4", "d5", "d6", "d7"]]
    assert make_plan(["a"], canary_percent=1).stages == [["a"]]  # at least one canary


@pytest.mark.parametrize(("kwargs", "field"), [
    ({"canaries": ["zz"]}, "canaries"), ({}, "canaries"), ({"canary_percent": 0}, "canary_percent"),
    ({"canaries": ["a"], "wave_size": 0}, "wave_size")])
def test_a_plan_that_cannot_be_made_names_its_field(kwargs, field):
    with pytest.raises(ValueError, match=f"^{field}:"):
        make_plan(["a", "b"], **kwargs)
    with pytest.raises(ValueError, match="^devices:"):
        make_plan([], canaries=["a"])


def test_health_leaves_the_thresholds_against_the_devices_own_baseline():
    plan = make_plan(["a"], canaries=["a"])
    baseline = Health({"person": 1000.0, "car": 5.0}, 20.0, 0, 60.0, 2)
    assert regression(plan, baseline, Health({"person": 600.0}, 25.0, 0, 60.0, 2)) is None  # rare car not judged
    assert "person: 400 detections/hour" in regression(plan, baseline, Health({"person": 400.0}, 20.0, 0, 60.0, 2))
    assert "inference 70.0 ms" in regression(plan, baseline, Health({"person": 1000.0}, 70.0, 0, 60.0, 2))
    assert "3 inference errors" in regression(plan, None, Health({}, None, 3, 60.0, 2))


def test_only_centrals_key_over_the_exact_bytes_verifies():
    key = Ed25519PrivateKey.generate()
    public = public_key_b64(key)
    signature = sign_model(key, "ab" * 32, 1000)
    verify_model_signature(public, signature, "ab" * 32, 1000)
    for sha256, size, sig, reason in [("ab" * 32, 1001, signature, "bad signature"), ("cd" * 32, 1000, signature, "bad"),
                                      ("ab" * 32, 1000, sign_model(Ed25519PrivateKey.generate(), "ab" * 32, 1000), "bad"),
                                      ("ab" * 32, 1000, None, "unsigned"), ("ab" * 32, 1000, "%%", "malformed")]:
        with pytest.raises(SignatureRefused, match=reason):
            verify_model_signature(public, sig, sha256, size)
