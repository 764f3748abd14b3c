"""Forget/retain pairing depends only on (seed, epoch, forget index)."""

from hf_unlearn.data.pairing import ForgetRetainDataset, retain_index

FORGET = [{"i": i} for i in range(40)]
RETAIN = [{"j": j} for j in range(1000)]


def _pairs(ds, indices):
    return [(ds[i]["forget"]["i"], ds[i]["retain"]["j"]) for i in indices]


def test_reproducible():
    a, b = ForgetRetainDataset(FORGET, RETAIN, seed=0), ForgetRetainDataset(FORGET, RETAIN, seed=0)
    assert _pairs(a, range(40)) == _pairs(b, range(40))
    assert _pairs(a, [3, 3]) == [_pairs(a, [3])[0]] * 2  # the same item on every access


def test_changes_with_epoch_and_seed():
    ds = ForgetRetainDataset(FORGET, RETAIN, seed=0)
    epoch0 = _pairs(ds, range(40))
    ds.set_epoch(1)
    epoch1 = _pairs(ds, range(40))
    assert epoch0 != epoch1
    assert sum(x == y for x, y in zip(epoch0, epoch1, strict=True)) < 5
    assert _pairs(ForgetRetainDataset(FORGET, RETAIN, seed=1), range(40)) != epoch0


def test_same_whatever_the_number_of_processes():
    """Ranks hold different forget indices; each index gets the partner it would get in one process."""
    single = dict(_pairs(ForgetRetainDataset(FORGET, RETAIN, seed=0), range(40)))
    for world in (2, 4):
        for rank in range(world):
            shard = ForgetRetainDataset(FORGET, RETAIN, seed=0)  # a fresh copy, as each process builds its own
            for i, j in _pairs(shard, range(rank, 40, world)):
                assert single[i] == j
    # and two ranks draw different retain rows, since they hold different forget rows
    rank0 = [single[i] for i in range(0, 40, 2)]
    rank1 = [single[i] for i in range(1, 40, 2)]
    assert rank0 != rank1


def test_retain_index_in_range_and_spread():
    drawn = {retain_index(0, 0, i, 7) for i in range(200)}
    assert drawn == set(range(7))
