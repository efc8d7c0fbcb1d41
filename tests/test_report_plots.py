"""The report's look, figure by figure: labels name only what differs from a problem's defaults, no two series of
a plot look alike however large the catalog, crowded tick labels are thinned until none touch, and variance
along a training run (suite "trajectory") gets its figure."""

from __future__ import annotations

import json
import warnings

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from matplotlib.lines import Line2D

from bench.report import data, gradplots, labels, style, trajectory
from tests import synthetic_results
from tests.test_report import overlapping

pytestmark = pytest.mark.xdist_group("report")


def test_a_label_names_only_the_parameters_that_differ_from_the_defaults():
    every = synthetic_results.PARAMS["sbn-vae"]  # every parameter written out; only width is not the default
    assert labels.problem_label("sbn-vae", every) == "sbn-vae (width=3)"
    assert labels.problem_label("chain", {"width": 3}) == "chain"
    assert labels.problem_label("chain", {"width": 5.0}) == "chain (width=5)"
    iwae = {**every, "objective": "iwae", "k": 5}
    assert labels.problem_label("sbn-vae", iwae) == "sbn-vae (k=5, objective=iwae, width=3)"
    assert labels.problem_label("sbn-vae", {**every, "objective": "elbo", "k": 1}) == "sbn-vae (width=3)"
    # a problem this checkout does not know: the parameters that vary between its parameter sets
    sets = [json.dumps({"a": 1, "b": 2}), json.dumps({"a": 1, "b": 3})]
    assert sorted(labels.views("plugin-problem", sets).values()) == ["plugin-problem (b=2)", "plugin-problem (b=3)"]
    assert labels.views("chain", ["not json"]) == {"not json": "chain"}


def _many(n: int) -> list[str]:
    return style.CATALOG + [f"plugin-{i:03d}" for i in range(n - len(style.CATALOG))]


@pytest.mark.parametrize("size", [len(style.CATALOG), 60, 150])
def test_colour_and_marker_never_repeat_within_a_plot_whatever_the_catalog_size(size):
    names = _many(size)
    colours = [style.colour(e) for e in names]
    assert len(set(colours)) == len(colours)  # colour alone tells estimators apart
    for backend in ("torch", "torch-compile", "jax"):
        looks = {(style.colour(e), style.marker(backend, e)) for e in names}
        assert len(looks) == len(names)
    assert all(style.colour(e) == style.colour(e) for e in names[:5])  # stable across calls


def test_a_plot_of_more_estimators_than_the_palette_draws_each_series_its_own_look(tmp_path):
    names = _many(40)
    rows = [{"estimator": e, "variant": "", "label": e, "backend": b, "device": "cpu", "depth": d, "batch_size": 1,
             "n_samples": 1, "variance": (i + 1) * d * 1e-3, "variance_se": 1e-5, "bias": 0.0, "bias_se": 0.0}
            for i, e in enumerate(names) for b in ("torch", "jax") for d in (1, 2)]
    frame = pd.DataFrame(rows)
    drawn = {}
    save = style.save

    def keep(fig, path):
        for line in fig.findobj(Line2D):
            if (line.get_gid() or "").startswith("series:"):
                drawn[line.get_gid()] = (line.get_color(), line.get_marker(), line.get_linestyle())
        style.declutter(fig)
        drawn["overlaps"] = overlapping(fig)
        return save(fig, path)

    with pytest.MonkeyPatch.context() as mp, warnings.catch_warnings():
        warnings.simplefilter("error")  # "constrained_layout not applied": axes squeezed to nothing
        mp.setattr(style, "save", keep)
        image = gradplots.against(frame, frame.iloc[0:0], "depth", tmp_path, "many", "many estimators")
    assert drawn.pop("overlaps") == []  # the legend of 40 estimators fits without squeezing the axes
    assert image is not None and len(drawn) == 80
    assert len(set(drawn.values())) == 80


def test_crowded_log_ticks_are_thinned_until_none_touch(tmp_path):
    """A narrow training-style panel whose values span many decades: the labels at every decade collide."""
    fig, axes = style.figure(1, 1, width=1.6, height=1.2)
    ax = axes[0][0]
    ax.plot(np.arange(30), np.logspace(-14, 14, 30))
    ax.plot(np.logspace(-12, 12, 30), np.arange(30))
    style.set_scale(ax, np.logspace(-14, 14, 30))
    style.set_scale(ax, np.logspace(-12, 12, 30), "x")
    ax.xaxis.set_major_locator(plt.LogLocator(base=10, subs=(1.0,), numticks=30))
    ax.yaxis.set_major_locator(plt.LogLocator(base=10, subs=(1.0,), numticks=30))
    fig.draw_without_rendering()
    assert overlapping(fig)  # the set-up does crowd
    style.declutter(fig)
    assert overlapping(fig) == []
    style.save(fig, tmp_path / "crowded.png")


def test_tick_text_is_short_and_plain():
    assert [style.tick_text(v) for v in (0.02, 500.0, 1e-5, 2e-5, 1e4)] == ["0.02", "500", "10⁻⁵", "2×10⁻⁵", "10⁴"]
    assert style.plain("a$b$") == r"a\$b\$"  # never mathtext


def _trajectory_rows(extra: list[dict] | None = None) -> pd.DataFrame:
    rows = pd.DataFrame(synthetic_results.trajectory() + (extra or []))
    for column in ("unit", "wall_s"):
        rows[column] = rows[column].astype(str) if column == "unit" else rows[column]
    return data.normalise(rows)


def test_variance_along_a_training_run_is_plotted_per_estimator_and_backend(tmp_path):
    rows = _trajectory_rows()
    blocks = trajectory.blocks(rows, tmp_path)
    text = " ".join(getattr(b, "text", "") for b in blocks)
    assert "driven by disarm with adam (lr=0.01)" in text
    (image,) = [b for b in blocks if hasattr(b, "path")]
    assert (tmp_path / image.path.split("/")[-1]).is_file()
    frame = trajectory.rows_of(rows)
    assert set(frame.variant) == {""}  # driver, optimizer and lr make the trajectory, not a variant
    assert sorted(frame.step.unique()) == synthetic_results.TRAJECTORY_STEPS


def test_a_trajectory_figure_draws_one_series_per_estimator_and_backend_from_step_0(tmp_path):
    rows = _trajectory_rows()
    tagged = trajectory.rows_of(rows)
    frame, _ = data.hold(data.wide(tagged, trajectory.METRICS, ["trajectory", "step"]), [], trajectory.FIXED)
    series = {}
    save = style.save

    def keep(fig, path):
        ax = fig.axes[0]
        series.update({line.get_gid(): line.get_xdata() for line in ax.get_lines()
                       if (line.get_gid() or "").startswith("series:")})
        series["xscale"] = ax.get_xscale()
        return save(fig, path)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(style, "save", keep)
        assert trajectory.plot(frame, tmp_path, "t", "chain: variance along a training run") is not None
    assert series.pop("xscale") == "symlog"  # step 0 (the initial parameters) stays on the axis
    assert len(series) == 6 and all(list(x) == synthetic_results.TRAJECTORY_STEPS for x in series.values())


def test_trajectory_without_enough_steps_or_rows_draws_nothing(tmp_path):
    assert trajectory.blocks(data.normalise(pd.DataFrame(synthetic_results.audit())), tmp_path) == []
    rows = _trajectory_rows()
    one_step = rows[rows.step == 0]
    blocks = trajectory.blocks(one_step, tmp_path)
    assert any("Fewer than two steps" in getattr(b, "text", "") for b in blocks)
    assert not list(tmp_path.glob("*.png"))
