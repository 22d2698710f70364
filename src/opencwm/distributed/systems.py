"""Generated distributed systems, some with an injected bug.

Six protocol kinds of 2-5 nodes, each a complete program: `RUNTIME`, the
node classes, `consistent(nodes)` (the system's safety invariant) and
`main(seed)`, whose input is the scheduler's seed. `main` returns
`(outcome, nodes)`, outcome one of
- "ok": the network went quiet, every node is done, the invariant holds;
- "deadlock": quiet, the invariant holds, but some node still waits;
- "inconsistent": the invariant is broken;
- "limit": the step budget ran out (no generated system should).

Bugs: "lost" (the network loses a message the protocol does not survive),
"quorum" (a wrong quorum size), "no-retry" (a client that never sets its
retry timer). A buggy system does not always fail: the outcome is whatever
the run under its seed gives, found by running it (`outcome`).
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass

from opencwm.distributed.runtime import RUNTIME

OUTCOMES = ("ok", "deadlock", "inconsistent", "limit")


@dataclass(frozen=True)
class System:
    kind: str
    bug: str  # "none", "lost", "quorum" or "no-retry"
    nodes: int
    code: str
    seed: int  # the scheduler's: the traced input

    @property
    def input(self) -> str:
        return str(self.seed)


MAIN = """

def main(seed):  # << START_OF_TRACE
    nodes = {nodes}
    end = Net(nodes, seed, lose={lose}).run()
    if not consistent(nodes):
        return "inconsistent", nodes
    if end == "quiet" and not all(n.done() for n in nodes):
        return "deadlock", nodes
    return ("ok" if end == "quiet" else end), nodes
"""


def _program(body: str, nodes: list[str], lose: list[tuple[str, str, str]]) -> str:
    return (
        RUNTIME
        + "\n\n"
        + body.strip("\n")
        + "\n"
        + MAIN.format(nodes="[" + ", ".join(nodes) + "]", lose=repr(lose))
    )


REQRESP = """
class Server(Node):
    def __init__(self, name, k):
        self.name = name
        self.k = k

    def on_request(self, src, x):
        self.send(src, "response", x * self.k)

    def done(self):
        return True


class Client(Node):
    def __init__(self, name, server, x):
        self.name = name
        self.server = server
        self.x = x
        self.reply = None

    def on_start(self, src):
        self.send(self.server, "request", self.x)

    def on_response(self, src, y):
        self.reply = y

    def done(self):
        return self.reply is not None


def consistent(nodes):
    server = nodes[0]
    return all(c.reply in (None, c.x * server.k) for c in nodes[1:])
"""


def reqresp(rng: random.Random, bug: str) -> tuple[str, list[str], list]:
    clients = [f"c{i}" for i in range(1, rng.randint(2, 5))]
    nodes = [f'Server("s", {rng.randint(2, 9)})']
    nodes += [f'Client("{c}", "s", {rng.randint(1, 20)})' for c in clients]
    lose = [("s", rng.choice(clients), "response")] if bug == "lost" else []
    return REQRESP, nodes, lose


RETRY = """
class Server(Node):
    def __init__(self, name, k):
        self.name = name
        self.k = k
        self.served = {}

    def on_request(self, src, x, tries):
        self.served[src] = tries
        self.send(src, "response", x * self.k)

    def done(self):
        return True


class Client(Node):
    def __init__(self, name, server, x):
        self.name = name
        self.server = server
        self.x = x
        self.tries = 0
        self.reply = None

    def on_start(self, src):
        self.ask()

    def ask(self):
        self.tries += 1
        self.send(self.server, "request", self.x, self.tries)
        self.send(self.name, "timeout", self.tries)

    def on_timeout(self, src, tries):
        if self.reply is None and tries == self.tries and self.tries < 3:
            self.ask()

    def on_response(self, src, y):
        self.reply = y

    def done(self):
        return self.reply is not None


def consistent(nodes):
    server = nodes[0]
    return all(c.reply in (None, c.x * server.k) for c in nodes[1:])
