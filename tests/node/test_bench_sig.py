import json

import pytest

from paraclear.cli import main


def test_bench_sig_json_reports_rates_per_thread_count_and_speedup(capsys):
    code = main(["bench", "sig", "--json", "--count", "40", "--repeats", "2", "--threads", "1,2"])
    result = json.loads(capsys.readouterr().out)
    assert code == 0
    assert result["verify_per_s_1"] > 0 and result["verify_per_s_2"] > 0
    assert result["speedup"] > 0 and result["speedup_threads"] == [1, 2]
    assert result["cpu_per_wall_1"] > 0 and result["cpu_per_wall_2"] > 0


def test_bench_sig_rejects_a_zero_thread_count(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["bench", "sig", "--threads", "0"])
    assert exit_.value.code == 2
    assert "outside" in capsys.readouterr().err
