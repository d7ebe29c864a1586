"""Help when stuck, in steps: hint 1 (a nudge), hint 2 (the key formula or API), then the reference solution.

    from course_lib import hints
    hints.ask("03 Ex2")      # the next rung for exercise 2 of notebook 03 (ask again for the next one)
    hints.ask()              # the exercise whose check failed last in this notebook
    hints.ask("03 Ex2", 1)   # read rung 1 again

``ask`` only prints: nothing else in your notebook changes. How far you went is remembered in your progress file
(``progress.note_hint``), so asking again after a restart goes on where you were. The solution is read from the
course's committed notebook (``practice.solution``), so it is always the one the tests run; an instructor can
stop the ladder at hint 2 with ``COURSE_SHOW_SOLUTIONS=0``, which holds for every way of asking. A wrong argument
(an unknown exercise, a rung that is not 1, 2 or 3) prints one line saying what is accepted, never a traceback.

Adding hints for a new exercise: one entry in :data:`HINTS` (09's in :data:`HINTS_09`), keyed by the exercise id
("NN ExK", K the number in the exercise's heading), a pair of strings ``(nudge, key formula or API)``. Rung 1 must
not give the answer away; rung 2 may name the formula or call but leaves the code to the learner.
``tests/test_practice.py`` fails while an exercise of notebooks/ has no entry, or an entry names no exercise.
"""
from __future__ import annotations

import numbers
import re

from . import config, practice, progress

RUNGS = progress.SOLUTION_RUNG  # hint 1, hint 2, the reference solution

