"""course_lib: the small helper package shared by every notebook of the Lightweight Deep Learning Lab.

One module per idea:

- ``config``   fast mode (``COURSE_FAST=1``), paths, seeding
- ``data``     the synthetic datasets (digits, shapes, poses) and an opt-in loader for the real ones
- ``profile``  parameters, MACs, activation memory and bytes on disk of a Keras model
- ``bench``    honest latency measurement (warm-up, repeats, median and IQR, threads, CPU)
- ``opprofile`` a per-operator profile of a LiteRT flatbuffer (each operator cut out and timed); XNNPACK's coverage (08)
- ``roofline`` this CPU's peak conv GMAC/s and element-wise GB/s, fp32 and int8 (08)
- ``cards``    machine cards (``make benchmark``, ``benchmarks/``), their schema, and generated sentences about int8 (08)
- ``checks``   the checking machinery and the generic checkers: friendly pass/fail messages, numbers, arrays, functions
- ``exercises`` every chapter's own exercise checkers, in notebook order (each tagged "NN ExK")
- ``practice`` the exercises of notebooks/: practice (blank) copies, reference solutions, which cell checks what
- ``progress`` every check recorded in your results folder; the progress view (00, ``make progress``)
- ``hints``    the hint ladder of every exercise: ``hints.ask("03 Ex2")``
- ``plots``    the house plot style
- ``ledger``   one CSV row per measured model, shared across notebooks
- ``models``   small model builders and a compact training helper
- ``tflite``   conversion to TensorFlow Lite / LiteRT and running the interpreter
- ``envcheck`` the environment report of notebook 00
- ``separable`` depthwise-separable convolutions and their cost (02)
- ``mobilenet`` MobileNetV1/V2 builders faithful to the papers (03)
- ``binarize`` BinaryConnect/BWN and XNOR-Net layers, bit packing (04)
- ``prune``    magnitude and channel pruning, schedules, rebuilding smaller dense models (05)
- ``pvanet``   CReLU and hyper-feature concatenation (06)
- ``quantize`` affine int8 arithmetic, fake quantization and QAT (07)
- ``pose``     heat maps, decoding, PCK, diagnostics, the Stacked Hourglass and its pruning (09)
- ``decide``   the capstone's keep/drop rule, applied on validation data (09)
- ``checkpoints`` the capstone's trained models: recipes, shipped weights with hashes, live training if stale (09)
- ``capstone`` the capstone's pipeline as steps that 09 and ``make checkpoints`` share (09)
- ``distill``  knowledge distillation: soft targets and Fast Pose Distillation (09)
- ``production`` MediaPipe's BlazePose landmark models, measured for scale (09)
- ``webdemo``  the capstone's models exported for the live web page (09, ``demo/``)
"""
import os as _os

# Keep TensorFlow's C++ start-up chatter out of the notebooks (must happen before TF is imported).
_os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

__version__ = "0.1.0"

from . import config as _config  # noqa: E402

# Every notebook needs TensorFlow; importing it here, quietly, keeps its C++ start-up messages
# out of the notebooks' outputs.
_config.import_tensorflow()
