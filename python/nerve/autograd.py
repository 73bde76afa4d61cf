"""autograd.py — define-by-run reverse-mode autodiff, shaped like torch.autograd.

A `Function` subclass defines `forward(ctx, *args)` and `backward(ctx, *grads)` over raw arrays
(numpy on the CPU, cupy on CUDA — the kernels' currency); `Fn.apply(*args)` unwraps Tensor
arguments, runs forward, wraps the results in Tensors and, when any input requires grad, records
the call as a node of the graph. The ctx *is* the node: it keeps the edges to the nodes that made
its inputs, what forward saved, and how many outputs it has.

`Tensor.backward()` walks the graph once: nodes are counted by how many edges point at them and
run when every gradient they wait for has arrived, so each runs exactly once, in reverse
topological order. Leaf tensors receive their gradient through an AccumulateGrad node
(`grad += g`). Saved tensors carry the version they had when saved; an in-place op bumps the
version of a tensor and of every view sharing its storage, and backward refuses stale data.
"""
from __future__ import annotations

import threading
from typing import Any, Optional, Sequence

import numpy as np

__all__ = ["Function", "grad", "no_grad", "enable_grad", "set_grad_enabled", "is_grad_enabled", "backward"]

class _State(threading.local):
    enabled = True  # grad mode, per thread (as in torch)


_state = _State()
Tensor = None  # set by tensor.py (autograd sits below Tensor in the import graph)
_generic = np.generic
_ndarray = np.ndarray


def is_grad_enabled() -> bool:
    return _state.enabled


class set_grad_enabled:
    """Context manager (and decorator) that turns gradient recording on or off."""

    def __init__(self, mode: bool = True):
        self.mode = bool(mode)
        self.prev = is_grad_enabled()
        _state.enabled = self.mode

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        _state.enabled = self.prev
        return False

    def __call__(self, fn):
        mode = self.mode
        _state.enabled = self.prev  # decorating must not change the current mode

        def wrapper(*args, **kwargs):
            with set_grad_enabled(mode):
                return fn(*args, **kwargs)

        wrapper.__wrapped__ = fn
        wrapper.__name__ = getattr(fn, "__name__", "wrapper")
        wrapper.__doc__ = getattr(fn, "__doc__", None)
        return wrapper


class no_grad(set_grad_enabled):
    """`with nerve.no_grad():` — ops inside record no graph (inference, optimizer steps)."""

    def __init__(self):
        super().__init__(False)


class enable_grad(set_grad_enabled):
    def __init__(self):
        super().__init__(True)


inference_mode = no_grad


class _FreedGraph:
    """Marks a node whose saved tensors were released by a backward without retain_graph."""


_FREED = _FreedGraph()


