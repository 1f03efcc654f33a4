"""Acceptance: a researcher with the paper's datasets runs both paper configs and gets Figure 4,
Figure 5 and Table 2, complete (issue 14).

Small replicas of every dataset layout are built from generated audio
(:mod:`tests.datasets.replicas`), ``experiments/paper.yaml`` and ``experiments/paper-transfer.yaml``
run through the command line unchanged but for the dataset roots, a one-epoch schedule
(``--set training.max_epochs=1``) and OpenL3's window hop (``--set
embedders.openl3.params.hop_seconds=1.0``: one window per 1-s clip, as each window costs about
12 GMAC on the CPU; its weights are a generated file in the official Keras layout, given as
``OPENL3_WEIGHTS``), and ``speechmusic report`` writes the paper's figures and table. The
checks: every row and column the paper has, with numbers; the embedding baselines beside the
networks; partial data (a source dataset missing from the transfer stage, Marolt19 without noise
and ACMusYT without a root in stage one) runs to the end with every skipped experiment and its
reason in the report.

Size: 5 folds x (57 stage-one experiments + 64 transfer experiments) of one epoch each, the
paper's full-size networks (INA's has 5.5 M weights), about 80 clips embedded by OpenL3: a few
minutes on two CPU cores.
"""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from speechmusic.cli import main
from tests.datasets.replicas import (
    make_acmus_if_replica,
    make_acmus_vf_replica,
    make_acmusyt_replica,
    make_gtzan_replica,
    make_marolt19_replica,
    make_musan_replica,
    make_slaney_scheirer_replica,
)
from tests.evaluation import browser
from tests.transfer.openl3_fixture import write_openl3_h5

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
PAPER = REPO / "experiments" / "paper.yaml"
PAPER_TRANSFER = REPO / "experiments" / "paper-transfer.yaml"
SECONDS = 1.0  # the shortest clip every input takes (SwishNet's 16 MFCC frames need 0.94 s)
SCHEDULE = ["--set", "training.max_epochs=1", "--set", "embedders.openl3.params.hop_seconds=1.0"]
ROOT_VARS = ("MUSAN_ROOT", "GTZAN_ROOT", "MAROLT19_ROOT", "ACMUSYT_ROOT", "SNS_ROOT", "ACMUS_VF_ROOT",
             "ACMUS_IF_ROOT", "OPENL3_WEIGHTS", "SPEECHMUSIC_OPENL3_WEIGHTS")

#: Figure 4's and Figure 5's rows: the paper's architectures with their inputs, and OpenL3.
PAPER_ROWS = [("INA", "MelSpec"), ("INA", "MFCC"), ("SwishNet", "MelSpec"), ("SwishNet", "MFCC"),
              ("VGG-like", "MelSpec"), ("DNN", "MelSpec"), ("OpenL3", "Embedding")]
STAND_INS = [("YAMNet (stand-in)", "Embedding"), ("INA-published (stand-in)", "Embedding")]
TABLE2_TARGETS = ["Speech Music on S&S", "Accompaniment on ACMus VF", "Gender on ACMus VF",
                  "Ensemble Size on ACMus IF"]
#: Table 2's rows per target and which columns hold a number ("-" in the paper elsewhere).
TABLE2_ROWS = {"INA_Emb": "FZ IN FT", "INA_Orig": "FT", "VGG-like_Emb": "FZ IN FT",
               "VGG-like_Orig": "FT", "SwishNet_Emb": "FZ IN FT", "SwishNet_Orig": "FT",
               "OpenL3_Emb": "FZ", "DNN_baseline": "FT"}
NUMBER = r"\d+\.\d ± \d+\.\d"


def _roots(args: dict[str, Path]) -> list[str]:
    return [a for k, v in args.items() for a in ("--set", f"roots.{k}={v}")]


