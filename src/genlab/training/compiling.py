"""``--compile`` and ``--channels-last``: which parts they apply to, the backend check made before
anything trains, and the one-line error a compile failure becomes."""

from __future__ import annotations

import sys

import torch

from genlab.errors import BadInputError


def is_conv_net(module: torch.nn.Module) -> bool:
    """A part with 2-D convolutions: the kind ``channels_last`` lays out for faster kernels."""
    return any(isinstance(m, (torch.nn.Conv2d, torch.nn.ConvTranspose2d)) for m in module.modules())


def check_layout_and_compile(model, cfg) -> None:
    """``--channels-last`` and ``--compile`` refused, in one line, where they cannot apply."""
    if cfg.channels_last and not any(is_conv_net(getattr(model, a)) for names in model.parts.values()
                                     for a in names):
        raise BadInputError(f"--channels-last is a memory layout for image (convolutional) networks; "
                            f"{cfg.model!r} on this data has only MLPs: drop --channels-last")
    if cfg.compile and model.double_backward:
        raise BadInputError(f"--compile cannot train {cfg.model!r} with loss {model.cfg.loss!r}: its gradient "
                            f"penalty differentiates the critic twice, which torch.compile does not support; "
                            f"drop --compile")


def check_compile_backend(device: torch.device) -> None:
    """``--compile`` runs torch.compile's default backend (inductor): refuse it, in one line,
    where it cannot build kernels, before anything is trained."""
    import torch._dynamo

    if not torch._dynamo.is_dynamo_supported():
        raise BadInputError(f"--compile is not supported by this Python/PyTorch (torch {torch.__version__}, "
                            f"Python {sys.version.split()[0]}); drop --compile")
    if device.type == "cpu":
        from torch._inductor import cpp_builder

        try:
            cpp_builder.get_cpp_compiler()
        except Exception:  # InvalidCxxCompiler, or the compiler would not run
            raise BadInputError("--compile on the CPU needs a C++ compiler (torch.compile builds C++ kernels) and "
                                "none was found: install g++ or set CXX to one, or drop --compile") from None
    elif device.type == "cuda":
        from torch.utils._triton import has_triton

        if not has_triton():
            raise BadInputError("--compile on a GPU needs Triton (torch.compile builds Triton kernels) and it is "
                                "not usable here: pip install triton, or drop --compile")


def compiled(module: torch.nn.Module) -> torch.nn.Module:
    """``module`` under torch.compile: an OptimizedModule sharing its parameters (its own
    state_dict keys start with ``_orig_mod.``; the trainer saves the plain module's)."""
    return torch.compile(module)


def guard_compiled(module: torch.nn.Module) -> torch.nn.Module:
    """A compiled module (also inside a Fabric wrapper) whose compilation, done at its first call,
    fails with one BadInputError naming --compile instead of a compiler traceback."""
    from torch._dynamo.eval_frame import OptimizedModule

    target = getattr(module, "_forward_module", module)  # Fabric's wrapper holds the compiled module
    if not isinstance(target, OptimizedModule):
        return module
    forward = target.forward  # dynamo's entry point, set on the instance

    def guarded(*args, **kwargs):
        try:
            return forward(*args, **kwargs)
        except Exception as e:
            error = compile_failure(e)
            if error is None:
                raise
            raise error from None

    target.forward = guarded
    return module


def compile_failure(e: BaseException) -> BadInputError | None:
    """The one-line error for an exception raised by torch.compile (tracing, the backend's kernel
    build, or a backward it does not support); None for any other exception."""
    import torch._dynamo.exc as dynamo_exc
    from torch._inductor.exc import CppCompileError, InvalidCxxCompiler

    text = str(e).strip()
    if isinstance(e, (dynamo_exc.TorchDynamoException, CppCompileError, InvalidCxxCompiler)):
        inner = getattr(e, "inner_exception", None) or e  # the backend's own error, not dynamo's wrapper
        lines = [line.strip() for line in str(inner).splitlines() if line.strip()]
        what = f"torch.compile failed ({type(inner).__name__}: {lines[0][:200] if lines else 'no message'})"
    elif isinstance(e, RuntimeError) and "double backward" in text and "torch.compile" in text:
        what = ("torch.compile cannot train this model: its loss differentiates a network twice "
                "(a gradient penalty), which compiled networks do not support")
    else:
        return None
    return BadInputError(f"--compile: {what}; drop --compile to train without it")