class Function:
    """Base class of differentiable ops; its instances are the graph's nodes (the `ctx`).

    Example (runnable)::

        import numpy as np, nerve
        class Cube(nerve.autograd.Function):
            @staticmethod
            def forward(ctx, x):
                ctx.save_for_backward(x)
                return x ** 3
            @staticmethod
            def backward(ctx, g):
                (x,) = ctx.saved_tensors
                return 3 * x * x * g
        x = nerve.tensor([2.0], requires_grad=True)
        Cube.apply(x).backward(nerve.ones(1))
        assert x.grad.item() == 12.0
    """

    # Set by subclasses: outputs alias their first input's storage (reshape, transpose, slicing),
    # so they share its version counter.
    is_view = False

    # Per-node state, class-level defaults so that making a node costs one allocation.
    # _edges: per forward argument, None or (node, output index) that produced it.
    # _n_out: number of outputs; _out_meta: (shape, dtype, array type) per output when n_out > 1.
    _saved = ()
    _saved_versions = None
    _hooks = None
    _non_diff = ()
    needs_input_grad = ()

    # -- what forward may call -----------------------------------------------------------------
    def save_for_backward(self, *arrays) -> None:
        self._saved = arrays

    def mark_non_differentiable(self, *arrays) -> None:
        self._non_diff = {id(a) for a in arrays}

    def __init__(self):  # direct construction is only for custom uses; apply() skips it
        pass

    @property
    def saved_tensors(self):
        saved = self._saved
        if saved is _FREED:
            raise RuntimeError(
                f"[{type(self).__name__}] Trying to backward through the graph a second time (or directly "
                "access saved tensors after they have already been freed). Saved intermediate values of the "
                "graph are freed when you call .backward() or autograd.grad(). Specify retain_graph=True if "
                "you need to backward through the graph a second time.")
        if self._saved_versions:
            for i, (cell, version) in self._saved_versions:
                if cell[0] != version:
                    raise RuntimeError(
                        f"[{type(self).__name__}] one of the variables needed for gradient computation has been "
                        f"modified by an inplace operation: saved tensor {i} is at version {cell[0]}; expected "
                        f"version {version} instead.")
        return saved

    # -- subclasses implement ------------------------------------------------------------------
    @staticmethod
    def forward(ctx, *args, **kwargs):
        raise NotImplementedError

    @staticmethod
    def backward(ctx, *grads):
        raise NotImplementedError

    # -- graph construction ----------------------------------------------------------------------
    @classmethod
    def apply(cls, *args, **kwargs):
        needs = False
        kind = None
        raw = []
        for a in args:
            if isinstance(a, Tensor):
                d = a._data
                if a._rg:
                    needs = True
                if kind is None:
                    kind = type(d)
                elif type(d) is not kind:
                    _device_mismatch(cls, args)
                raw.append(d)
            else:
                raw.append(a)
        needs = needs and _state.enabled
        ctx = object.__new__(cls)
        if needs:
            ctx.needs_input_grad = tuple(isinstance(a, Tensor) and a._rg for a in args)
        try:
            out = cls.forward(ctx, *raw, **kwargs)
        except ValueError as e:
            if "could not be broadcast" not in str(e):
                raise
            shapes = " and ".join(str(tuple(getattr(a, "shape", ()))) for a in raw if hasattr(a, "shape"))
            raise ValueError(f"[{cls.__name__.lower()}] shapes {shapes} cannot be broadcast together (each dim must "
                             f"match or be 1)") from None

        if type(out) is not tuple:  # the common case: one output
            if isinstance(out, _generic):
                out = np.asarray(out)
            diff = needs and out.dtype.kind == "f" and id(out) not in ctx._non_diff
            t = Tensor._make(out, diff, ctx if diff else None, 0)
            if cls.is_view:
                t._version = args[0]._vcell()
            if needs:
                ctx._edges = [_edge(a) if isinstance(a, Tensor) and a._rg else None for a in args]
                ctx._n_out = 1
                if ctx._saved:
                    ctx._record_versions(args, (out,), (t,))
            return t

        results = []
        for i, o in enumerate(out):
            if o is None:
                results.append(None)
                continue
            if isinstance(o, _generic):
                o = np.asarray(o)
            diff = needs and o.dtype.kind == "f" and id(o) not in ctx._non_diff
            results.append(Tensor._make(o, diff, ctx if diff else None, i))
        if cls.is_view:
            cell = args[0]._vcell()
            for t in results:
                if t is not None:
                    t._version = cell
        if needs:
            ctx._edges = [_edge(a) if isinstance(a, Tensor) and a._rg else None for a in args]
            ctx._n_out = len(out)
            ctx._out_meta = [(o.shape, o.dtype, type(o)) if o is not None else None for o in out]
            if ctx._saved:
                ctx._record_versions(args, out, results)
        return tuple(results)

    def _record_versions(self, args, outs, results) -> None:
        versions = []
        for i, s in enumerate(self._saved):
            if s is None:
                continue
            for a in args:
                if isinstance(a, Tensor) and a._data is s:
                    cell = a._vcell()
                    versions.append((i, (cell, cell[0])))
                    break
            else:
                for o, t in zip(outs, results):
                    if o is s and t is not None:
                        cell = t._vcell()
                        versions.append((i, (cell, cell[0])))
                        break
        self._saved_versions = versions

    def _run(self, grads):
        """Calls backward with one gradient per output (zeros for outputs that got none)."""
        if self._hooks:
            for idx, hooks in self._hooks.items():
                if grads[idx] is not None:
                    grads[idx] = _run_hooks(hooks, grads[idx])
        if self._n_out > 1:
            for i, g in enumerate(grads):
                if g is None and self._out_meta[i] is not None:
                    shape, dtype, kind = self._out_meta[i]
                    grads[i] = np.zeros(shape, dtype) if kind is np.ndarray else _device_zeros(shape, dtype)
        res = type(self).backward(self, *grads)
        if not isinstance(res, tuple):
            res = (res,)
        if len(res) < len(self._edges):
            raise RuntimeError(f"[{type(self).__name__}] backward returned {len(res)} gradients, "
                               f"expected {len(self._edges)} (one per forward argument)")
        return res

    def _free(self) -> None:
        if self._saved:
            self._saved = _FREED

    def name(self) -> str:
        return type(self).__name__

    def __repr__(self) -> str:
        return f"<{type(self).__name__}Backward>"


