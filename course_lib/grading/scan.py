"""Static checks of a submission's exercise cell, before any of it runs.

:func:`prepare` turns the cell's source into the Python code the kernel will run (IPython's own transformation of
magics, with the harmless cell magics ``%%time``, ``%%timeit`` and ``%%capture`` unwrapped) and scans its syntax
tree. A finding is a **violation**: the exercise earns nothing, the cell is replaced by the learner stub (so that
its code never runs), and the feedback names the finding. The scan looks for:

- **the library's solution**: importing it (``from course_lib.gan.theory import optimal_discriminator``), reaching it
  as an attribute of a ``course_lib`` module (``theory.optimal_discriminator``, ``course_lib.gan.theory.kl_divergence``,
  ``ch02.anything``), or through a name the notebook binds to it (``kl_reference``, ``reference_losses``...);
  importing a module the spec forbids for this exercise (``course_lib.gan.losses`` in the losses exercise);
  ``course_lib.exercises`` and ``course_lib.grading`` are off limits to every exercise;
- **games with the interpreter**: ``eval``/``exec``/``compile``/``__import__``/``globals``/``locals``/``vars``,
  ``getattr`` and friends with a computed or dunder name (or passed around as values), dunder attributes that reach
  code or namespaces (``__code__``, ``__globals__``, ``__dict__``, ``__subclasses__``, frames...), the modules
  ``importlib``, ``ctypes``, ``gc``, ``inspect``, ``pickle``/``marshal``, ``subprocess``, ``multiprocessing``,
  ``threading``, ``asyncio``, ``signal``, ``builtins``, ``IPython``/``ipykernel``/``zmq`` (the kernel's own machinery);
  ``sys.modules``, ``sys._getframe``, ``sys.settrace``/``setprofile``; ``os._exit``, ``os.kill``, ``os.fork``,
  ``os.system`` and the ``exec``/``spawn`` family;
- **monkeypatching**: assigning to (or deleting) an attribute of a ``course_lib`` module, of ``sys`` or
  ``builtins``, or of ``torch.Tensor``/``torch.nn.Module``;
- **shell commands and other magics** (``!ls``, ``%run``, ``%%bash``...), any other use of ``get_ipython``,
  IPython's ``exit``/``quit`` (which shut the kernel down *after* the cell, so that the crash would land on another
  exercise), and any mention of the grader's own names.

The scan is a tripwire, not a proof: obfuscated code can hide from it, which is why the kernel also sets runtime
tripwires (:mod:`course_lib.grading.kernel`). It errs on the side of flagging: the feedback quotes the line, and an
instructor can read it.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, field

__all__ = ["Rules", "ScanResult", "prepare"]

ALLOWED_CELL_MAGICS = ("time", "timeit", "capture")
# no %config: its argument is evaluated as Python (and would escape the scan)
ALLOWED_LINE_MAGICS = frozenset({"time", "timeit", "matplotlib", "precision", "pinfo", "pinfo2"})
_TIMEIT_VALUED, _TIMEIT_FLAGS = set("nrpv"), set("tcqo")
BANNED_MODULES = frozenset({"importlib", "ctypes", "cffi", "gc", "inspect", "subprocess", "multiprocessing",
                            "threading", "_thread", "concurrent", "signal", "pickle", "cloudpickle", "dill",
                            "marshal", "builtins", "__builtin__", "imp", "runpy", "code", "codeop", "pty",
                            "resource", "sysconfig", "site", "types", "faulthandler", "tracemalloc", "atexit",
                            "asyncio", "IPython", "ipykernel", "jupyter_client", "zmq", "nbclient", "nbval"})
BANNED_NAMES = frozenset({"eval", "exec", "compile", "__import__", "globals", "locals", "vars", "breakpoint",
                          "__builtins__", "__loader__", "__spec__", "get_ipython", "exit", "quit"})
BANNED_ATTRS = frozenset({"__code__", "__globals__", "__closure__", "__dict__", "__builtins__", "__subclasses__",
                          "__bases__", "__base__", "__mro__", "__loader__", "__spec__", "__self__", "__func__",
                          "__wrapped__", "__getattribute__", "__setattr__", "__delattr__", "__reduce__",
                          "__reduce_ex__", "__import__", "f_back", "f_globals", "f_locals", "f_builtins", "gi_frame",
                          "tb_frame", "cr_frame", "co_code", "func_globals", "get_ipython", "user_ns",
                          "user_global_ns"})
BANNED_SYS = frozenset({"modules", "_getframe", "settrace", "setprofile", "monitoring", "meta_path", "path_hooks",
                        "addaudithook", "_current_frames"})
BANNED_OS = frozenset({"_exit", "kill", "killpg", "fork", "forkpty", "system", "popen", "abort", "setsid",
                       "register_at_fork", "posix_spawn", "posix_spawnp", "execv", "execve", "execl", "execle",
                       "execlp", "execlpe", "execvp", "execvpe", "spawnl", "spawnle", "spawnlp", "spawnlpe",
                       "spawnv", "spawnve", "spawnvp", "spawnvpe", "chroot", "symlink", "link"})
# submodules of allowed packages that start processes, fetch and run code from the network, or compile native code
BANNED_SUBMODULES = ("torch.multiprocessing", "torch.hub", "torch.utils.cpp_extension", "torch.distributed",
                     "torch.ops.load_library", "os.posix_spawn")
REFLECTION = frozenset({"getattr", "setattr", "delattr"})
GRADER_MARKERS = ("course_grade", "course_lib.grading", "course_lib.exercises")


@dataclass(frozen=True)
class Rules:
    """What one exercise's cell must not touch.

    Attributes:
        solution_names: names of the library's solution functions (``optimal_discriminator``) and of every function
            of the exercise's forbidden modules: forbidden as attributes of ``course_lib`` objects and as imported
            names.
        forbidden_modules: fully qualified modules the cell must not import (``course_lib.gan.losses``).
        forbidden_aliases: names the notebook binds to a solution or a forbidden module (``kl_reference``).
        library_aliases: names the notebook binds to anything from ``course_lib`` (``theory``, ``ch02``...): an
            attribute of one of them is checked against ``solution_names``.
        alias_targets: the dotted path each library alias stands for, so that ``theory.x`` is read as
            ``course_lib.gan.theory.x``.
    """

    solution_names: frozenset[str] = frozenset()
    forbidden_modules: frozenset[str] = frozenset()
    forbidden_aliases: frozenset[str] = frozenset()
    library_aliases: frozenset[str] = frozenset()
    alias_targets: tuple[tuple[str, str], ...] = ()  # (name, what it is: "course_lib.gan.theory", ...)


@dataclass
class ScanResult:
    """The code to run (``None`` when it does not parse), what the scan found, and the names the code reads."""

    code: str | None
    violations: list[str] = field(default_factory=list)
    syntax_error: str | None = None
    uses: set[str] = field(default_factory=set)
    defines: set[str] = field(default_factory=set)


def _unwrap_cell_magic(source: str) -> tuple[str, int, str | None]:
    """Drop a leading ``%%time``-like line; return (source, lines dropped, name of a refused cell magic)."""
    lines = source.split("\n")
    first = next((i for i, line in enumerate(lines) if line.strip()), None)
    if first is None or not lines[first].lstrip().startswith("%%"):
        return source, 0, None
    name = lines[first].lstrip()[2:].split()[0] if lines[first].lstrip()[2:].split() else ""
    if name in ALLOWED_CELL_MAGICS:
        return "\n".join(lines[first + 1:]), first + 1, None
    return source, 0, name


def _transform(source: str) -> str:
    from IPython.core.inputtransformer2 import TransformerManager

    return TransformerManager().transform_cell(source)


def _root_name(node: ast.AST) -> str | None:
    while isinstance(node, (ast.Attribute, ast.Subscript, ast.Call)):
        node = node.value if not isinstance(node, ast.Call) else node.func
    return node.id if isinstance(node, ast.Name) else None


def _dotted(node: ast.AST) -> str | None:
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        parts.append(node.id)
        return ".".join(reversed(parts))
    return None


class _Scanner(ast.NodeVisitor):
    def __init__(self, rules: Rules, offset: int) -> None:
        self.rules = rules
        self.offset = offset
        self.found: list[str] = []
        self.library = set(rules.library_aliases) | {"course_lib"}
        self.targets = dict(rules.alias_targets)
        self.sys_names = {"sys"}
        self.os_names = {"os"}
        self.uses: set[str] = set()
        self.direct_calls: set[ast.AST] = set()  # getattr-like names called directly (their arguments are checked)

    def flag(self, node: ast.AST, what: str) -> None:
        line = getattr(node, "lineno", 0) + self.offset
        message = f"line {line}: {what}"
        if message not in self.found:
            self.found.append(message)

    # imports -----------------------------------------------------------------------------------------------------
    def _check_module(self, node: ast.AST, module: str, exact: bool = False) -> None:
        top = module.split(".")[0]
        if top in BANNED_MODULES or any(module == m or module.startswith(m + ".") for m in BANNED_SUBMODULES):
            self.flag(node, f"imports {module}, which the grader does not allow in an exercise cell")
        if module.startswith(("course_lib.exercises", "course_lib.grading")) and not exact:
            self.flag(node, f"imports {module} (the checks and the grader are off limits)")
        if any(module == m or (not exact and module.startswith(m + ".")) for m in self.rules.forbidden_modules):
            self.flag(node, f"imports {module}, the library module that holds this exercise's solution")

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            self._check_module(node, alias.name)
            bound = alias.asname or alias.name.split(".")[0]
            if alias.name.split(".")[0] == "course_lib":
                self.library.add(bound)
                self.targets[bound] = alias.name if alias.asname else "course_lib"
            if alias.name == "sys":
                self.sys_names.add(bound)
            if alias.name == "os":
                self.os_names.add(bound)

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        module = node.module or ""
        if node.level:
            self.flag(node, "uses a relative import")
        self._check_module(node, module)
        for alias in node.names:
            full = f"{module}.{alias.name}"
            if alias.name == "*":
                if module.startswith("course_lib"):
                    self.flag(node, f"imports * from {module}")
                continue
            if module.startswith("course_lib"):
                self._check_module(node, full, exact=True)  # `from course_lib.gan import theory`
                self.library.add(alias.asname or alias.name)
                self.targets[alias.asname or alias.name] = full
                if alias.name in self.rules.solution_names:
                    self.flag(node, f"imports {alias.name} from {module}: the library's solution of this exercise")
            if module == "os" and alias.name in BANNED_OS:
                self.flag(node, f"imports os.{alias.name}")
            if module == "sys" and alias.name in BANNED_SYS:
                self.flag(node, f"imports sys.{alias.name}")
        self.generic_visit(node)

    # names and attributes ------------------------------------------------------------------------------------------
    def visit_Name(self, node: ast.Name) -> None:
        self.uses.add(node.id)
        if any(marker in node.id for marker in ("course_grade",)):
            self.flag(node, f"uses the grader's name {node.id}")
        if isinstance(node.ctx, ast.Load):
            if node.id in BANNED_NAMES:
                self.flag(node, f"uses {node.id}()")
            if node.id in REFLECTION and node not in self.direct_calls:
                self.flag(node, f"passes {node.id} around (reflection with computed names)")
            if node.id in self.rules.forbidden_aliases:
                self.flag(node, f"uses {node.id}, the notebook's name for the library's solution")

    def visit_Attribute(self, node: ast.Attribute) -> None:
        root = _root_name(node)
        if node.attr in BANNED_ATTRS:
            self.flag(node, f"uses the attribute {node.attr}")
        if "course_grade" in node.attr:
            self.flag(node, f"uses the grader's name {node.attr}")
        if root is not None and root in self.library and node.attr in self.rules.solution_names:
            self.flag(node, f"uses {_dotted(node) or node.attr}, the library's solution of this exercise")
        plain = _dotted(node)
        if plain is not None and any(plain == m or plain.startswith(m + ".") for m in BANNED_SUBMODULES):
            self.flag(node, f"uses {plain}, which the grader does not allow in an exercise cell")
        dotted = self._resolve(plain)
        if dotted is not None and (dotted in self.rules.forbidden_modules
                                   or dotted.startswith(("course_lib.exercises", "course_lib.grading"))):
            self.flag(node, f"uses {dotted}, which is off limits in this exercise")
        if isinstance(node.value, ast.Name):
            if node.value.id in self.sys_names and node.attr in BANNED_SYS:
                self.flag(node, f"uses sys.{node.attr}")
            if node.value.id in self.os_names and node.attr in BANNED_OS:
                self.flag(node, f"uses os.{node.attr}")
        if isinstance(node.ctx, (ast.Store, ast.Del)):
            self._check_store(node)
        self.generic_visit(node)

    def _resolve(self, dotted: str | None) -> str | None:
        """``theory.x`` -> ``course_lib.gan.theory.x`` when ``theory`` is a known library alias."""
        if dotted is None:
            return None
        head, _, rest = dotted.partition(".")
        target = self.targets.get(head)
        return dotted if target is None else (f"{target}.{rest}" if rest else target)

    def _check_store(self, node: ast.Attribute) -> None:
        root = _root_name(node)
        dotted = _dotted(node) or node.attr
        if root in self.library or root in self.sys_names or root in ("builtins", "__builtins__"):
            self.flag(node, f"assigns to {dotted} (monkeypatching)")
        base = _dotted(node.value) or ""
        if base.endswith(("Tensor", "nn.Module")) and base.split(".")[0] in ("torch", "nn", "Tensor"):
            self.flag(node, f"assigns to {dotted} (monkeypatching torch)")

    def visit_Assign(self, node: ast.Assign) -> None:
        # `x = theory` or `x = course_lib.gan` makes x another name for (part of) the library
        if isinstance(node.value, (ast.Name, ast.Attribute)) and _root_name(node.value) in self.library:
            resolved = self._resolve(_dotted(node.value))
            for target in node.targets:
                if isinstance(target, ast.Name):
                    self.library.add(target.id)
                    if resolved is not None:
                        self.targets[target.id] = resolved
        self.generic_visit(node)

    def visit_Call(self, node: ast.Call) -> None:
        func = node.func
        if isinstance(func, ast.Name) and func.id in REFLECTION:
            self.direct_calls.add(func)
        if isinstance(func, ast.Name) and func.id in REFLECTION and len(node.args) >= 2:
            name = node.args[1]
            if not (isinstance(name, ast.Constant) and isinstance(name.value, str)):
                self.flag(node, f"calls {func.id} with a computed attribute name")
            elif name.value.startswith("__") or name.value in self.rules.solution_names:
                self.flag(node, f"calls {func.id}(..., {name.value!r})")
            else:
                self._check_reflection(node, func.id, node.args[0], name.value)
        if isinstance(func, ast.Attribute) and isinstance(func.value, ast.Call) and \
                isinstance(func.value.func, ast.Name) and func.value.func.id == "get_ipython" and \
                not func.value.args and not func.value.keywords:
            self._check_magic(node, func.attr)  # a magic as IPython writes it: judged here, not as get_ipython()
            for child in [*node.args, *node.keywords]:
                self.visit(child)
            return
        self.generic_visit(node)

    def _check_reflection(self, node: ast.Call, how: str, target: ast.AST, attr: str) -> None:
        """``getattr(os, "fork")`` is ``os.fork``, ``setattr(theory, "x", v)`` is ``theory.x = v``: the same rules."""
        if isinstance(target, ast.Name):
            if target.id in self.os_names and attr in BANNED_OS:
                self.flag(node, f"uses os.{attr} (through {how})")
            if target.id in self.sys_names and attr in BANNED_SYS:
                self.flag(node, f"uses sys.{attr} (through {how})")
        base = _dotted(target)
        if base is not None and any(f"{base}.{attr}" == m or f"{base}.{attr}".startswith(m + ".")
                                    for m in BANNED_SUBMODULES):
            self.flag(node, f"uses {base}.{attr} (through {how}), which the grader does not allow")
        if how in ("setattr", "delattr"):
            root = _root_name(target)
            if root in self.library or root in self.sys_names or root in ("builtins", "__builtins__", "torch", "nn",
                                                                          "F", "Tensor"):
                self.flag(node, f"{how} on {base or root} (monkeypatching)")

    def _check_magic(self, node: ast.Call, method: str) -> None:
        if method in ("system", "getoutput"):
            self.flag(node, "runs a shell command")
            return
        name = node.args[0].value if node.args and isinstance(node.args[0], ast.Constant) else None
        if method == "run_line_magic" and name in ALLOWED_LINE_MAGICS:
            return  # %time / %timeit bodies are scanned by visit_Constant below (they are code strings)
        self.flag(node, f"uses the IPython magic %{name or '?'}")

    def visit_Constant(self, node: ast.Constant) -> None:
        if isinstance(node.value, str):
            text = node.value
            if any(marker in text for marker in GRADER_MARKERS):
                self.flag(node, "mentions the grader or the checks in a string")
            if text in self.rules.solution_names or text in self.rules.forbidden_modules:
                self.flag(node, f"names {text!r} in a string")


def free_names(code: str) -> set[str]:
    """The global names ``code`` reads: at module level, and inside functions and classes where they are not bound
    locally (``symtable``'s view, so a function's own parameters and locals are not counted)."""
    import symtable

    table = symtable.symtable(code, "<cell>", "exec")
    out: set[str] = set()
    todo = [table]
    while todo:
        scope = todo.pop()
        for symbol in scope.get_symbols():
            if not symbol.is_referenced():
                continue
            if scope.get_type() == "module" or symbol.is_global() or (symbol.is_free() and scope.get_type() == "class"):
                out.add(symbol.get_name())
        todo.extend(scope.get_children())
    return out


def _top_level_defines(tree: ast.Module) -> set[str]:
    names: set[str] = set()
    for stmt in tree.body:
        if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(stmt.name)
        elif isinstance(stmt, (ast.Import, ast.ImportFrom)):
            for alias in stmt.names:
                names.add((alias.asname or alias.name).split(".")[0])
        else:
            for node in ast.walk(stmt):
                if isinstance(node, ast.Name) and isinstance(node.ctx, (ast.Store, ast.Del)):
                    names.add(node.id)
    return names


def _line_magic_bodies(tree: ast.AST) -> list[str]:
    """The code strings of ``%time``/``%timeit`` line magics (scanned like the rest of the cell)."""
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and \
                node.func.attr == "run_line_magic" and len(node.args) >= 2 and \
                all(isinstance(a, ast.Constant) and isinstance(a.value, str) for a in node.args[:2]) and \
                node.args[0].value in ("time", "timeit"):
            body = node.args[1].value
            out.append(_timeit_statement(body) if node.args[0].value == "timeit" else body)
    return out


def _timeit_statement(line: str) -> str:
    """The statement of a ``%timeit`` line without its options (``-n 3 -r 1``, ``-n3``, ``-q -o``...)."""
    rest = line.lstrip()
    while rest.startswith("-") and len(rest) > 1 and rest[1] in _TIMEIT_VALUED | _TIMEIT_FLAGS:
        flags = rest[1:].split(None, 1)
        token, rest = flags[0], (flags[1] if len(flags) > 1 else "")
        for k, ch in enumerate(token):
            if ch in _TIMEIT_VALUED:
                if k == len(token) - 1:  # the value is the next word
                    parts = rest.split(None, 1)
                    rest = parts[1] if len(parts) > 1 else ""
                break
            if ch not in _TIMEIT_FLAGS:
                return line  # not an option after all: scan the line as it is
        rest = rest.lstrip()
    return rest


def prepare(source: str, rules: Rules) -> ScanResult:
    """Transform a submission's exercise cell into the code to run, and scan it (see the module docstring)."""
    unwrapped, offset, refused = _unwrap_cell_magic(source)
    if refused is not None:
        return ScanResult(None, [f"line 1: uses the cell magic %%{refused}"])
    try:
        code = _transform(unwrapped)
        tree = ast.parse(code)
    except SyntaxError as err:
        line = (err.lineno or 0) + offset
        return ScanResult(None, syntax_error=f"SyntaxError at line {line}: {err.msg}")
    except Exception as err:  # IPython's transformer can fail on odd input
        return ScanResult(None, syntax_error=f"the cell cannot be read ({type(err).__name__}: {err})")
    scanner = _Scanner(rules, offset)
    scanner.visit(tree)
    for body in _line_magic_bodies(tree):
        try:
            scanner.visit(ast.parse(body))
        except SyntaxError:
            scanner.found.append("a %time/%timeit line does not parse")
    try:
        uses = free_names(code)
    except SyntaxError:  # symtable is stricter than ast in a few corners: fall back to every name read
        uses = scanner.uses
    return ScanResult(code, scanner.found, None, uses, _top_level_defines(tree))


def names_used(source: str) -> tuple[set[str], set[str]] | None:
    """(names read, names bound at top level) by a trusted cell of the reference, ``None`` if it does not parse.

    Used to decide which of the reference notebook's cells the graded notebook needs.
    """
    try:
        code = _transform(source)
        tree = ast.parse(code)
        uses = free_names(code)
    except Exception:  # noqa: BLE001 - a cell that cannot be analysed is kept whole by the caller
        return None
    return uses, _top_level_defines(tree)
