import json

from paraclear.cli import main


def test_bench_book_json_reports_the_promised_keys(capsys):
    code = main(
        [
            "bench",
            "book",
            "--resting",
            "200",
            "--ops",
            "2000",
            "--books",
            "3",
            "--ops-per-book",
            "500",
            "--repeats",
            "1",
            "--json",
        ]
    )
    result = json.loads(capsys.readouterr().out)
    assert code == 0
    assert {"ops_per_s_one_book", "ops_per_s_all_books", "parallel_speedup"} <= set(result)
    assert result["ops_per_s_one_book"] > 0 and result["parallel_speedup"] > 0
    mix = result["one_book"]["mix"]
    assert set(mix) == {"add", "cancel", "match"} and abs(sum(mix.values()) - 1) < 1e-3