"""


def retry(rng: random.Random, bug: str) -> tuple[str, list[str], list]:
    clients = [f"c{i}" for i in range(1, rng.randint(2, 4))]
    nodes = [f'Server("s", {rng.randint(2, 9)})']
    nodes += [f'Client("{c}", "s", {rng.randint(1, 20)})' for c in clients]
    victim = rng.choice(clients)
    lose = [(victim, "s", "request")] if rng.random() < 0.5 else [("s", victim, "response")]
    code = RETRY
    if bug == "no-retry":
        code = code.replace('        self.send(self.name, "timeout", self.tries)\n', "")
    return code, nodes, lose


ELECTION = """
class Member(Node):
    def __init__(self, name, peers, candidate):
        self.name = name
        self.peers = peers
        self.candidate = candidate
        self.quorum = QUORUM
        self.term = 0
        self.voted = None
        self.votes = 0
        self.leader = None
        self.won = []

    def on_start(self, src):
        if self.candidate:
            self.campaign()

    def campaign(self):
        self.term += 1
        self.voted = self.name
        self.votes = 1
        self.win()
        for p in self.peers:
            self.send(p, "ask", self.term)
        self.send(self.name, "timeout", self.term)

    def win(self):
        if self.votes >= self.quorum and self.leader is None:
            self.leader = self.name
            self.won.append(self.term)
            for p in self.peers:
                self.send(p, "leader", self.term)

    def on_ask(self, src, term):
        if term > self.term:
            self.term = term
            self.voted = None
        granted = term == self.term and self.voted in (None, src)
        if granted:
            self.voted = src
        self.send(src, "vote", term, granted)

    def on_vote(self, src, term, granted):
        if granted and term == self.term and self.voted == self.name:
            self.votes += 1
            self.win()

    def on_leader(self, src, term):
        if term >= self.term:
            self.term = term
            self.leader = src

    def on_timeout(self, src, term):
        if self.leader is None and term == self.term:
            self.campaign()

    def done(self):
        return self.leader is not None


def consistent(nodes):
    terms = [t for n in nodes for t in n.won]
    return len(terms) == len(set(terms))
"""


def election(rng: random.Random, bug: str) -> tuple[str, list[str], list]:
    n = rng.randint(3, 5)
    names = [f"m{i}" for i in range(1, n + 1)]
    candidates = set(rng.sample(names, 2))
    quorum = "(len(peers) + 1) // 2" if bug == "quorum" else "(len(peers) + 1) // 2 + 1"
    nodes = [f'Member("{m}", {[p for p in names if p != m]!r}, {m in candidates})' for m in names]
    return ELECTION.replace("QUORUM", quorum), nodes, []


TWO_PHASE = """
class Coordinator(Node):
    def __init__(self, name, parts):
        self.name = name
        self.parts = parts
        self.needed = NEEDED
        self.yes = 0
        self.no = 0
        self.decision = None

    def on_start(self, src):
        for p in self.parts:
            self.send(p, "prepare")

    def on_vote(self, src, ok):
        if ok:
            self.yes += 1
        else:
            self.no += 1
        if self.decision is None and self.yes >= self.needed:
            self.decide("commit")
        elif self.decision is None and self.no > len(self.parts) - self.needed:
            self.decide("abort")

    def decide(self, decision):
        self.decision = decision
        for p in self.parts:
            self.send(p, "decide", decision)

    def done(self):
        return self.decision is not None


class Participant(Node):
    def __init__(self, name, ok):
        self.name = name
        self.ok = ok
        self.state = "init"

    def on_prepare(self, src):
        if self.state != "init":
            return
        self.state = "ready" if self.ok else "refused"
        self.send(src, "vote", self.ok)

    def on_decide(self, src, decision):
        self.state = decision

    def done(self):
        return self.state in ("commit", "abort")


def consistent(nodes):
    coordinator, parts = nodes[0], nodes[1:]
    return coordinator.decision != "commit" or all(p.ok for p in parts)
