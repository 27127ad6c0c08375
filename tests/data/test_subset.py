import numpy as np

from gfx.data.subset import evenly_spaced


def test_evenly_spaced_spans_the_items_and_keeps_their_type():
    assert evenly_spaced(list(range(10)), 3) == [0, 3, 6]
    assert evenly_spaced(list(range(10)), 0) == list(range(10))
    assert evenly_spaced(list(range(2)), 5) == [0, 1]
    rows = evenly_spaced(np.arange(230), 100)
    assert isinstance(rows, np.ndarray) and len(rows) == 100 and rows[0] == 0 and rows[-1] == 198
