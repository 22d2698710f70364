class Counter:
    def __init__(self, start):
        self.n = start

    def bump(self, by=1):
        self.n += by
        return self.n

    def __repr__(self):
        return f"Counter({self.n})"


def f(start):  # << START_OF_TRACE
    c = Counter(start)
    c.bump()
    c.bump(5)
    return c


# input: "10"