# ------------------------------------------------------------------------------ 00-08 (one pair per exercise)
HINTS: dict[str, tuple[str, str]] = {
    "00 Ex0": (
        "Each parameter is one float32 number. How many bytes does one take?",
        "bytes = number of parameters × bytes per parameter (4 for float32).",
    ),
    # 01 · measuring models
    "01 Ex1": (
        "A convolution does one multiply-add per weight for every output position. Which feature-map size does "
        "conv2 produce: the 28×28 input image or the 14×14 map pool1 hands it?",
        "MACs = Kh·Kw·C_in·C_out·H_out·W_out, with a 3×3 kernel, C_in = 16, C_out = 32 and a 14×14 output "
        "(`same` padding keeps the size).",
    ),
    "01 Ex2": (
        "A dense layer connects every input to every output, and each output unit has one extra number.",
        "params = n_in·n_out + n_out (weights plus one bias per output), with n_in = 64 and n_out = 10.",
    ),
    "01 Ex3": (
        "Count the values in one image's output first, then think about how big each value is and how many "
        "images are in the batch.",
        "bytes = H·W·C · 4 (bytes per float32) · batch size, with H = W = 28, C = 16, batch 32.",
    ),
    "01 Ex4": (
        "Two loops: one that only calls the model (warm-up), one that times each call separately and keeps "
        "the times. Which statistic is robust to a few slow calls?",
        "time.perf_counter() before and after each timed call; (end - start) * 1000 gives ms; "
        "statistics.median(times) at the end. Cycle inputs with inputs[i % len(inputs)].",
    ),
    # 02 · depthwise separable
    "02 Ex1": (
        "The separable layer is two layers in a row. Cost each one separately, then combine them.",
        "depthwise: Dk·Dk·M·Df·Df (one Dk×Dk filter per input channel); pointwise: M·N·Df·Df (a 1×1 conv "
        "from M to N channels). Return their sum.",
    ),
    "02 Ex2": (
        "For each input channel c, the spatial filter dw[:, :, c, 0] and the mixing weights pw[0, 0, c, :] "
        "multiply: every (y, x) position of the filter pairs with every output channel o.",
        "K[y, x, c, o] = dw[y, x, c, 0] · pw[0, 0, c, o]: np.einsum('yxc,co->yxco', dw[..., 0], pw[0, 0]) "
        "or broadcasting with None axes; the result has shape (Dk, Dk, M, N).",
    ),
    "02 Ex3": (
        "reference.get_weights() returns three arrays. Decide which belongs to which of your two layers, build "
        "the layers (so they have weights to set), then set them.",
        "DepthwiseConv2D(3, padding='same', use_bias=False) and Conv2D(9, 1) with a bias; call .build(shape) "
        "(the pointwise input has 6 channels), then .set_weights([...]); finally "
        "np.asarray(pointwise(depthwise(test_images))).",
    ),
    "02 Ex4": (
        "The speed-up is the ratio of the two MAC counts; most factors cancel.",
        "standard / separable = 1 / (1/N + 1/Dk²) with N = 64 and Dk = 3 (or divide the two MAC formulas).",
    ),
    # 03 · MobileNetV2
    "03 Ex1": (
        "The block has three convolutions. Which of them run before the stride shrinks the map, and which "
        "after? How many channels does each see?",
        "expand 1×1: H·W·k·tk at 16×16; depthwise 3×3: (H/s)·(W/s)·9·tk at 8×8; project 1×1: "
        "(H/s)·(W/s)·tk·k' at 8×8, with k = 24, t = 6, s = 2, k' = 32. Add the three.",
    ),
    "03 Ex2": (
        "Write it as a chain y = layer(y), exactly in the order the exercise lists. Two decisions depend on the "
        "arguments: whether to expand at all, and whether to add the input at the end.",
        "Conv2D(expansion·C_in, 1, use_bias=False) → BatchNormalization() → ReLU(6.0) (only if expansion != 1); "
        "DepthwiseConv2D(3, strides=stride, padding='same', use_bias=False) → BN → ReLU(6.0); "
        "Conv2D(filters, 1, use_bias=False) → BN, no activation; keras.layers.Add()([x, y]) when stride == 1 "
        "and x.shape[-1] == filters.",
    ),
    "03 Ex3": (
        "Two steps: keep only the rows of `sweep` that meet the budget, then pick the most accurate of them.",
        "within = sweep[sweep['latency ms'] <= budget_ms]; the best row is "
        "within.sort_values('accuracy', ascending=False).iloc[0]; "
        "choice = (float(row['alpha']), int(row['resolution'])).",
    ),
    # 04 · binarization
    "04 Ex1": (
        "α is the one scale that makes α·sign(W) closest to W: an average of something over all nine weights. "
        "Watch the weight that is exactly 0.",
        "my_alpha = np.abs(filt).mean(); my_binary_filter = my_alpha * np.where(filt >= 0, 1.0, -1.0) "
        "(sign(0) = +1 here, so np.sign alone is wrong).",
    ),
    "04 Ex2": (
        "Build two expressions: `hard` with the forward value you want and `soft` with the gradient you want; "
        "stop_gradient lets you combine the value of one with the gradient of the other.",
        "hard = ops.where(x >= 0, 1.0, -1.0); mask = ops.stop_gradient(ops.cast(ops.abs(x) <= 1, x.dtype)); "
        "soft = x * mask; return soft + ops.stop_gradient(hard - soft).",
    ),
    "04 Ex3": (
        "XNOR is 1 where the two bits agree. Every agreement contributes +1 to the ±1 dot product, every "
        "disagreement −1.",
        "xnor = ''.join('1' if p == q else '0' for p, q in zip(a, b)); agreements = xnor.count('1'); "
        "dot = agreements − (n − agreements) = 2·agreements − n.",
    ),
    "04 Ex4": (
        "Work per filter: how many 64-bit words hold its signs (round up), how many bytes is that, and what "
        "else does each filter store? Then multiply by the number of filters.",
        "words = ceil(3·3·48 / 64) (in Python -(-a // b)); bytes per filter = words·8 + 4 (the float32 α); "
        "layer = 128 × that. Ratio = (3·3·48·128·4) / layer bytes.",
    ),
    # 05 · pruning
    "05 Ex1": (
        "Pruning to 70% removes the 70% smallest magnitudes; the threshold is the largest magnitude removed. "
        "Sort, then count carefully: Python indexes from 0.",
        "k = round(0.7 · w_ex.size); threshold = np.sort(np.abs(w_ex).ravel())[k - 1] (the k-th smallest).",
    ),
    "05 Ex2": (
        "First turn the step into a progress between 0 and 1 (clamped outside the pruning window), then apply "
        "the formula above the exercise.",
        "p = clip((step − begin) / (end − begin), 0, 1); return final + (initial − final) · (1 − p) ** power.",
    ),
    "05 Ex3": (
        "A conv kernel has shape (H, W, C_in, C_out). Which axis do conv1's surviving channels index, and "
        "which axis do conv2's own kept filters index?",
        "Index twice with the kept index lists: W2[:, :, keep['conv1'], :][:, :, :, keep['conv2']] "
        "(NumPy does not combine two index lists in one step the way you want).",
    ),
    "05 Ex4": (
        "Same formula as for any conv layer; only the channel counts have changed, on both sides.",
        "MACs = 3·3·C_in·C_out·14·14 with C_in = len(keep['conv1']) and C_out = len(keep['conv2']).",
    ),
    # 06 · CReLU and hyper-features
    "06 Ex1": (
        "Make one row per filter, and compare directions, not lengths. Leave filter 0 itself out of the "
        "search.",
        "rows = kernel_ex.reshape(-1, N).T; unit = rows / np.linalg.norm(rows, axis=1, keepdims=True); "
        "cos = unit @ unit[0]; set cos[0] = np.inf; the answer is int(np.argmin(cos)).",
    ),
    "06 Ex2": (
        "Two steps: stack the input with its negation along the channel axis, then keep only the positive part.",
        "np.maximum(np.concatenate([x, -x], axis=-1), 0).",
    ),
    "06 Ex3": (
        "Three numbers: the plain conv's MACs, the half-width conv's MACs, and the cost of the CReLU layer's "
        "scale/shift. The saving is the first minus the other two.",
        "plain = 3·3·32·64·16·16; half = 3·3·32·32·16·16; scale/shift = 16·16·64 (one multiply-add per output "
        "value, all 64 channels); saved = plain − half − scale/shift.",
    ),
    # 07 · int8 quantization
    "07 Ex1": (
        "The scale spreads the real range over the 256 int8 codes; the zero point is the code that real 0 maps "
        "to, and it has to be a whole number.",
        "scale = (rmax − rmin) / (127 − (−128)); zero_point = int(np.round(−128 − rmin / scale)); "
        "return (scale, zero_point).",
    ),
    "07 Ex2": (
        "Divide, round, shift, clamp, then make sure the result really is int8. The rounding of ties matters "
        "here.",
        "q = Q.round_half_away(x / scale) + zero_point; return np.clip(q, -128, 127).astype(np.int8).",
    ),
    "07 Ex3": (
        "All three scales fold into one multiplier M. After scaling and rounding, add the output zero point; "
        "the ReLU means nothing may go below the code of real 0.",
        "M = 0.02 · 0.004 / 0.05; out = np.clip(Q.round_half_away(M · acc_ex) + (−20), −20, 127)"
        ".astype(np.int8).",
    ),
    # 08 · TFLite deployment
    "08 Ex1": (
        "The sine has no int8 kernel in LiteRT. Which activation do all the course's CNNs use?",
        "sine_model(keras.layers.ReLU()) or sine_model(keras.layers.ReLU(6.0)): ReLU fuses into the "
        "convolution, so every operator runs in int8.",
    ),
    "08 Ex2": (
        "The input tensor's quantization parameters are in input_detail; apply the affine quantization formula "
        "from section 1 to the image, then make it int8.",
        "scale, zero_point = input_detail['quantization']; "
        "q_image = np.clip(np.round(image / scale) + zero_point, -128, 127).astype(np.int8).",
    ),
    "08 Ex3": (
        "my_dequantize undoes the affine quantization: r = S (q - Z). Mind the integer type when you subtract: "
        "int8 codes minus a zero point can leave int8's range. Then set the input, invoke, read the output.",
        "def my_dequantize(raw, scale, zero_point): return (scale * (raw.astype(np.float32) - zero_point))"
        ".astype(np.float32); interp.set_tensor(input_detail['index'], q_image); interp.invoke(); "
        "raw = interp.get_tensor(output_detail['index']); "
        "scores_by_hand = my_dequantize(raw, *output_detail['quantization']).",
    ),
    "08 Ex4": (
        "Look up the separable CNN in each of the three tables and form three ratios or differences; mind the "
        "units (points, not fractions) and which side is on top.",
        "acc = evals.set_index(['model', 'mode'])['accuracy']; difference = 100·(acc[m, 'float32'] − "
        "acc[m, 'int8']); size = len(flatbuffers[m, 'float32']) / len(flatbuffers[m, 'int8']); "
        "speed-up = timings[m, 'float32', 2].median_ms / timings[m, 'int8', 2].median_ms.",
    ),
}

