"""bf16 mixed precision on a CPU: whether the CPU has bf16 units, and the measured warning where it has none."""

import re

from diffusers_textvid.training import cpu_precision


def test_bf16_units_are_amx_or_avx512_bf16():
    assert cpu_precision.has_bf16_units({"avx2", "amx_bf16", "amx_tile"}) is True
    assert cpu_precision.has_bf16_units({"avx512f", "avx512_bf16"}) is True
    assert cpu_precision.has_bf16_units({"avx2", "fma"}) is False


def test_no_warning_where_the_cpu_has_bf16_units_or_its_flags_are_unknown(monkeypatch):
    assert cpu_precision.bf16_cost_warning({"amx_bf16"}) is None
    monkeypatch.setattr(cpu_precision, "cpu_flags", lambda: None)
    assert cpu_precision.bf16_cost_warning() is None


def test_the_warning_states_the_measured_slowdown(monkeypatch):
    monkeypatch.setattr(cpu_precision, "bf16_matmul_slowdown", lambda: 7.25)
    warning = cpu_precision.bf16_cost_warning({"avx2"})
    assert "without bf16 units" in warning and "7.2x the time of the fp32 one" in warning


def test_the_slowdown_is_a_measured_ratio():
    slowdown = cpu_precision.bf16_matmul_slowdown(size=64, repeats=2)
    assert 0.01 < slowdown < 1000 and slowdown != 1.0
    assert re.fullmatch(r"\d+\.\d", f"{slowdown:.1f}")
