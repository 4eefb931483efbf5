"""Times the SAM2 image encoder (model.forward_image: Hiera trunk + FPN neck + the decoder's conv_s0/conv_s1
projections, i.e. the network part of SAM2ImagePredictor.set_image) under ONNX Runtime, fp32, CPU, beside the
same module in PyTorch, as a second reference for the Swift encoder.

Input: the synthetic 1280x720 gradient image of bench_reference.py (or --image), preprocessed by the official
predictor's transforms to [1,3,1024,1024] (preprocessing is not timed). The module is exported with
torch.onnx.export (TorchScript exporter, falling back to dynamo) to --onnx, run with an InferenceSession
(CPUExecutionProvider, ORT_ENABLE_ALL, intra_op_num_threads=--threads, inter_op_num_threads=1): one warm-up,
then --runs timed runs. Outputs are the backbone_fpn maps (strides 4, 8, 16; the last is the image embedding
before no_mem_embed); max_rel_error = max over outputs of max|ort - torch| / max|torch|.
    OMP_NUM_THREADS=2 .venv-ref/bin/python tools/sam2/bench_onnx.py --checkpoint /tmp/sam2-full-t/model.pt --size t --runs 5
"""
import json
import statistics
import time
import warnings

import numpy as np
import onnxruntime as ort
import torch

from bench_reference import arguments, load
from make_fixtures import predictor_for


class Encoder(torch.nn.Module):
    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, x):
        return tuple(self.model.forward_image(x)["backbone_fpn"])


def export(module, x, path, names):
    for dynamo in (False, True):
        try:
            torch.onnx.export(module, (x,), path, opset_version=17, dynamo=dynamo, do_constant_folding=True,
                              input_names=["image"], output_names=names)
            return "dynamo" if dynamo else "torchscript"
        except Exception as e:  # noqa: BLE001
            print(f"export (dynamo={dynamo}) failed: {type(e).__name__}: {e}"[:2000], flush=True)
    raise SystemExit("ONNX export failed")


def timed(fn, runs):
    fn()  # warm-up
    out = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t0)
    return out


def main():
    ap = arguments(runs=5)
    ap.add_argument("--onnx", help="where to write the exported encoder (default /tmp/sam2-<size>-encoder.onnx)")
    args = ap.parse_args()
    model, image = load(args)
    model = model.eval()
    path = args.onnx or f"/tmp/sam2-{args.size}-encoder.onnx"
    x = predictor_for(model)._transforms(image)[None].contiguous()
    encoder = Encoder(model).eval()

    with torch.inference_mode():
        ref = [t.numpy().copy() for t in encoder(x)]
        torch_runs = timed(lambda: encoder(x), args.runs)
    names = [f"fpn_{i}" for i in range(len(ref))]
    t0 = time.perf_counter()
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # TracerWarnings on Hiera's padding branches (static for a fixed size)
        exporter = export(encoder, x, path, names)
    export_s = time.perf_counter() - t0

    so = ort.SessionOptions()
    so.intra_op_num_threads = args.threads
    so.inter_op_num_threads = 1
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    sess = ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])
    feed = {sess.get_inputs()[0].name: x.numpy()}
    outs = sess.run(None, feed)
    abs_err = [float(np.abs(o - r).max()) for o, r in zip(outs, ref)]
    rel_err = [a / float(np.abs(r).max()) for a, r in zip(abs_err, ref)]
    ort_runs = timed(lambda: sess.run(None, feed), args.runs)

    print(json.dumps(dict(
        reference=f"onnxruntime {ort.__version__} / torch {torch.__version__}", threads=args.threads,
        size=args.size, input=list(x.shape), exporter=exporter, opset=17, onnx=path, export_s=round(export_s, 1),
        outputs={n: "x".join(map(str, o.shape)) for n, o in zip(names, outs)},
        encoder_median_s=statistics.median(ort_runs), encoder_runs_s=ort_runs,
        torch_forward_image_median_s=statistics.median(torch_runs), torch_forward_image_runs_s=torch_runs,
        max_abs_diff=max(abs_err), max_rel_error=max(rel_err), rel_error_per_output=rel_err), indent=1))


if __name__ == "__main__":
    main()