class AccumulateGrad:
    """The node a leaf tensor's gradient flows into: runs the leaf's hooks, then grad += g."""

    __slots__ = ("tensor", "_hooks", "__weakref__")
    _n_out = 1
    _edges = ()

    def __init__(self, tensor):
        self.tensor = tensor
        self._hooks = None

    def accumulate(self, g) -> None:
        t = self.tensor
        if self._hooks:
            g = _run_hooks(self._hooks.get(0, ()), g)
        if g.dtype != t._data.dtype:
            g = g.astype(t._data.dtype)
        if g.shape != t._data.shape:
            g = xp_broadcast_sum(g, t._data.shape)
        if t.grad is None:
            if not (g.flags.c_contiguous and g.flags.writeable) or g.base is not None:
                g = g.copy()
            t.grad = Tensor._make(g, False, None, 0)
        else:
            t.grad._data += g

    def __repr__(self) -> str:
        return "<AccumulateGrad>"


def xp_broadcast_sum(g, shape):
    """Sums g down to `shape` (the inverse of broadcasting)."""
    if g.shape == tuple(shape):
        return g
    lead = g.ndim - len(shape)
    axes = tuple(range(lead)) + tuple(lead + i for i, s in enumerate(shape) if s == 1 and g.shape[lead + i] != 1)
    if axes:
        g = g.sum(axis=axes, keepdims=True)
    return g.reshape(shape)


def _device_zeros(shape, dtype):
    from .backend import cuda
    return cuda.xp().zeros(shape, dtype)


def _device_mismatch(cls, args):
    devs = [str(a.device) for a in args if isinstance(a, Tensor)]
    raise RuntimeError(f"[{cls.__name__.lower()}] expected all tensors to be on the same device, got "
                       f"{', '.join(devs)}")


def _edge(t):
    if t.grad_fn is not None:
        return (t.grad_fn, t._out_idx)
    acc = getattr(t, "_accum", None)
    if acc is None:
        acc = t._accum = AccumulateGrad(t)
    return (acc, 0)


def _run_hooks(hooks, g):
    for hook in list(hooks):
        r = hook(Tensor._make(g, False, None, 0))
        if r is not None:
            g = r._data if isinstance(r, Tensor) else r
    return g


def _collect(roots):
    """Counts, for every node reachable from `roots`, the edges that point at it."""
    deps = {}
    stack = list(roots)
    seen = set(map(id, roots))
    while stack:
        node = stack.pop()
        for e in node._edges:
            if e is None:
                continue
            child = e[0]
            deps[child] = deps.get(child, 0) + 1
            if id(child) not in seen:
                seen.add(id(child))
                stack.append(child)
    return deps


def _execute(roots, root_grads, retain_graph: bool, capture=None):
    """Runs the backward pass from (node, output index) roots with their gradients.

    With `capture` (a dict keyed by (node, index)), gradients reaching those slots are stored there
    and leaves are left untouched (autograd.grad); otherwise leaves accumulate into .grad.
    """
    nodes = []
    for (node, _), _g in zip(roots, root_grads):
        if node not in nodes:
            nodes.append(node)
    deps = _collect(nodes)
    buffers = {}
    for (node, idx), g in zip(roots, root_grads):
        buf = buffers.setdefault(node, [None] * node._n_out)
        buf[idx] = g if buf[idx] is None else buf[idx] + g
    ready = [n for n in nodes if deps.get(n, 0) == 0]
    while ready:
        node = ready.pop()
        grads = buffers.pop(node, None)
        if grads is None:
            grads = [None] * node._n_out
        if capture is not None:
            for idx, g in enumerate(grads):
                if (node, idx) in capture and g is not None:
                    capture[(node, idx)] = g if capture[(node, idx)] is None else capture[(node, idx)] + g
        if type(node) is AccumulateGrad:
            if capture is None and grads[0] is not None:
                node.accumulate(grads[0])
            continue
        if all(g is None for g in grads):
            in_grads = (None,) * len(node._edges)
        else:
            in_grads = node._run(grads)
        if not retain_graph:
            node._free()
        handed_out = set()
        for e, g in zip(node._edges, in_grads):
            if e is None:
                continue
            child, idx = e
            if g is not None:
                if isinstance(g, _generic):  # numpy turns 0-d results into scalars
                    g = np.asarray(g)
                if id(g) in handed_out:  # one array must not become two tensors' gradients
                    g = g.copy()
                handed_out.add(id(g))
                buf = buffers.get(child)
                if buf is None:
                    buf = buffers[child] = [None] * child._n_out
                buf[idx] = g if buf[idx] is None else buf[idx] + g
            deps[child] -= 1
            if deps[child] == 0:
                ready.append(child)


