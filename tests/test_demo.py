"""`./dev demo`, the README's first command: analyze the example, post it to a local service, print the page."""

import json

from rca.demo import EXAMPLE, main


def test_the_demo_analyzes_posts_and_prints_where_to_review(tmp_path, capsys):
    main(["--no-serve", "--data-dir", str(tmp_path / "demo")])
    out = capsys.readouterr().out
    table = out.split("2. review service")[0]
    assert "incident feature-store-outage" in table
    assert "signals  predictions, histograms, feature_samples, traces, kpis, metrics, events, graph" in table
    first = next(line for line in table.splitlines() if line.lstrip().startswith("1 "))
    truth = json.loads((EXAMPLE / "label.json").read_text())["causes"][0]
    assert truth["node"] in first and truth["kind"] in first   # the example the README shows is ranked right
    assert "posted incident feature-store-outage: HTTP 201" in out
    assert "/incidents/feature-store-outage" in out and "sign in with the reviewer key: rca_" in out
    assert (tmp_path / "demo" / "rca.db").is_file()


def test_the_demo_runs_again_on_the_same_data_directory(tmp_path, capsys):
    # ./dev demo keeps var/demo between runs; the second post of the example must be "the same incident
    # again" (200, the stored record), not a different body under the same id (409, and the demo exits 1).
    main(["--no-serve", "--data-dir", str(tmp_path / "demo")])
    assert "HTTP 201" in capsys.readouterr().out
    main(["--no-serve", "--data-dir", str(tmp_path / "demo")])
    out = capsys.readouterr().out
    assert "posted incident feature-store-outage: HTTP 200" in out
    assert "/incidents/feature-store-outage" in out
