"""The send-budget model BLOCK-9 asserts (conformance/_util_cipher.py TxBudget), against counts
worked out by hand from crypto/af_alg.c af_alg_sendmsg / af_alg_pull_tsgl (6.1 and 6.12)."""

from afalg_conformance.conformance._util_cipher import PAGE, TxBudget, pipe_buffers


def test_empty_queue_takes_the_budget():
    assert TxBudget(8192).send(60000) == 8192
    assert TxBudget(4096).send(60000) == 4096
    assert TxBudget(100).send(60000) == PAGE          # at least one page
    assert TxBudget(3 * PAGE + 1).send(60000) == 3 * PAGE
    assert TxBudget(212992).send(300000) == 212992


def test_partly_filled_page_is_filled_outside_the_budget():
    m = TxBudget(8192)
    assert m.send(5000) == 5000                     # pages 4096 + 904, merge 904
    assert m.send(60000) == PAGE - 904              # the tail of the second page, then budget 0
    m = TxBudget(8192)
    m.send(100)
    assert m.send(60000) == 8092


def test_after_a_partial_read_one_call_and_per_buffer_calls_differ():
    def fresh():
        m = TxBudget(8192)
        m.send(8192)
        m.pull(4112)                                # one page freed, 16 bytes off the next
        assert (m.used, m.budget(), m.merge) == (4080, 4112, 0)
        return m
    assert fresh().send(60000) == 8192              # 4096 + 16 new, then the 4080 tail
    assert fresh().calls([60000]) == 8192           # 6.12 splice: one sendmsg
    assert fresh().calls(pipe_buffers(60000)) == PAGE          # 6.1 splice: one call per buffer
    assert fresh().calls(pipe_buffers(60000, 100)) == PAGE     # 3996, then 100 of the next


def test_pull_clears_merge_only_when_empty():
    m = TxBudget(8192)
    m.send(100)
    m.pull(48)
    assert m.merge == 100 and m.used == 52
    m.pull(52)
    assert m.merge == 0 and m.used == 0


def test_pipe_buffers():
    assert pipe_buffers(10000) == [4096, 4096, 1808]
    assert pipe_buffers(10000, 100) == [3996, 4096, 1908]