# ------------------------------------------------------------------------- 09 · capstone (owned by 09's author)
# 09 is being rewritten: its exercises' hints live in this block, in the same format.
HINTS_09: dict[str, tuple[str, str]] = {
    "09 Ex1": (
        "Find the peak first (the first maximum, as a row and a column of an H x W map). Inside the map, look "
        "at its left/right and up/down neighbours to decide a quarter-pixel shift; on the border, Newell's rule.",
        "row, col = np.unravel_index(np.argmax(h), h.shape); if 0 < row < H-1 and 0 < col < W-1: "
        "shift_x = 0.25·sign(h[row, col+1] − h[row, col−1]), the same for y; else no shift at all; "
        "x = (col + shift_x + 0.5)·4, y = (row + shift_y + 0.5)·4.",
    ),
    "09 Ex2": (
        "Per figure: a threshold from the size of its whole true skeleton (hidden joints too); per joint: a "
        "distance; a joint exactly on the threshold counts; count only visible joints, then divide.",
        "size = (true[..., :2].max(1) − true[..., :2].min(1)).max(-1); dist = np.linalg.norm(pred − "
        "true[..., :2], axis=-1); visible = true[..., 2] > 0; "
        "pck = ((dist <= 0.2·size[:, None]) & visible).sum() / visible.sum().",
    ),
    "09 Ex3": (
        "Cost each convolution of the block separately at 16×16 and add them, both at the SAME width 32; a "
        "depthwise 3×3 conv has 9 weights per channel, not per channel pair.",
        "residual: 16·16·(F·F/2 + 9·(F/2)² + F/2·F) with F = 32; MobileNetV2: 16·16·(C·tC + 9·tC + tC·C) "
        "with C = 32, t = 4.",
    ),
    "09 Ex4": (
        "Two kinds of step. A cost step must first buy its goal (MACs at least 10 % lower), then cost little "
        "accuracy on BOTH metrics (PCK@0.1 and PCK@0.05); an accuracy step must gain more PCK@0.1 than the noise. "
        "Work in points: 100 * (after - before). Every limit includes its end point, and floats do not: round.",
        "d1 = round(100 * (after['val PCK@0.1'] - before['val PCK@0.1']), 9), d2 the same for PCK@0.05, "
        "ratio = round(after['MACs'] / before['MACs'], 9); cost step: round(1 - ratio, 9) >= 0.10 and "
        "d1 >= -max(2.0, noise) and d2 >= -max(3.0, noise); accuracy step: d1 > noise and ratio <= 1.15.",
    ),
    "09 Ex5": (
        "Two mean squared errors, one towards the ground truth and one towards the teacher, each with its "
        "weight. Which one does alpha weigh (what must alpha = 1 give)? And which of the teacher's stacks is "
        "its final answer?",
        "loss = alpha * MSE(student, target) + (1 - alpha) * MSE(student, teacher_stacks[-1]), where "
        "MSE(a, b) = np.mean((a - b) ** 2) over every element (no axis argument); return float(loss).",
    ),
}

