import matplotlib

matplotlib.use("Agg")

from course_lib import plots  # noqa: E402


def test_pareto_front():
    xs = [1, 2, 3, 4, 2.5]
    ys = [0.5, 0.7, 0.6, 0.9, 0.7]
    # (3, 0.6) is beaten by (2, 0.7); (2.5, 0.7) is beaten by (2, 0.7).
    assert plots.pareto_front(xs, ys) == [0, 1, 3]
    assert plots.pareto_front([1], [1]) == [0]


def test_style_and_helpers(tmp_path):
    plots.use_style()
    ax = plots.axes("t", "x (ms)", "y (%)")
    assert ax.get_title() == "t" and ax.get_xlabel() == "x (ms)"
    plots.pareto(ax, [1, 2], [0.5, 0.8], labels=["a", "b"], label="run")
    plots.bar(plots.axes("b", "model", "MB"), ["a", "b"], [1.0, 2.0])
    ax.figure.savefig(tmp_path / "p.png")
    assert (tmp_path / "p.png").stat().st_size > 1000
