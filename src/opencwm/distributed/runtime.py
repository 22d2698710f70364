"""The message-passing runtime that generated systems embed in their text.

A traced program must be its whole context, so the runtime is not imported:
`RUNTIME` is pasted at the top of every generated program, and kept short
for the same reason (every byte of it is in every training context).

Semantics, all in `Net`:
- a node is an object with a `name`; nodes talk only by
  `send(dst, kind, *args)`; a delivered message calls the receiver's
  `on_KIND(src, *args)`; a node with `on_start` gets a "start" message;
- the next message delivered is drawn among those in flight by
  `random.Random(seed)`: the seed is the interleaving, and the trace's
  `recv` frames record every choice it made;
- a message a node sends itself is a timer: it fires only once nothing else
  is in flight (a timeout is "nothing arrived");
- `lose` lists messages the network drops, as (src, dst, kind), once each;
- `run` ends "quiet" (nothing left to deliver) or "limit" (step budget).

Program code must not repeat a runtime `def` line (the decoder of CWM text
places frames by their text), hence no `Node.__init__` or `on_start`.
The classes carry `# opencwm: runtime` on their `class` line: the recorder
does not trace their code (it is the operating system, not the program) but
turns each `Net.send` into a `send` frame and each `Net.deliver` into a
`recv` frame. The program runs the same without opencwm.
"""

from __future__ import annotations

RUNTIME_MARK = "# opencwm: runtime"
"""Ends the `class` line of runtime code the recorder treats as opaque."""

MESSAGE_CALLS = {"Net.send": "send", "Net.deliver": "recv"}
"""Runtime methods whose calls are message events (qualified names)."""

RUNTIME = """\
import random


class Net:  # opencwm: runtime
    def __init__(self, nodes, seed, lose=()):
        self.nodes = {n.name: n for n in nodes}
        self.rng = random.Random(seed)
        self.lose = list(lose)
        self.flight = [(n.name, n.name, ("start",)) for n in nodes if hasattr(n, "on_start")]
        self.timers = []
        for n in nodes:
            n.net = self

    def send(self, src, dst, msg):
        if (src, dst, msg[0]) in self.lose:
            self.lose.remove((src, dst, msg[0]))
        elif src == dst:
            self.timers.append((src, dst, msg))
        else:
            self.flight.append((src, dst, msg))

    def deliver(self, src, dst, msg):
        getattr(self.nodes[dst], "on_" + msg[0])(src, *msg[1:])

    def run(self, steps=400):
        for _ in range(steps):
            queue = self.flight or self.timers
            if not queue:
                return "quiet"
            self.deliver(*queue.pop(self.rng.randrange(len(queue))))
        return "limit"


class Node:  # opencwm: runtime
    def send(self, dst, kind, *args):
        self.net.send(self.name, dst, (kind, *args))

    def __repr__(self):
        state = ", ".join(f"{k}={v!r}" for k, v in vars(self).items() if k != "net")
        return f"{type(self).__name__}({state})"
"""