@pytest.fixture(scope="module")
def study(tmp_path_factory) -> dict[str, Path]:
    """Both stages run on replicas, and the report of both."""
    root = tmp_path_factory.mktemp("study")
    data = root / "data"
    # The fewest clips the protocol accepts: 10 independent groups per experiment (10 % test
    # blocks), e.g. 5 per class for a binary task.
    roots = {
        "musan": make_musan_replica(data, per_class=5, seconds=SECONDS),
        "gtzan": make_gtzan_replica(data, per_class=5, seconds=SECONDS),
        "marolt19": make_marolt19_replica(data, per_class=3, seconds=SECONDS),  # with its noise
        "acmusyt": make_acmusyt_replica(data, per_class=5, seconds=SECONDS),
        "sns": make_slaney_scheirer_replica(data, per_class=5, seconds=SECONDS, per_excluded=1),
        "acmus_vf": make_acmus_vf_replica(data, per_class=5, seconds=SECONDS),
        "acmus_if": make_acmus_if_replica(data, per_class=2, seconds=SECONDS),
    }
    weights = root / "openl3"
    weights.mkdir()
    write_openl3_h5(weights / "openl3_audio_mel256_music.h5")
    cache = ["--cache-dir", str(root / "cache")]
    out = {"root": root, "run": root / "paper", "transfer": root / "paper-transfer",
           "report": root / "report", "partial": root / "paper-partial"}
    with pytest.MonkeyPatch.context() as mp:
        for var in ROOT_VARS:
            mp.delenv(var, raising=False)
        mp.setenv("OPENL3_WEIGHTS", str(weights))
        stage_one = {k: roots[k] for k in ("musan", "gtzan", "marolt19", "acmusyt")}
        assert main(["run", str(PAPER), "-o", str(out["run"]), *SCHEDULE, *cache,
                     *_roots(stage_one)]) == 0
        # Stage two with one source missing (Marolt19): pre-training goes on with the other three.
        stage_two = {**roots, "marolt19": root / "no-marolt19-here"}
        assert main(["transfer", str(PAPER_TRANSFER), "-o", str(out["transfer"]), *SCHEDULE, *cache,
                     *_roots(stage_two)]) == 0
        assert main(["report", str(out["run"]), str(out["transfer"]), "-o", str(out["report"]),
                     "--no-confusion"]) == 0
        # Stage one on partial data: Marolt19 as Table 1 has it (no noise), ACMusYT's root unset.
        noiseless = make_marolt19_replica(root / "table1", per_class=3, seconds=SECONDS, with_noise=False)
        assert main(["run", str(PAPER), "-o", str(out["partial"]), "--only", "*-dnn-*", *SCHEDULE,
                     *cache, *_roots({"musan": roots["musan"], "gtzan": roots["gtzan"],
                                      "marolt19": noiseless})]) == 0
        assert main(["report", str(out["partial"]), "--no-confusion"]) == 0
    return out


def _rows(path: Path) -> list[dict[str, str]]:
    return list(csv.DictReader(path.read_text(encoding="utf-8").splitlines()))


def _md_rows(md: str, first: str) -> list[list[str]]:
    """The body rows of the Markdown table whose header starts with ``| first |``."""
    lines = md.splitlines()
    start = next(i for i, ln in enumerate(lines) if ln.startswith(f"| {first} |"))
    body = []
    for ln in lines[start + 2:]:
        if not ln.startswith("|"):
            break
        body.append([c.strip() for c in ln.strip("|").split(" | ")])
    return body