"""


def two_phase(rng: random.Random, bug: str) -> tuple[str, list[str], list]:
    parts = [f"p{i}" for i in range(1, rng.randint(3, 5))]
    oks = [rng.random() < 0.7 for _ in parts]
    if bug == "quorum" and all(oks):
        oks[rng.randrange(len(oks))] = False
    needed = "len(parts) // 2 + 1" if bug == "quorum" else "len(parts)"
    nodes = [f'Coordinator("c", {parts!r})']
    nodes += [f'Participant("{p}", {ok})' for p, ok in zip(parts, oks, strict=True)]
    lose = [(rng.choice(parts), "c", "vote")] if bug == "lost" else []
    return TWO_PHASE.replace("NEEDED", needed), nodes, lose


GOSSIP = """
class Peer(Node):
    def __init__(self, name, ring, fanout, rumor):
        self.name = name
        self.ring = ring
        self.fanout = fanout
        self.rumor = rumor
        self.told = False

    def on_start(self, src):
        if self.rumor is not None:
            self.spread()

    def spread(self):
        if self.told:
            return
        self.told = True
        i = self.ring.index(self.name)
        for k in range(1, self.fanout + 1):
            self.send(self.ring[(i + k) % len(self.ring)], "rumor", self.rumor)

    def on_rumor(self, src, rumor):
        if self.rumor is None:
            self.rumor = rumor
            self.spread()

    def done(self):
        return self.rumor is not None


def consistent(nodes):
    return len({n.rumor for n in nodes if n.rumor is not None}) <= 1
"""


def gossip(rng: random.Random, bug: str) -> tuple[str, list[str], list]:
    n = rng.randint(3, 5)
    ring = [f"g{i}" for i in range(1, n + 1)]
    rng.shuffle(ring)
    fanout = 1 if bug == "lost" else 2
    rumor = rng.choice(["'red'", "'blue'", "'green'", rng.randint(1, 99)])
    origin = rng.randrange(n)
    nodes = [
        f'Peer("{p}", {ring!r}, {fanout}, {rumor if i == origin else None})'
        for i, p in enumerate(ring)
    ]
    i = (origin + 1) % n  # the message to the next peer on the ring is lost
    lose = [(ring[i], ring[(i + 1) % n], "rumor")]
    return GOSSIP, nodes, lose


COUNTER = """
class Replica(Node):
    def __init__(self, name, peers, adds):
        self.name = name
        self.peers = peers
        self.adds = adds
        self.value = 0

    def on_start(self, src):
        for amount in self.adds:
            self.value += amount
            for p in self.peers:
                self.send(p, "add", amount)

    def on_add(self, src, amount):
        self.value += amount

    def done(self):
        return True


def consistent(nodes):
    return len({n.value for n in nodes}) == 1
"""


def counter(rng: random.Random, bug: str) -> tuple[str, list[str], list]:
    names = [f"r{i}" for i in range(1, rng.randint(3, 5))]
    nodes = [
        f'Replica("{r}", {[p for p in names if p != r]!r}, '
        f"{[rng.randint(1, 9) for _ in range(rng.randint(1, 2))]!r})"
        for r in names
    ]
    src, dst = rng.sample(names, 2)
    lose = [(src, dst, "add")] if bug == "lost" else []
    return COUNTER, nodes, lose


Make = Callable[[random.Random, str], tuple[str, list[str], list]]
KINDS: dict[str, tuple[Make, tuple[str, ...]]] = {
    "reqresp": (reqresp, ("lost",)),
    "retry": (retry, ("no-retry",)),
    "election": (election, ("quorum",)),
    "two-phase": (two_phase, ("quorum", "lost")),
    "gossip": (gossip, ("lost",)),
    "counter": (counter, ("lost",)),
}
"""Each kind: its generator and the bugs it can carry ("none" is always one)."""


def generate(rng: random.Random, kind: str | None = None) -> System:
    """One system drawn from `rng`: half of them carry a bug."""
    kind = kind or rng.choice(sorted(KINDS))
    make, bugs = KINDS[kind]
    bug = rng.choice(bugs) if rng.random() < 0.5 else "none"
    body, nodes, lose = make(rng, bug)
    return System(kind, bug, len(nodes), _program(body, nodes, lose), rng.randrange(1000))


def outcome(code: str, seed: int) -> tuple[str, str]:
    """Run a generated system here, untraced: (outcome, repr of its nodes).

    Our own generated code (stdlib `random` only), so it needs no sandbox;
    the traced run in the sandbox returns the same, which tests check."""
    ns: dict = {"__name__": "__program__"}
    exec(compile(code, "<system>", "exec"), ns)
    end, nodes = ns["main"](seed)
    assert end in OUTCOMES, f"main returned {end!r}"
    return end, repr(nodes)
