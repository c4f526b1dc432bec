"""Optimizers from ``config.optimizer`` (optax), shared by every method.

A method builds its optax transformation once, from the config, when it is
constructed (:meth:`aejax.methods.base.Method.optimizer`); multi-network
methods build one transformation per training phase over their parameter
tree with :func:`subtree_update` restricting each to the networks it trains.
"""

from __future__ import annotations

import math
from typing import Callable, NamedTuple

import jax
import jax.numpy as jnp
import optax


def make_optimizer(opt_config) -> optax.GradientTransformation:
  """Adam / AdamW / SGD from ``config.optimizer``, with optional clipping.

  The learning rate is constant, or, with ``decay_steps > 0``, decays from
  ``learning_rate`` to ``learning_rate * final_lr_fraction`` along a half
  cosine over ``decay_steps`` steps and stays there (Loshchilov & Hutter,
  "SGDR: Stochastic Gradient Descent with Warm Restarts", ICLR 2017, without
  restarts).
  """
  name = opt_config.name
  lr = opt_config.learning_rate
  if not (math.isfinite(lr) and lr >= 0):
    raise ValueError(f"optimizer.learning_rate must be a finite number >= 0, "
                     f"got {lr}.")
  decay_steps = opt_config.get("decay_steps", 0)
  if decay_steps < 0 or not 0 <= opt_config.get("final_lr_fraction", 0) <= 1:
    raise ValueError(
        f"optimizer.decay_steps must be >= 0 (0: constant learning rate) and "
        f"optimizer.final_lr_fraction in [0, 1]; got {decay_steps} and "
        f"{opt_config.get('final_lr_fraction')}.")
  if decay_steps:
    lr = optax.cosine_decay_schedule(lr, int(decay_steps),
                                     alpha=opt_config.final_lr_fraction)
  if name == "adam":
    tx = optax.adam(lr, b1=opt_config.b1, b2=opt_config.b2)
  elif name == "adamw":
    tx = optax.adamw(lr, b1=opt_config.b1, b2=opt_config.b2,
                     weight_decay=opt_config.weight_decay)
  elif name == "sgd":
    tx = optax.sgd(lr, momentum=opt_config.momentum or None)
  else:
    raise ValueError(f"Unknown optimizer {name!r}: choose 'adam', 'adamw' or "
                     "'sgd'.")
  if opt_config.grad_clip_norm > 0:
    tx = optax.chain(optax.clip_by_global_norm(opt_config.grad_clip_norm), tx)
  return tx


class PhaseOptimizer(NamedTuple):
  """One optax transformation per training phase of an alternating method.

  Phase ``name`` is ``optax.multi_transform`` over the whole parameter tree:
  its transformation on the top-level sub-trees ``networks[name]``,
  ``optax.set_to_zero`` (no state) on the others. ``init(params)`` gives
  ``{phase: state}``, the optimizer state the training state holds; a
  phase's update is :func:`phase_update`. There is no joint ``update``: an
  alternating method (AAE, GAN) updates one phase after another inside one
  compiled step, each against the parameters the previous one produced.
  """
  init: Callable
  phases: dict
  networks: dict


def phase_optimizer(phases: dict[str, tuple[optax.GradientTransformation,
                                            tuple[str, ...]]]
                    ) -> PhaseOptimizer:
  """Builds a :class:`PhaseOptimizer`.

  Args:
    phases: ``{phase: (optax transformation, top-level parameter keys it
      trains)}``, e.g. ``{"discriminator": (adam, ("discriminator",)),
      "generator": (adam, ("generator",))}``.
  """
  def labels(networks):
    return lambda params: {k: "train" if k in networks else "frozen"
                           for k in params}

  parts = {name: optax.multi_transform(
      {"train": tx, "frozen": optax.set_to_zero()}, labels(tuple(networks)))
           for name, (tx, networks) in phases.items()}

  def init(params):
    return {name: tx.init(params) for name, tx in parts.items()}

  return PhaseOptimizer(init, parts, {name: tuple(networks) for name,
                                      (_, networks) in phases.items()})


def phase_update(tx: PhaseOptimizer, phase: str, grads: dict, opt_state: dict,
                 params: dict) -> tuple[dict, dict]:
  """One update of ``phase``: returns all parameters and optimizer states.

  Args:
    tx: the method's :class:`PhaseOptimizer`.
    phase: which phase.
    grads: gradients of the phase's networks (``{network: tree}``; the
      networks it does not train may be absent).
    opt_state: ``tx.init``'s structure.
    params: all parameters.
  """
  networks = tx.networks[phase]
  full = {k: grads[k] if k in networks else
          jax.tree_util.tree_map(jnp.zeros_like, v) for k, v in params.items()}
  updates, state = tx.phases[phase].update(full, opt_state[phase], params)
  new = {k: optax.apply_updates(params[k], updates[k]) for k in networks}
  return {**params, **new}, {**opt_state, phase: state}
