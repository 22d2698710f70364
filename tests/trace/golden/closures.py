def make_adder(k):
    def add(x):
        return x + k

    return add


def f(xs):  # << START_OF_TRACE
    add3 = make_adder(3)
    return [add3(x) for x in xs]


# input: "[1, 2]"
