import pytest
import torch

from ocr.geometry import MARGIN, min_width, output_frames
from ocr.models.crnn import CRNN, normalize
from ocr.models.graphs import TrainingGraphs


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


@pytest.mark.parametrize("leaky", [False, True])
def test_pooling_first_gives_the_seed_orders_values_and_gradients(leaky):
    model = CRNN(imgH=32, nChannels=1, nHidden=16, nClasses=11, leakyRelu=leaky, channels=(4, 8, 8, 8, 16, 16, 16))
    pooled = [m for m in model.cnn if type(m).__name__ == "PooledConv2d"]
    assert len(pooled) == 4
    x = torch.randn(3, 1, 32, 37)
    for conv in pooled:  # the blog post's order (and an ONNX export's): convolution with bias, activation, pooling
        conv.seed_order = True
    seed_order = model(x)
    for conv in pooled:
        conv.seed_order = False
    gradient = torch.randn_like(seed_order)
    (seed_order * gradient).sum().backward()
    seed_grads = [p.grad.clone() for p in model.parameters()]
    model.zero_grad()
    first = model(x)
    (first * gradient).sum().backward()
    torch.testing.assert_close(first, seed_order)
    for before, after in zip(seed_grads, (p.grad for p in model.parameters())):
        torch.testing.assert_close(after, before)


def test_weights_keep_the_seed_layer_names():
    names = [name for name in CRNN(32, 1, 16, 5).state_dict() if name.startswith("cnn.")]
    assert names[:4] == ["cnn.0.weight", "cnn.0.bias", "cnn.3.weight", "cnn.3.bias"]
    assert "cnn.18.weight" in names and "cnn.19.running_mean" in names


def small_crnn(**sizes) -> CRNN:
    torch.manual_seed(0)
    return CRNN(imgH=32, nChannels=1, nHidden=16, nClasses=11, channels=(4, 8, 8, 8, 16, 16, 16), **sizes).train()


def warm_up_then_return(module, sample_args, num_warmup_iters):
    """Stands in for torch.cuda.make_graphed_callables on a CPU: its warm-up passes
    (which move the batch norm statistics), then the module itself as the 'graph'."""
    for _ in range(num_warmup_iters):
        module(*sample_args)
    return module


def test_graph_capture_leaves_the_step_what_the_eager_step_computes(monkeypatch):
    monkeypatch.setattr(torch.cuda, "make_graphed_callables", warm_up_then_return)
    images, widths = torch.randn(4, 1, 32, 64), torch.tensor([64, 50, 20, 9])
    eager, graphed = small_crnn(), small_crnn()
    graphs = TrainingGraphs(graphed)
    assert torch.equal(graphs(images, widths), eager(images, widths))
    for ours, theirs in zip(graphed.buffers(), eager.buffers()):
        assert torch.equal(ours, theirs)  # the warm-up passes' statistics were undone
    assert len(graphs.graphs) == 1
    graphs(images, widths.flip(0))
    assert len(graphs.graphs) == 1  # one capture per shape
    graphs.clear()
    assert not graphs.graphs


def test_a_failed_capture_falls_back_to_eager_steps(monkeypatch, caplog):
    def fail(*args, **kwargs):
        raise RuntimeError("operation not permitted when stream is capturing")

    monkeypatch.setattr(torch.cuda, "make_graphed_callables", fail)
    images, widths = torch.randn(2, 1, 32, 64), torch.tensor([64, 30])
    eager, model = small_crnn(), small_crnn()
    graphs = TrainingGraphs(model)
    assert torch.equal(graphs(images, widths), eager(images, widths))
    assert graphs.failed and "training goes on eagerly" in caplog.text
    assert not graphs.accepts(images)


def test_graphs_are_not_for_cpu_batches():
    graphs = TrainingGraphs(small_crnn(), max_batch=8)
    assert not graphs.accepts(torch.randn(2, 1, 32, 64))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="CUDA graphs need a GPU")
def test_graphs_are_for_small_training_batches_on_a_gpu():
    graphs = TrainingGraphs(small_crnn().cuda(), max_batch=8)
    assert graphs.accepts(torch.randn(2, 1, 32, 64, device="cuda"))
    assert not graphs.accepts(torch.randn(9, 1, 32, 64, device="cuda"))
    graphs.module.eval()
    assert not graphs.accepts(torch.randn(2, 1, 32, 64, device="cuda"))


def test_the_margin_covers_how_far_past_its_edge_an_image_s_last_frame_sees():
    """ocr.geometry.MARGIN: the columns after an image that its own frames read."""
    torch.manual_seed(0)
    model = small_crnn().eval()
    width, images = 120, torch.randn(1, 1, 32, 400)
    with torch.no_grad():
        base = model.cnn(images)
        reach = 0
        for column in range(width, width + 64):
            moved = images.clone()
            moved[..., column] += 5
            changed = (model.cnn(moved) - base).abs().amax(dim=(0, 1, 2)) > 0
            if changed[: output_frames(width)].any():
                reach = column - width + 1
    assert reach == MARGIN


@pytest.mark.parametrize("head_norm", [False, True])
@pytest.mark.parametrize("training", [False, True])
def test_an_image_s_own_frames_ignore_the_rest_of_its_batch(training, head_norm):
    torch.manual_seed(0)
    model = small_crnn(headNorm=head_norm).train(training)
    model.cnn.eval()  # batch statistics in training mode mix the batch by design; the rest must not
    short = torch.randn(1, 1, 32, 50)
    batch = torch.randn(3, 1, 32, 300)
    batch[0, :, :, :50] = short[0]
    batch[0, :, :, 50:] = 0.3  # its own background after it
    widths = torch.tensor([50, 300, 170])
    alone = model(torch.cat([short, torch.full((1, 1, 32, MARGIN + 6), 0.3)], dim=3), torch.tensor([50]))
    together = model(batch, widths)
    frames = output_frames(50)
    assert torch.allclose(alone[0, :frames], together[0, :frames], atol=1e-5)
    # Without widths every frame reads the whole padded row: the padding leaks in.
    assert not torch.allclose(model(batch)[0, :frames], together[0, :frames], atol=1e-3)


def test_normalize_maps_uint8_pixels_onto_minus_one_to_one():
    pixels = torch.tensor([0, 127, 255], dtype=torch.uint8)
    assert torch.allclose(normalize(pixels), torch.tensor([-1.0, 127 / 127.5 - 1, 1.0]))
