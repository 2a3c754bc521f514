import pytest
import torch

from ocr.models.crnn import CRNN
from ocr.models.frames import min_width, output_frames


@pytest.mark.parametrize("width", [8, 33, 100, 128, 257])
def test_output_shape_and_frame_count(width):
    model = CRNN(imgH=32, nChannels=1, nHidden=16, nClasses=11, channels=(4, 8, 8, 8, 16, 16, 16))
    out = model(torch.randn(2, 1, 32, width))
    assert out.shape == (2, output_frames(width), 11)


def test_min_width_gives_enough_frames():
    for frames in range(1, 60):
        assert output_frames(min_width(frames)) >= frames


def test_nhidden_need_not_match_the_cnn_width():
    # The seed sized the first LSTM's input as 2 * nHidden, which only worked for 256.
    model = CRNN(imgH=32, nChannels=1, nHidden=64, nClasses=5)
    assert model(torch.randn(1, 1, 32, 64)).shape[-1] == 5


def test_taller_inputs_are_reduced_to_one_row():
    model = CRNN(imgH=64, nChannels=3, nHidden=16, nClasses=5, channels=(4, 8, 8, 8, 16, 16, 16))
    assert model(torch.randn(1, 3, 64, 64)).shape == (1, output_frames(64), 5)


@pytest.mark.parametrize("imgH", [30, 0, 40])
def test_imgH_must_be_a_multiple_of_16(imgH):
    with pytest.raises(ValueError, match=f"imgH={imgH}"):
        CRNN(imgH=imgH, nChannels=1, nHidden=8, nClasses=5)