def _expected_rows(found: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """The paper's rows, then each stand-in the environment could run (YAMNet needs the
    'embeddings' extra, INA's network its wheel)."""
    return PAPER_ROWS + [r for r in STAND_INS if r in found]


def test_figure4_every_architecture_averaged_over_the_four_datasets(study):
    import re

    report = study["report"]
    for name in ("figure4.md", "figure4.csv", "figure4.png"):
        assert (report / name).is_file(), name
    rows = _rows(report / "figure4.csv")
    found = [(r["title"], r["input"]) for r in rows]
    assert found == _expected_rows(found)
    for r in rows:  # the four datasets, 5 folds each; never the all-four pre-training
        assert r["datasets"] == "musan gtzan marolt19 acmusyt" and r["n_datasets"] == "4", r
        assert r["n_folds"] == "20", r
        for level in ("frame", "file"):
            assert 0.0 <= float(r[f"{level}_accuracy_mean"]) <= 1.0
            assert float(r[f"{level}_accuracy_std"]) >= 0.0
        for d in ("musan", "gtzan", "marolt19", "acmusyt"):
            assert 0.0 <= float(r[f"frame_accuracy_{d}"]) <= 1.0
    md = (report / "figure4.md").read_text()
    assert "| Model | Input | Frame-wise acc [%] | File-wise acc [%] | Datasets | Folds |" in md
    for cells in _md_rows(md, "Model"):
        assert re.fullmatch(NUMBER, cells[2]) and re.fullmatch(NUMBER, cells[3]), cells
        assert cells[4] == "4 of 4" and cells[5] == "20", cells
    per_dataset = _md_rows(md, "Model | Input | MUSAN")
    assert all(re.fullmatch(NUMBER, c) for row in per_dataset for c in row[2:]), per_dataset
    assert (report / "figure4.png").read_bytes()[:4] == b"\x89PNG"
    # The all-four pre-training ran, and is in the results, but in no figure.
    results = _rows(report / "results.csv")
    assert {r["experiment"] for r in results if r["datasets"].count("+") == 3} == {
        "all4-binary-ina-melspec", "all4-binary-swishnet-melspec", "all4-binary-vgg-melspec"}


def test_figure5_binary_vs_3class_on_musan_and_marolt19(study):
    import re

    report = study["report"]
    rows = _rows(report / "figure5.csv")
    for dataset in ("musan", "marolt19"):
        mine = [r for r in rows if r["dataset"] == dataset]
        found = [(r["title"], r["input"]) for r in mine]
        assert found == _expected_rows(found), dataset
        for r in mine:
            assert r["binary_status"] == r["three_class_status"] == "ok", r
            assert float(r["drop"]) == pytest.approx(float(r["binary_mean"]) - float(r["three_class_mean"]),
                                                      abs=1e-5)
    md = (report / "figure5.md").read_text()
    assert ("| Model | Input | MUSAN binary [%] | MUSAN 3-class [%] | MUSAN drop [points] | "
            "Marolt19 binary [%] | Marolt19 3-class [%] | Marolt19 drop [points] |") in md
    for cells in _md_rows(md, "Model"):
        for i in (2, 3, 5, 6):
            assert re.fullmatch(NUMBER, cells[i]), cells
        for i in (4, 7):
            assert re.fullmatch(r"-?\d+\.\d", cells[i]), cells
    assert (report / "figure5.png").read_bytes()[:4] == b"\x89PNG"


def test_table2_every_target_and_row_with_numbers(study):
    import re

    report = study["report"]
    for name in ("table2.md", "table2.csv", "table2.png"):
        assert (report / name).is_file(), name
    md = (report / "table2.md").read_text()
    assert md.startswith("| Task-Set-Combination | Model | Acc_FZ [%] | Acc_IN [%] | Acc_FT [%] |")
    body = _md_rows(md, "Task-Set-Combination")
    blocks: dict[str, dict[str, list[str]]] = {}
    title = ""
    for cells in body:
        title = cells[0] or title
        blocks.setdefault(title, {})[cells[1]] = cells[2:]
    assert list(blocks) == TABLE2_TARGETS
    for target, rows in blocks.items():
        paper = [m for m in rows if "stand-in" not in m]
        assert paper == list(TABLE2_ROWS), target
        for model, numbered in TABLE2_ROWS.items():
            for col, cell in zip(("FZ", "IN", "FT"), rows[model], strict=True):
                if col in numbered.split():
                    assert re.fullmatch(NUMBER, cell), (target, model, col, cell)
                else:
                    assert cell == "-", (target, model, col, cell)
        for model in (m for m in rows if "stand-in" in m):  # n/a where the stand-in is not installed
            assert re.fullmatch(NUMBER + "|n/a", rows[model][0]) and rows[model][1:] == ["-", "-"]
    csv_rows = _rows(report / "table2.csv")
    assert len(csv_rows) == len(body)
    openl3 = [r for r in csv_rows if r["model"] == "OpenL3_Emb"]
    assert len(openl3) == 4 and all(r["FZ_frame_mean"] and r["FZ_file_mean"] for r in openl3)


def test_one_html_page_with_every_figure_and_table(study):
    report = study["report"]
    page = (report / "report.html").read_text()
    for heading in ("Figure 4: accuracy per architecture and input (binary tasks)",
                    "Figure 5: binary vs 3-class (frame-wise accuracy)", "Table 2 (frame-wise accuracy)"):
        assert f">{heading}</h3>" in page, heading
    assert page.count("data:image/png;base64,") == 3  # Figures 4, 5 and Table 2's chart
    md = (report / "report.md").read_text()
    assert "![Figure 4" in md and "(figure4.png)" in md and "(table2.png)" in md
    # The transfer stage ran without Marolt19, and says so.
    assert "pretrain:marolt19" in page and "left out of pre-training" in page
    assert "MUSAN, GTZAN, ACMusYT (left out: Marolt19)" in page
    if browser.CHROMIUM.is_file():
        dom = browser.dump_dom(report / "report.html", study["root"])
        browser.check_report_page(dom, figures=3, min_tables=8)
        browser.check_not_blank(browser.screenshot(report / "report.html", study["root"]))


def test_stage_one_runs_to_the_end_on_partial_data(study):
    """paper.yaml with Marolt19 as Table 1 lists it (no noise class) and ACMusYT's root unset:
    the rest runs; every skipped experiment is in the report with its reason."""
    run = study["partial"]
    skipped = {r["experiment"]: r["reason"] for r in _rows(run / "skipped_experiments.csv")}
    assert set(skipped) == {"acmusyt-binary-dnn-melspec", "marolt19-3class-dnn-melspec"}
    assert "ACMUSYT_ROOT" in skipped["acmusyt-binary-dnn-melspec"]
    assert "no clips of class(es) ['noise'] in marolt19" in skipped["marolt19-3class-dnn-melspec"]
    done = {r["experiment"] for r in _rows(run / "results.csv")}
    assert done == {"musan-binary-dnn-melspec", "gtzan-binary-dnn-melspec",
                    "marolt19-binary-dnn-melspec", "musan-3class-dnn-melspec"}
    md = (run / "report" / "report.md").read_text()
    assert "## Skipped experiments (2)" in md
    for reason in skipped.values():
        assert reason.split(";")[0] in md
    (dnn,) = _rows(run / "report" / "figure4.csv")
    assert dnn["n_datasets"] == "3" and "acmusyt" in dnn["missing"]
    assert "| DNN | MelSpec |" in md and "3 of 4 (no ACMusYT)" in md
    marolt = [r for r in _rows(run / "report" / "figure5.csv") if r["dataset"] == "marolt19"]
    assert [(r["binary_status"], r["three_class_status"]) for r in marolt] == [("ok", "skipped")]
