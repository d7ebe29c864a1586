"""Small model builders and a compact training helper shared by the notebooks."""
from __future__ import annotations

from collections.abc import Sequence

import keras
import numpy as np

from . import config


def small_cnn(input_shape: Sequence[int] = (28, 28, 1), classes: int = 10, widths: Sequence[int] = (16, 32, 64),
              separable: bool = False, name: str | None = None) -> keras.Model:
    """A plain CNN: per stage a 3x3 conv (or depthwise-separable conv) + BN + ReLU, then 2x2 max-pool;
    global average pooling and a dense classifier. The first conv is always a standard conv (a
    depthwise conv on 1-3 input channels saves almost nothing)."""
    widths = config.check_widths("small_cnn", widths)
    config.check_builder_shape("small_cnn", input_shape, halvings=len(widths) - 1)
    if isinstance(classes, bool) or not isinstance(classes, (int, np.integer)) or classes < 1:
        raise ValueError(f"small_cnn: classes must be a whole number >= 1, got {classes!r}")
    inputs = keras.Input(tuple(input_shape), name="image")
    x = inputs
    for i, width in enumerate(widths):
        if separable and i > 0:
            x = keras.layers.SeparableConv2D(width, 3, padding="same", use_bias=False, name=f"sepconv{i + 1}")(x)
        else:
            x = keras.layers.Conv2D(width, 3, padding="same", use_bias=False, name=f"conv{i + 1}")(x)
        x = keras.layers.BatchNormalization(momentum=0.9, name=f"bn{i + 1}")(x)
        x = keras.layers.ReLU(name=f"relu{i + 1}")(x)
        if i < len(widths) - 1:
            x = keras.layers.MaxPooling2D(2, name=f"pool{i + 1}")(x)
    x = keras.layers.GlobalAveragePooling2D(name="gap")(x)
    outputs = keras.layers.Dense(classes, name="logits")(x)
    return keras.Model(inputs, outputs, name=name or ("separable_cnn" if separable else "standard_cnn"))


class EpochPrinter(keras.callbacks.Callback):
    """Print one short line per epoch instead of Keras' progress bars."""

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        parts = [f"{k} {v:.4f}" for k, v in logs.items() if k in ("loss", "accuracy", "val_loss", "val_accuracy")]
        print(f"epoch {epoch + 1}/{self.params.get('epochs', '?')}: " + ", ".join(parts))


def compile_classifier(model: keras.Model, learning_rate: float = 2e-3, decay_steps: int | None = None) -> keras.Model:
    """Adam + sparse categorical cross-entropy on logits + accuracy.

    With ``decay_steps`` the learning rate follows a cosine from ``learning_rate`` down to 0: short
    trainings end with small steps, so batch-norm statistics settle and accuracy is stable.
    """
    if decay_steps:
        learning_rate = keras.optimizers.schedules.CosineDecay(learning_rate, decay_steps)
    model.compile(optimizer=keras.optimizers.Adam(learning_rate),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"])
    return model


def fit(model: keras.Model, x: np.ndarray, y: np.ndarray, epochs: int = 3, batch_size: int = 64,
        validation_data=None, learning_rate: float = 2e-3, callbacks: Sequence = (), verbose: bool = True):
    """Train a classifier; one printed line per epoch. Returns the History.

    An uncompiled model is compiled with Adam and a cosine learning-rate decay over the whole run;
    a model you compiled yourself is trained as you compiled it.
    """
    if not getattr(model, "compiled", False) or model.optimizer is None:
        steps = epochs * int(np.ceil(len(x) / batch_size))
        compile_classifier(model, learning_rate, decay_steps=steps)
    expected = tuple(model.inputs[0].shape[1:])
    if tuple(x.shape[1:]) != expected:
        raise ValueError(f"model '{model.name}' takes inputs of shape {expected}, but x has samples of shape {tuple(x.shape[1:])}")
    cbs = list(callbacks) + ([EpochPrinter()] if verbose else [])
    return model.fit(x, y, epochs=epochs, batch_size=batch_size, validation_data=validation_data,
                     callbacks=cbs, verbose=0, shuffle=True)


def accuracy(model: keras.Model, x: np.ndarray, y: np.ndarray, batch_size: int = 256) -> float:
    """Top-1 accuracy of a classifier (logits or probabilities) on ``(x, y)``."""
    scores = model.predict(x, batch_size=batch_size, verbose=0)
    return float(np.mean(np.argmax(scores, -1) == np.asarray(y)))
from .mobilenet import inverted_residual_block, mobilenet_v1, mobilenet_v2, mobilenet_v2_small  # noqa: E402,F401
