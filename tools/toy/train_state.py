"""Resumable training state for the toy trainers: model, optimizer, scheduler, RNG state and step, written
atomically every few steps and picked up again on the next run."""
import math
import time
from pathlib import Path

import torch


def load(path, model, opt, sched, rng):
    """Restores a saved state into the given objects; returns the step to continue from (0 when none)."""
    if not path or not Path(path).exists():
        return 0
    state = torch.load(path, weights_only=False)
    model.load_state_dict(state["model"])
    opt.load_state_dict(state["opt"])
    sched.load_state_dict(state["sched"])
    rng.setstate(state["random"])
    print(f"resumed at step {state['step']} from {path}", flush=True)
    return state["step"]


def save(path, step, model, opt, sched, rng):
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    torch.save({"model": model.state_dict(), "opt": opt.state_dict(), "sched": sched.state_dict(),
                "random": rng.getstate(), "step": step}, path + ".tmp")
    Path(path + ".tmp").replace(path)


def budget_schedule(opt, steps, time_limit, warmup=100):
    """The trainers' learning-rate schedule: linear warm-up over `warmup` steps, then a cosine over the run's
    progress, max(step / steps, elapsed / time_limit) when a wall-clock budget is set (elapsed counted from this
    call). Returns (LambdaLR, progress); training stops when progress(step) reaches 1."""
    t0 = time.time()

    def progress(step):
        p = step / steps
        if time_limit > 0:
            p = max(p, (time.time() - t0) / time_limit)
        return min(1.0, p)

    def factor(step):
        return min(1.0, (step + 1) / warmup) * 0.5 * (1 + math.cos(math.pi * progress(step)))

    return torch.optim.lr_scheduler.LambdaLR(opt, factor), progress
