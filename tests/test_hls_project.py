"""HlsProject.predict keeps each frame's C-sim output: the handoff's driver references (the check inputs) and
repeated frames do not run hls4ml's C simulation again (52 s per ResNet-18 frame; `make build`'s resnet18 build
spent 104 s of its handoff re-simulating its 2 check frames before this)."""

import numpy as np

from compiler.backend.hls4ml_project import HlsProject


class _CountingModel:
    """Stands in for hls4ml's ModelGraph.predict only: it counts the frames it is asked to simulate."""

    def __init__(self):
        self.frames = 0

    def predict(self, x):
        self.frames += len(x)
        return x.reshape(len(x), -1).sum(axis=1, keepdims=True) * np.array([1.0, -1.0], dtype=np.float32)


def _project(tmp_path):
    p = HlsProject.__new__(HlsProject)
    p.model, p.log = _CountingModel(), tmp_path / "hls4ml.log"
    return p


def test_each_frame_is_simulated_once(tmp_path):
    p = _project(tmp_path)
    x = np.random.default_rng(0).random((3, 4, 4, 2)).astype(np.float32)
    first = np.concatenate([p.predict(x[i:i + 1]) for i in range(3)])      # the check, frame by frame
    assert p.model.frames == 3
    again = p.predict(x)                                                    # the driver references, one batch
    assert p.model.frames == 3
    np.testing.assert_array_equal(first, again)
    np.testing.assert_array_equal(again[:, 0], x.reshape(3, -1).sum(axis=1))
    both = p.predict(np.concatenate([x[:1], x[:1] + 1]))                    # one new frame: only it runs
    assert p.model.frames == 4 and both.shape == (2, 2)
    np.testing.assert_array_equal(both[0], first[0])
    # float64 frames are the float32 frames hls4ml receives
    np.testing.assert_array_equal(p.predict(x.astype(np.float64)), first)
    assert p.model.frames == 4
