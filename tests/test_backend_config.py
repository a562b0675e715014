"""The image data format a script reads or sets: the translation holds images channels last."""

from __future__ import annotations

import keras

from translator import translate_source

SOURCE = """\
from keras import backend as K
if K.image_data_format() == 'channels_first':
    shape = (1, 28, 28)
else:
    shape = (28, 28, 1)
ordering = K.image_dim_ordering()
K.set_image_data_format("channels_last")
"""


def test_reads_give_what_keras_gives_by_default() -> None:
    result = translate_source(SOURCE)
    assert result.todos == 0, [d.render() for d in result.diagnostics]
    namespace: dict = {}
    exec(compile(result.code, "translated.py", "exec"), namespace)  # noqa: S102 - the translation under test
    assert namespace["shape"] == (28, 28, 1)
    assert namespace["ordering"] == "tf"
    assert keras.backend.image_data_format() == namespace["image_data_format"]()


def test_setting_channels_first_is_refused() -> None:
    for call in ("K.set_image_data_format('channels_first')", "K.set_image_dim_ordering('th')"):
        result = translate_source("from keras import backend as K\n" + call + "\n")
        assert result.todos >= 1 and "unsupported-call" in [d.rule for d in result.diagnostics]
