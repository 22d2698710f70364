"""`opencwm debug FILE`: a pdb-style REPL over a `Session`.

A thin `cmd.Cmd`, as pdb is over bdb: each `do_*` calls one session method
and draws the result; its docstring is its `help`. pdb's letters work
(s, n, r, c, b, cl, p, w, l, q) beside `back`, `set`, `reset` and `truth`.
Errors are one line starting `***`, as in pdb, and never end the session.
In a concurrent program each frame names its actor (`[3] r1 · on_add:57`),
a message is drawn `a ──msg──▶ b`, `where` shows every actor's stack, and
`lanes` draws the latest frames one column per actor.
"""

from __future__ import annotations

import cmd
import os
from pathlib import Path

from rich.console import Console
from rich.text import Text

from opencwm.debug.session import FrameView, Moved, Session
from opencwm.debug.worlds import DebugError
from opencwm.trace.frame import MESSAGE_EVENTS
from opencwm.trace.view import lanes_table, message_text
from opencwm.world.backends import BackendError

RAW_SHOWN = 300
"""Characters of an unparsable model answer shown."""
LANES_SHOWN = 12
"""Frames `lanes` draws without an argument."""


def default_history() -> Path:
    """Where the command history is kept between sessions."""
    state = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(state) / "opencwm" / "debug_history"