def backward(tensors, grad_tensors=None, retain_graph: Optional[bool] = None) -> None:
    """Accumulates d(sum of tensors * grad_tensors)/d(leaf) into every leaf's .grad."""
    tensors = [tensors] if isinstance(tensors, Tensor) else list(tensors)
    if grad_tensors is None or isinstance(grad_tensors, Tensor):
        grad_tensors = [grad_tensors] * len(tensors) if grad_tensors is None else [grad_tensors]
    roots, grads = _roots(tensors, grad_tensors, "backward")
    _execute(roots, grads, bool(retain_graph))


def _root_grad(g, dtype):
    """The caller's gradient as the pass reads it. A contiguous numpy array of the right dtype is
    used in place through a read-only view (no copy of a possibly large array): a kernel or a hook
    that tried to write into it would raise instead of changing the caller's tensor, and a leaf's
    .grad never aliases it (AccumulateGrad copies views). Anything else is converted (a copy)."""
    if isinstance(g, np.ndarray) and g.dtype == dtype and g.flags.c_contiguous:
        g = g.view()
        g.flags.writeable = False
        return g
    return g.astype(dtype, copy=True)


def _roots(tensors, grad_tensors, op):
    roots, grads = [], []
    for t, g in zip(tensors, grad_tensors):
        if not isinstance(t, Tensor):
            raise TypeError(f"[{op}] expected Tensors, got {type(t).__name__}")
        if not t.requires_grad:
            raise RuntimeError(f"[{op}] element 0 of tensors does not require grad and does not have a grad_fn")
        if g is None:
            if t._data.size != 1:
                raise RuntimeError(f"[{op}] grad can be implicitly created only for scalar outputs; got a tensor "
                                   f"of shape {tuple(t.shape)} — pass gradient= with that shape")
            from .backend import xp
            g_arr = xp(t._data).ones_like(t._data)
        else:
            g_arr = g._data if isinstance(g, Tensor) else np.asarray(g)
            if tuple(g_arr.shape) != tuple(t._data.shape):
                raise RuntimeError(f"[{op}] gradient has shape {tuple(g_arr.shape)}, expected "
                                   f"{tuple(t._data.shape)} (the shape of the output)")
            g_arr = _root_grad(g_arr, t._data.dtype)
        roots.append(_edge(t))
        grads.append(g_arr)
    return roots, grads


def grad(outputs, inputs, grad_outputs=None, retain_graph: Optional[bool] = None, create_graph: bool = False,
         allow_unused: bool = False):
    """Returns d(outputs)/d(inputs) without touching any .grad (torch.autograd.grad)."""
    if create_graph:
        raise NotImplementedError("[autograd.grad] create_graph=True (higher-order gradients) is not supported: "
                                  "nerve's backward kernels run on arrays, outside the graph")
    outputs = [outputs] if isinstance(outputs, Tensor) else list(outputs)
    single = isinstance(inputs, Tensor)
    inputs = [inputs] if single else list(inputs)
    if grad_outputs is None or isinstance(grad_outputs, Tensor):
        grad_outputs = [grad_outputs] * len(outputs) if grad_outputs is None else [grad_outputs]
    for t in inputs:
        if not isinstance(t, Tensor) or not t.requires_grad:
            raise RuntimeError("[autograd.grad] every input must be a Tensor that requires grad")
    roots, grads = _roots(outputs, grad_outputs, "autograd.grad")
    slots = [_edge(t) for t in inputs]
    capture = {s: None for s in slots}
    _execute(roots, grads, bool(retain_graph), capture)
    result = []
    for t, s in zip(inputs, slots):
        g = capture[s]
        if g is None and not allow_unused:
            raise RuntimeError("[autograd.grad] one of the differentiated Tensors appears to not have been used in "
                               "the graph; set allow_unused=True if this is the desired behavior")
        result.append(None if g is None else Tensor._make(g.astype(t._data.dtype, copy=False), False, None, 0))
    return tuple(result)


class RemovableHandle:
    def __init__(self, hooks: list, hook):
        self._hooks, self._hook = hooks, hook

    def remove(self) -> None:
        if self._hook in self._hooks:
            self._hooks.remove(self._hook)
