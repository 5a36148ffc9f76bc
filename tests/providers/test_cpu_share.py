"""The thread count for llama.cpp, from what the rest of the machine used between calls."""

from __future__ import annotations

from blockpass.providers.cpu_share import CpuShare, machine_busy_seconds


class Machine:
    """CPU seconds of the whole machine and of this process, on a clock the test moves."""

    def __init__(self) -> None:
        self.busy = 1000.0
        self.own = 10.0
        self.now = 0.0

    def run(self, seconds: float, *, others: float, own: float) -> None:
        """``seconds`` of wall time with others using ``others`` cores and us ``own``."""
        self.now += seconds
        self.own += own * seconds
        self.busy += (others + own) * seconds

    def share(self, cores: int = 2) -> CpuShare:
        return CpuShare(
            cores=cores,
            machine_busy=lambda: self.busy,
            own_busy=lambda: self.own,
            clock=lambda: self.now,
        )


def test_an_idle_machine_gives_every_core_to_llama_cpp() -> None:
    machine = Machine()
    share = machine.share()
    machine.run(5, others=0.05, own=1.9)
    assert share.threads() == 2


def test_one_other_busy_process_leaves_one_thread_even_while_we_use_both_cores() -> None:
    machine = Machine()
    share = machine.share()
    # Two threads of ours against one CPU-bound process: it gets about a third of the CPU.
    machine.run(5, others=0.67, own=1.33)
    assert share.threads() == 1
    machine.run(5, others=1.0, own=1.0)
    assert share.threads() == 1
    # It ended: the next call gets both cores again.
    machine.run(5, others=0.0, own=1.0)
    assert share.threads() == 2


def test_a_core_counts_as_taken_from_forty_percent_of_others_use() -> None:
    machine = Machine()
    share = machine.share(cores=4)
    machine.run(10, others=0.35, own=1.0)
    assert share.threads() == 4
    machine.run(10, others=1.45, own=1.0)
    assert share.threads() == 2
    machine.run(10, others=9.0, own=0.5)
    assert share.threads() == 1


def test_a_look_too_short_to_measure_keeps_the_previous_answer() -> None:
    machine = Machine()
    share = machine.share()
    machine.run(5, others=1.0, own=1.0)
    assert share.threads() == 1
    machine.run(0.1, others=0.0, own=0.0)
    assert share.threads() == 1


def test_without_machine_figures_every_core_is_used() -> None:
    share = CpuShare(cores=3, machine_busy=lambda: None)
    assert share.threads() == 3


def test_the_machine_figures_are_read_from_this_system() -> None:
    first = machine_busy_seconds()
    assert first is not None
    assert first > 0
    assert 1 <= CpuShare().threads() <= CpuShare().cores