ALL: dict[str, tuple[str, str]] = {**HINTS, **HINTS_09}


def ladder(exercise_id: str) -> list[str]:
    """The three rungs of an exercise as text: hint 1, hint 2, the reference solution.

    With ``COURSE_SHOW_SOLUTIONS=0`` the third rung says the solution is turned off instead of showing it.
    """
    exercise = practice.find(exercise_id)
    first, second = ALL[exercise.id]
    if config.solutions_shown():
        solution = (f"Reference solution of {exercise.id} (notebooks/{exercise.notebook}); it replaces the line "
                    f"`{practice.CODE_STUB}`:\n\n{exercise.solution}")
    else:
        solution = f"Your instructor has turned off showing the reference solution of {exercise.id}."
    return [f"Hint 1 of 2 for {exercise.id}: {first}", f"Hint 2 of 2 for {exercise.id}: {second}", solution]


def _listing(ids: list[str]) -> str:
    """Exercise ids listed compactly, one chapter at a time: ``00 Ex0, 01 Ex1–Ex4, 02 Ex1–Ex4, ...``."""
    chapters: dict[str, list[str]] = {}
    for exercise_id in ids:
        chapters.setdefault(exercise_id[:2], []).append(exercise_id)
    return ", ".join(group[0] if len(group) == 1 else f"{group[0]}–{group[-1].split()[1]}"
                     for group in chapters.values())


