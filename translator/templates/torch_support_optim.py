"""Optimizer options Keras applies around every step, and optimizers named at run time."""

import functools

import torch


def with_keras_options(optimizer_class, params, decay=0.0, clipnorm=None, clipvalue=None, global_clipnorm=None,
                       **hyper):
    """A torch optimizer that does before each step what Keras does: clips the gradients (clipnorm
    per gradient, else global_clipnorm over all of them, else clipvalue) and applies Keras 2's
    learning-rate decay, lr / (1 + decay * step), counting steps from 0. The options are kept in
    each param group, beside the torch hyper-parameters."""
    optimizer = optimizer_class(params, **hyper)
    for group in optimizer.param_groups:
        group.update(decay=decay, clipnorm=clipnorm, clipvalue=clipvalue, global_clipnorm=global_clipnorm)
    steps = [0]

    def before_step(opt, args, kwargs):
        with torch.no_grad():
            for group in opt.param_groups:
                grads = [p.grad for p in group["params"] if p.grad is not None]
                if group["clipnorm"] and group["clipnorm"] > 0:
                    for g in grads:
                        g.mul_(group["clipnorm"] / torch.clamp(torch.linalg.vector_norm(g), min=group["clipnorm"]))
                elif group["clipvalue"] and group["clipvalue"] > 0 and not group["global_clipnorm"]:
                    for g in grads:
                        g.clamp_(-group["clipvalue"], group["clipvalue"])
            limit = opt.param_groups[0]["global_clipnorm"]
            grads = [p.grad for group in opt.param_groups for p in group["params"] if p.grad is not None]
            if limit and limit > 0 and not opt.param_groups[0]["clipnorm"] and grads:
                total = torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(g) for g in grads]))
                scale = torch.clamp(1.0 / total, max=1.0 / limit) * limit
                for g in grads:
                    g.mul_(scale)
        for group in opt.param_groups:
            if group["decay"]:
                if group["lr"] != group.get("keras_decayed_lr"):  # a new rate, set by the script or a callback
                    group["keras_lr"] = group["lr"]
                group["lr"] = group["keras_decayed_lr"] = group["keras_lr"] / (1.0 + group["decay"] * steps[0])
        steps[0] += 1

    optimizer.register_step_pre_hook(before_step)
    return optimizer


# Keras' optimizer names, each with Keras' defaults (the same calls the translation writes for them)
KERAS_OPTIMIZERS = {
    "adam": functools.partial(torch.optim.Adam, eps=1e-07),
    "adamw": functools.partial(torch.optim.AdamW, eps=1e-07, weight_decay=0.004),
    "sgd": functools.partial(torch.optim.SGD, lr=0.01),
    "rmsprop": functools.partial(torch.optim.RMSprop, lr=0.001, alpha=0.9, eps=1e-07),
    "adagrad": functools.partial(torch.optim.Adagrad, lr=0.001, initial_accumulator_value=0.1, eps=1e-07),
    "adadelta": functools.partial(torch.optim.Adadelta, lr=0.001, rho=0.95, eps=1e-07),
    "adamax": functools.partial(torch.optim.Adamax, lr=0.001, eps=1e-07),
    "nadam": functools.partial(torch.optim.NAdam, lr=0.001, eps=1e-07, momentum_decay=1.0),
}


def keras_optimizer_from(optimizer, params):
    """The optimizer `compile(optimizer=...)` names when the script decides it at run time: a Keras
    name such as 'adam', or an optimizer the translation made (a function of the parameters)."""
    if isinstance(optimizer, str):
        if optimizer.lower() not in KERAS_OPTIMIZERS:
            raise ValueError(f"unknown optimizer {optimizer!r}: expected one of {sorted(KERAS_OPTIMIZERS)}")
        return KERAS_OPTIMIZERS[optimizer.lower()](params)
    return optimizer(params)