class DebuggerRepl(cmd.Cmd):
    prompt = "(cwm) "
    doc_header = "Commands (help COMMAND for more):"

    def __init__(
        self,
        session: Session,
        console: Console | None = None,
        history: Path | None = None,
        stdin=None,
        stdout=None,
    ) -> None:
        super().__init__(stdin=stdin, stdout=stdout)
        self.session = session
        self.console = console or Console(highlight=False)
        self.history = history
        self.lastcmd = ""

    # ---- output ---------------------------------------------------------------

    def message(self, text: str | Text) -> None:
        """Plain strings are text, never rich markup (values hold brackets)."""
        self.console.print(Text(text) if isinstance(text, str) else text)

    def error(self, text: str) -> None:
        self.console.print(Text(f"*** {text}", style="bold red"))

    def show(self, moved: Moved | None = None) -> None:
        """The current frame: where, its line, what changed; with truth on,
        what the real run has instead."""
        s = self.session
        if s.invalid is not None:
            raw = s.invalid.raw
            raw = raw if len(raw) <= RAW_SHOWN else raw[:RAW_SHOWN] + "…"
            self.console.print(
                Text.assemble(
                    ("✗ invalid frame from the model: ", "bold red"),
                    (s.invalid.error or "no frame", "red"),
                )
            )
            self.console.print(Text(f"  raw: {raw!r}", style="red"))
            self.console.print(
                Text("  step again to resample it, or back / reset / set", style="dim")
            )
        views = s.views()
        if views and (moved is None or moved.added or s.invalid is None):
            self._show_frame(views[-1])
        if moved is not None and moved.why == "breakpoint":
            self.message(Text(f"breakpoint at line {s.current.line}", style="bold magenta"))
        elif moved is not None and moved.why not in ("", "ended", "invalid", "breakpoint"):
            self.message(Text(moved.why, style="yellow"))
        if s.ended:
            self.message(Text(f"--the execution ended: {s.ending()}--", style="bold green"))

    def _show_frame(self, v: FrameView) -> None:
        f = v.frame
        off = v.disagreement
        head = Text(f"[{v.index}] ", style="dim")
        if f.actor is not None:
            head.append(f"{f.actor} · ", style="bold magenta")
        if f.event in MESSAGE_EVENTS:
            head.append(f.event, style="magenta")
            if off is not None and off:
                head.append(f"  ✗ real: {v.real.event} {message_text(v.real)}", style="bold red")
            self.console.print(head)
            self.console.print(Text(f"     {message_text(f)}", style="bold magenta"))
            return
        head.append(f"{f.func}:{f.line}", style="cyan")
        head.append(f"  {f.event}", style={"return": "green", "exception": "red"}.get(f.event, ""))
        if off is not None and (off.line or off.event):
            head.append(f"  ✗ real: {v.real.event} at line {v.real.line}", style="bold red")
        if v.counterfactual:
            head.append("  (counterfactual: the real run never had this state)", style="yellow")
        self.console.print(head)
        line = Text(f"{f.line:>4} -> ", style="bold")
        line.append(
            f.source, style="bold reverse" if f.line in self.session.breakpoints else "bold"
        )
        self.console.print(line)
        if f.arg is not None:
            value = Text(f"     {'→' if f.event == 'return' else '!'} {f.arg}", style="green")
            if off is not None and off.arg:
                value.append(f"  ✗ real: {v.real.arg}", style="bold red")
            self.console.print(value)
            return
        names = list(v.changed)
        names += [n for n in (off.names if off else ()) if n not in names]
        for name in names:
            shown = f.locals.get(name, "∅ (not a local)")
            out = Text(f"     {name} = {shown}", style="bold yellow" if name in v.changed else "")
            if off is not None and name in off.names:
                real = v.real.locals.get(name, "∅ (not a local)")
                out.append(f"  ✗ real: {real}", style="bold red")
            self.console.print(out)

    # ---- the loop -------------------------------------------------------------

    def preloop(self) -> None:
        if self.history is None:
            return
        try:
            import readline

            if self.history.exists():
                readline.read_history_file(self.history)
        except (ImportError, OSError):
            pass

    def postloop(self) -> None:
        if self.history is None:
            return
        try:
            import readline

            self.history.parent.mkdir(parents=True, exist_ok=True)
            readline.set_history_length(1000)
            readline.write_history_file(self.history)
        except (ImportError, OSError):
            pass

    def onecmd(self, line: str) -> bool:
        try:
            return super().onecmd(line)
        except DebugError as exc:
            self.error(str(exc))
        except BackendError as exc:
            self.error(f"{exc}; nothing changed: repeat the command to retry")
        except KeyboardInterrupt:
            self.error("interrupted; the frames so far are kept")
            self.show()
        return False

    def default(self, line: str) -> None:
        self.error(f"unknown command {line.split()[0]!r}; `help` lists them")

    def run(self) -> None:
        """The loop, Ctrl-C at the prompt included (it does not quit)."""
        self.show()
        while True:
            try:
                self.cmdloop()
                return
            except KeyboardInterrupt:
                self.console.print("--KeyboardInterrupt--")

    def _move(self, moved: Moved) -> None:
        self.show(moved)

    # ---- commands: moves --------------------------------------------------------

    def do_step(self, arg: str) -> None:
        """s(tep)
        Step into: the next frame, into a call if there is one."""
        self._move(self.session.step())

    def do_next(self, arg: str) -> None:
        """n(ext)
        Step over: to the next line of this function (or its return); a call
        on the way is answered by the callee's return value alone."""
        self._move(self.session.next())

    def do_return(self, arg: str) -> None:
        """r(eturn) | out
        Step out: over the rest of this function, to its return."""
        self._move(self.session.out())

    def do_continue(self, arg: str) -> None:
        """c(ont(inue))
        Run until a breakpoint or the end of the execution."""
        self._move(self.session.cont())

    def do_back(self, arg: str) -> None:
        """back
        Undo the last frame, or the last `set` (frames are the state)."""
        undone = self.session.back()
        self.message(Text(f"undid the last {undone}", style="dim"))
        self.show()

    # ---- commands: breakpoints ---------------------------------------------------

    def do_break(self, arg: str) -> None:
        """b(reak) [LINE | FUNCTION]
        Stop `continue` at LINE, or where FUNCTION is called; without an
        argument, list the breakpoints."""
        if not arg.strip():
            lines = sorted(self.session.breakpoints)
            self.message(
                "breakpoints: " + ", ".join(map(str, lines)) if lines else "no breakpoints"
            )
            return
        line = self.session.add_break(arg)
        self.message(f"breakpoint at line {line}: {self.session.lines[line - 1].strip()}")

    def do_clear(self, arg: str) -> None:
        """cl(ear) [LINE]
        Remove the breakpoint at LINE; without an argument, all of them."""
        gone = self.session.clear_break(arg or None)
        self.message(
            "cleared breakpoints at " + ", ".join(map(str, gone)) if gone else "no breakpoints"
        )

    # ---- commands: reading -----------------------------------------------------

    def do_print(self, arg: str) -> None:
        """p(rint) [VAR]
        The value of VAR in the current frame; without VAR, all locals."""
        values = self.session.values(arg.strip() or None)
        if not values:
            self.message("no locals")
        for name, value in values.items():
            self.console.print(Text(f"{name} = {value}"))

    def do_where(self, arg: str) -> None:
        """w(here) | bt
        The call stack, outermost first; > marks the current frame. In a
        concurrent program, every actor's stack, the current actor's marked *."""
        stacks = self.session.stacks()
        cur = self.session.current
        mine = cur.actor if cur is not None else None
        for actor, stack in stacks.items():
            if actor is not None:
                star = "*" if actor == mine else " "
                self.console.print(Text(f"{star} {actor}", style="bold magenta"))
            pad = "" if actor is None else "    "
            for i, e in enumerate(stack):
                mark = ">" if i == len(stack) - 1 and actor == mine else " "
                self.console.print(Text(f"{pad}{mark} {e.func}:{e.line}  {e.source.strip()}"))
            if actor is not None and not stack:
                self.console.print(Text(f"{pad}  (no activation yet)", style="dim"))

    def do_lanes(self, arg: str) -> None:
        """lanes [N]
        The latest N frames (default 12) one column per actor, messages as
        a ──msg──▶ b; the current frame highlighted."""
        try:
            n = int(arg) if arg.strip() else LANES_SHOWN
        except ValueError:
            raise DebugError(f"expected a number of frames, got {arg.strip()!r}") from None
        frames = self.session.frames
        if not any(f.actor is not None for f in frames):
            raise DebugError("no actors here: lanes are for concurrent programs (see `where`)")
        start = max(0, len(frames) - max(n, 1))
        self.console.print(lanes_table(frames, start=start, current=len(frames) - 1))

    def do_list(self, arg: str) -> None:
        """l(ist) [LINE]
        Source around LINE (default: the current line); -> marks the current
        line, B a breakpoint."""
        around = None
        if arg.strip():
            try:
                around = int(arg)
            except ValueError:
                raise DebugError(f"expected a line number, got {arg.strip()!r}") from None
        cur = self.session.current.line if self.session.current is not None else None
        for n, text in self.session.listing(around):
            mark = ("B" if n in self.session.breakpoints else " ") + ("->" if n == cur else "  ")
            self.console.print(
                Text(f"{n:>4} {mark} {text}", style="bold" if n == cur else ""), soft_wrap=True
            )

    # ---- commands: counterfactuals and worlds -------------------------------------

    def do_set(self, arg: str) -> None:
        """set VAR = EXPR
        Give VAR the value of the Python literal EXPR in the current frame;
        the prediction continues from the edited state (`back` undoes it)."""
        name, eq, expr = arg.partition("=")
        if not eq or not name.strip() or not expr.strip():
            raise DebugError("usage: set VAR = EXPR, e.g. set n = 5")
        value = self.session.set_value(name, expr)
        self.message(Text(f"{name.strip()} = {value}", style="bold yellow"))

    def do_reset(self, arg: str) -> None:
        """reset [ARGS]
        Start again: on ARGS (e.g. reset [3, 1]); without, resample a new
        execution (the model invents the arguments if none were given)."""
        self.message(self.session.reset(arg or None))
        self.show()

    def do_truth(self, arg: str) -> None:
        """truth on|off
        Run the real program alongside and mark (✗) every line and value
        where the imagined execution disagrees with it."""
        word = arg.strip().lower()
        if word not in ("on", "off"):
            raise DebugError("usage: truth on | truth off")
        self.message(self.session.set_truth(word == "on"))
        if word == "on":
            self.show()

    def do_quit(self, arg: str) -> bool:
        """q(uit)
        Leave the debugger."""
        return True

    def do_EOF(self, arg: str) -> bool:
        """Ctrl-D: leave the debugger."""
        self.console.print()
        return True

    do_s = do_step
    do_n = do_next
    do_r = do_out = do_return
    do_c = do_cont = do_continue
    do_b = do_break
    do_cl = do_clear
    do_p = do_print
    do_w = do_bt = do_where
    do_l = do_list
    do_ln = do_lanes
    do_q = do_exit = do_quit