def _unknown_exercise(exercise_id: object) -> str:
    """The one-line message for an argument that names no exercise: what is accepted (that notebook's, or all)."""
    known = list(practice.exercises())
    number = re.match(r"\s*(\d{1,2})(?!\d)", str(exercise_id))
    chapter = [e for e in known if number and e[:2] == f"{int(number.group(1)):02d}"]
    example = (chapter or known)[0]
    if isinstance(exercise_id, str):
        what = f"There is no exercise {exercise_id!r} in the course."
    else:
        what = f"hints.ask({exercise_id!r}): name the exercise as text, with its notebook's number."
    which = f"Notebook {chapter[0][:2]}'s exercises are {', '.join(chapter)}" if chapter else \
        f"The exercises are {_listing(known)}"
    return f'{what} {which}: for example hints.ask("{example}").'


def _exercise(exercise_id: object) -> practice.Exercise | None:
    """The exercise ``exercise_id`` names, or None after printing which ids are accepted."""
    if isinstance(exercise_id, str):
        try:
            return practice.find(exercise_id)
        except KeyError:
            pass
    print(_unknown_exercise(exercise_id))
    return None


def _rungs_accepted(exercise_id: str, top: int) -> str:
    """What the ``rung`` argument accepts, for a message: ``1, 2 or 3 (1 = hint 1, ...)``."""
    names = "1 = hint 1, 2 = hint 2" + (", 3 = the reference solution" if top == RUNGS else
                                        "; your instructor has turned off the reference solution")
    numbers_accepted = "1, 2 or 3" if top == RUNGS else "1 or 2"
    return f'{numbers_accepted} ({names}), or leave it out for the next one: hints.ask("{exercise_id}")'


def _step(exercise_id: str, rung: object, seen: int, top: int) -> int | None:
    """The rung to show: ``rung`` if it is one (1..top), else the next after ``seen``; None after a message.

    The solution's rung asked for while solutions are turned off gives hint 2 again, with a line saying so.
    """
    if rung is None:
        step = min(seen + 1, top)
        if seen >= top and top < RUNGS:
            print("Your instructor has turned off showing solutions. Hint 2 again:")
        return step
    if not isinstance(rung, numbers.Integral) or isinstance(rung, bool) or not 1 <= rung <= RUNGS:
        print(f'hints.ask("{exercise_id}", {rung!r}): the rung is {_rungs_accepted(exercise_id, top)}.')
        return None
    if rung > top:
        print("Your instructor has turned off showing solutions. Hint 2 again:")
    return min(int(rung), top)


def ask(exercise_id: str | None = None, rung: int | None = None) -> None:
    """Print the next rung of an exercise's hint ladder (or rung 1, 2 or 3 when given).

    Never raises for a learner's argument: an unknown exercise or a rung that is not 1..3 prints one line
    saying what is accepted. With ``COURSE_SHOW_SOLUTIONS=0`` no call shows the reference solution.
    """
    if exercise_id is None:
        exercise_id = progress.last_failed()
        if exercise_id is None:
            print('Which exercise? For example hints.ask("01 Ex2"): the notebook\'s number and the exercise\'s.')
            return
    exercise = _exercise(exercise_id)
    if exercise is None:
        return
    seen = progress.hints_seen(exercise.id)
    top = RUNGS if config.solutions_shown() else RUNGS - 1
    step = _step(exercise.id, rung, seen, top)
    if step is None:
        return
    print(ladder(exercise.id)[step - 1])
    if step < top:
        print(f'\n(Still stuck? hints.ask("{exercise.id}") again for '
              f'{"hint 2" if step == 1 else "the reference solution"}.)')
    if step > seen:
        progress.note_hint(exercise.id, step)
